-- Registrations with a unique email per request ($RUN keeps runs apart).
dofile("bench/wrk/threads.lua")

function init(args)
  sent = 0
  run = os.getenv("RUN") or "run"
end
function request()
  sent = sent + 1
  local body = string.format(
    '{"email":"bench-%s-%d-%d@example.com","password":"correct horse battery staple","full_name":"Bench User"}',
    run, index, sent)
  return wrk.format("POST", "/api/auth/register/", { ["Content-Type"] = "application/json" }, body)
end
