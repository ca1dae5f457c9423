-- POST $BODY as fast as possible and count the answers: 429 is what a
-- throttled flood expects, anything else is an error.
dofile("bench/wrk/threads.lua")
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = os.getenv("BODY")

function init(args)
  throttled, other = 0, 0
end
function response(status, headers, body)
  if status == 429 then throttled = throttled + 1 else other = other + 1 end
end
function done(summary, latency, requests)
  io.write(string.format("answers: 429=%d other=%d\n",
    sum_over_threads("throttled"), sum_over_threads("other")))
end
