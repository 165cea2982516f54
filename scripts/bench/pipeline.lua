-- wrk script: DEPTH pipelined requests per write (TechEmpower plaintext style).
--   wrk -c50 -d5s --latency -s scripts/bench/pipeline.lua http://127.0.0.1:PORT/plaintext -- 16
-- wrk parses the string returned by request() once at start-up, counts the
-- requests in it (its `pipeline` depth), writes the whole string in one write
-- and waits for that many responses before writing again. Its "N requests"
-- counts responses, so it is already the number of requests served; its
-- latency is per batch (write of DEPTH requests to the last response).
init = function(args)
    local depth = tonumber(args[1]) or 16
    local r = {}
    for i = 1, depth do
        r[i] = wrk.format(nil, nil, {["Host"] = wrk.host .. ":" .. wrk.port})
    end
    req = table.concat(r)
end

request = function()
    return req
end
