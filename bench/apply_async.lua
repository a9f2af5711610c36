-- wrk script: POST /v1/apply_async with {"func":"echo","args":[1]}
wrk.method = "POST"
wrk.body = '{"func":"echo","args":[1]}'
wrk.headers["Content-Type"] = "application/json"
