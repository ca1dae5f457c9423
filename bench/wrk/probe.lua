-- A steady probe: each connection waits $DELAY_MS between requests, so the
-- probe measures latency without adding load of its own.
local delay_ms = tonumber(os.getenv("DELAY_MS") or "10")
function delay()
  return delay_ms
end
