-- wrk script for the soak: sync apply and map, mixed, and a count of the
-- answers by status, summed over wrk's threads at the end.
local bodies = {
    {"/v1/apply", '{"func":"echo","args":[1]}'},
    {"/v1/apply", '{"func":"pow","args":[3,7]}'},
    {"/v1/map", '{"func":"fib","iterable":[10,20,30,40,50],"chunksize":2}'},
    {"/v1/starmap", '{"func":"pow","iterable":[[2,3],[3,4],[5,6]]}'},
    {"/v1/apply", '{"func":"sleep","args":[0.5],"timeout":0.1}'},  -- 504, expected
}
local threads = {}

function setup(thread)
    table.insert(threads, thread)
end

function init(args)
    counts = {}
    n = 0
end

function request()
    n = n + 1
    local b = bodies[(n % #bodies) + 1]
    -- the timed-out call ends its worker: one in 200, not one in 5
    if b[1] == "/v1/apply" and b[2]:find("sleep") and n % 200 ~= 199 then
        b = bodies[1]
    end
    return wrk.format("POST", b[1], {["Content-Type"] = "application/json"}, b[2])
end

function response(status, headers, body)
    counts[status] = (counts[status] or 0) + 1
end

function done(summary, latency, requests)
    local total = {}
    for _, t in ipairs(threads) do
        for status, c in pairs(t:get("counts")) do
            total[status] = (total[status] or 0) + c
        end
    end
    for status, c in pairs(total) do
        io.write(string.format("status %d %d\n", status, c))
    end
end
