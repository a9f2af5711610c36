-- wrk script: POST /v1/apply_async echo, each of wrk's 2 threads stopping
-- after JOBS / 2 answers (JOBS from the environment, 1,000,000 without).
wrk.method = "POST"
wrk.body = '{"func":"echo","args":[1]}'
wrk.headers["Content-Type"] = "application/json"

function setup(thread)
    thread:set("per", math.ceil(tonumber(os.getenv("JOBS") or "1000000") / 2))
end

function init(args)
    seen = 0
end

function response(status, headers, body)
    seen = seen + 1
    if seen >= tonumber(per) then
        wrk.thread:stop()
    end
end
