#!/usr/bin/env bash
# Quick throughput figures for `authd serve` on SQLite, on loopback:
# /healthz, token/verify, GET /me and login (requests/s and latency), then
# /healthz latency while logins saturate the hashing pool.
#
# Usage: bench/serve.sh [SECONDS]   (default 10 s per workload; needs wrk)
# With REDIS_URL set, the throttled login flood also runs against a second
# server whose throttle is on that Redis (keys under a throwaway prefix).
# Every run is bounded: wrk stops after SECONDS, and the server is stopped
# on exit. Only 127.0.0.1 is targeted.
set -euo pipefail
cd "$(dirname "$0")/.."

seconds="${1:-10}"
command -v wrk >/dev/null || { echo "bench/serve.sh needs wrk (apt-get install wrk)" >&2; exit 2; }
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/authd-target}"
cargo build --release --quiet
authd="$CARGO_TARGET_DIR/release/authd"

work="$(mktemp -d)"
port=18431
base="http://127.0.0.1:$port"
cleanup() { kill ${server:-} ${throttled_servers:-} 2>/dev/null; wait 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT

redis_url="${REDIS_URL:-}"
unset REDIS_URL
export DATABASE_URL="sqlite://$work/authd.db"
export SECRET_KEY="bench-signing-secret-of-at-least-32-bytes"
export AUTHD_LOG__LEVEL=warn
# Throttling is measured on its own below; here it must not cap valid logins.
AUTHD_THROTTLE__RATES__LOGIN=1000000000/minute AUTHD_THROTTLE__RATES__REGISTRATION=1000000000/minute \
  "$authd" serve --bind "127.0.0.1:$port" 2>"$work/serve.log" &
server=$!
for _ in $(seq 1 50); do curl -sf "$base/healthz" >/dev/null && break; sleep 0.1; done

json='Content-Type: application/json'
creds='{"email":"bench@example.com","password":"correct horse battery staple"}'
curl -sf -H "$json" -d "$creds" "$base/api/auth/register/" >/dev/null
access=$(curl -sf -H "$json" -d "$creds" "$base/api/auth/login/" | python3 -c 'import sys,json;print(json.load(sys.stdin)["access"])')

cat >"$work/post.lua" <<LUA
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = os.getenv("BODY")
LUA

run() { # name, then wrk arguments
  local name="$1"; shift
  local out; out=$(wrk --latency "$@")
  local rps p50 p99
  rps=$(awk '/Requests\/sec/ {print $2}' <<<"$out")
  p50=$(awk '$1 == "50%" {print $2}' <<<"$out")
  p99=$(awk '$1 == "99%" {print $2}' <<<"$out")
  printf '%-34s %10s req/s   p50 %-9s p99 %s\n' "$name" "$rps" "$p50" "$p99"
}

echo "authd serve, SQLite, wrk on loopback, $seconds s each ($(nproc) cores shared by client and server)"
run "GET /healthz (t2 c64)" -t2 -c64 -d"${seconds}s" "$base/healthz"
BODY="{\"token\":\"$access\"}" run "POST token/verify (t2 c64)" -t2 -c64 -d"${seconds}s" -s "$work/post.lua" "$base/api/auth/token/verify/"
run "GET /api/auth/me (t2 c64)" -t2 -c64 -d"${seconds}s" -H "Authorization: Bearer $access" "$base/api/auth/me/"
BODY="$creds" run "POST login (t2 c16)" -t2 -c16 -d"${seconds}s" -s "$work/post.lua" "$base/api/auth/login/"

# /healthz while logins keep the hashing pool full.
BODY="$creds" wrk -t1 -c32 -d"${seconds}s" -s "$work/post.lua" "$base/api/auth/login/" >"$work/flood.txt" &
flood=$!
sleep 1
run "GET /healthz during a login flood" -t1 -c4 -d"$((seconds - 2))s" "$base/healthz"
wait "$flood"
printf '%-34s %10s req/s (503 when the hashing queue was full: %s)\n' "  the login flood itself" \
  "$(awk '/Requests\/sec/ {print $2}' "$work/flood.txt")" \
  "$(awk '/Non-2xx/ {print $NF}' "$work/flood.txt")"

# A login flood that the throttle refuses (default rates: after 5 requests
# every answer is 429, decided before any SQL or hashing), on a server
# throttling in memory and, with REDIS_URL, on one throttling on Redis.
flood='{"email":"flood@example.com","password":"not the password"}'
start_throttled() { # port, then extra environment
  local at="$1"; shift
  env "$@" "$authd" serve --bind "127.0.0.1:$at" 2>"$work/serve-$at.log" &
  throttled_servers="${throttled_servers:-} $!"
  for _ in $(seq 1 50); do curl -sf "http://127.0.0.1:$at/healthz" >/dev/null && break; sleep 0.1; done
}
start_throttled $((port + 1))
BODY="$flood" run "POST login flood, 429s (memory)" -t2 -c64 -d"${seconds}s" -s "$work/post.lua" "http://127.0.0.1:$((port + 1))/api/auth/login/"
if [ -n "$redis_url" ]; then
  start_throttled $((port + 2)) REDIS_URL="$redis_url" AUTHD_REDIS__KEY_PREFIX="authd_bench_$$:"
  BODY="$flood" run "POST login flood, 429s (Redis)" -t2 -c64 -d"${seconds}s" -s "$work/post.lua" "http://127.0.0.1:$((port + 2))/api/auth/login/"
fi
