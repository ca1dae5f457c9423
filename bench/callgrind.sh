#!/usr/bin/env bash
# Instructions per request (valgrind --tool=callgrind) of the cheap paths:
# GET /healthz, POST token/verify, GET /api/auth/me/ and a throttled login
# (429), on a fresh SQLite database at the default configuration. Unlike
# wrk's rates, these counts do not move with the machine's load, so they
# compare builds on a busy machine; they overstate SHA-256 (valgrind hides
# SHA-NI) and memcpy (each byte of `rep movsb` counts).
#
# Usage: bench/callgrind.sh [--requests N] [BINARY] [VAR=value ...]
#   BINARY defaults to the release build; VAR=value settings are passed to
#   it (e.g. AUTHD_LOG__LEVEL=warn to leave out the access line).
# Only 127.0.0.1 is targeted; the server is stopped on exit.
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh
requests=1000
if [ "${1:-}" = --requests ]; then requests="$2"; shift 2; fi
binary="${CARGO_TARGET_DIR:-$HOME/.cache/authd-target}/release/authd"
case "${1:-}" in
  ''|*=*) ;;
  *) binary="$1"; shift ;;
esac
command -v valgrind >/dev/null || { echo "bench/callgrind.sh needs valgrind" >&2; exit 2; }
[ -x "$binary" ] || { echo "bench/callgrind.sh: no binary at $binary (cargo build --release)" >&2; exit 2; }

work="$(mktemp -d)"
server=""
cleanup() {
  if [ -n "$server" ]; then kill "$server" 2>/dev/null || true; wait "$server" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT
port=$(free_port)
env SECRET_KEY=bench-signing-secret-of-at-least-32-bytes DATABASE_URL="sqlite://$work/authd.db" \
  AUTHD_RESET__POLL_INTERVAL=1h "$@" \
  valgrind --tool=callgrind --callgrind-out-file="$work/callgrind.%p" \
  "$binary" serve --bind "127.0.0.1:$port" 2>"$work/server.log" &
server=$!
base="http://127.0.0.1:$port"
# Under valgrind the server takes a while to start.
wait_ready "$base/healthz" 300

curl -sf -H "$json" -d "$creds" "$base/api/auth/register/" >/dev/null
access=$(curl -sf -H "$json" -d "$creds" "$base/api/auth/login/" | sed -n 's/.*"access":"\([^"]*\)".*/\1/p')
[ -n "$access" ] || { echo "bench/callgrind.sh: the login failed" >&2; exit 1; }

# Warms the path up, zeroes the counters, sends the requests, dumps.
measure() { # label, method, path, body, bearer
  local label="$1"; shift
  python3 bench/callgrind_client.py "$port" "$1" "$2" 200 "${3:-}" "${4:-}" >/dev/null
  callgrind_control --zero "$server" >/dev/null 2>&1
  local statuses
  statuses=$(python3 bench/callgrind_client.py "$port" "$1" "$2" "$requests" "${3:-}" "${4:-}")
  callgrind_control --dump "$server" >/dev/null 2>&1
  sleep 0.5
  local total
  total=$(awk '/^summary:|^totals:/ {print $2; exit}' "$(ls -t "$work"/callgrind."$server".* | head -1)")
  printf '  %-28s %8d instructions/request  (%s)\n' "$label" $((total / requests)) "$statuses"
}
echo "== $binary${*:+ ($*)}, $requests requests each"
measure "GET /healthz" GET /healthz
measure "POST token/verify" POST /api/auth/token/verify/ "{\"token\":\"$access\"}"
measure "GET /api/auth/me/" GET /api/auth/me/ "" "$access"
# After the default login rate's 5 attempts (the warm-up spends them), every answer is 429.
measure "POST login, throttled (429)" POST /api/auth/login/ '{"email":"flood@example.com","password":"not the password"}'
