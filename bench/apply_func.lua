-- wrk script: POST /v1/apply of FUNC (an environment variable; echo when
-- unset) with args [1].
wrk.method = "POST"
wrk.body = '{"func":"' .. (os.getenv("FUNC") or "echo") .. '","args":[1]}'
wrk.headers["Content-Type"] = "application/json"
