-- Refresh chains: run with as many threads as connections (-tN -cN), so
-- each thread's one connection follows its own rotation. Thread i starts
-- from line i of the file $TOKENS (one refresh token per line) and sends
-- each answer's new refresh token next; a refusal breaks its chain.
dofile("bench/wrk/threads.lua")

function init(args)
  local line = 0
  for text in io.lines(os.getenv("TOKENS")) do
    line = line + 1
    if line == index then token = text end
  end
  rotated, refused = 0, 0
end
function request()
  return wrk.format("POST", "/api/auth/token/refresh/",
    { ["Content-Type"] = "application/json" }, '{"refresh":"' .. token .. '"}')
end
function response(status, headers, body)
  local next_token = status == 200 and body:match('"refresh":"([^"]+)"')
  if next_token then
    token, rotated = next_token, rotated + 1
  else
    refused = refused + 1
  end
end
function done(summary, latency, requests)
  io.write(string.format("chains: rotated=%d refused=%d\n",
    sum_over_threads("rotated"), sum_over_threads("refused")))
end
