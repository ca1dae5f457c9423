#!/usr/bin/env bash
# Where the CPU goes during the refresh-chain workload: cores used by authd,
# by every postgres process (backends, WAL writer, checkpointer) and by wrk,
# over one wrk run of 16 chains (bench/wrk/refresh_chain.lua). It says
# whether a refresh figure is bound by CPU (the three add up to the
# machine's cores) or by waiting (they do not: SQLite's one writer at a
# time, a commit's flush), and by whose CPU.
#
# Usage: bench/cpu_split.sh [--seconds N] [--postgres URL] [BINARY]
#   BINARY defaults to the release build; without --postgres the database is
#   a SQLite file in a temporary directory. A Postgres run works in a schema
#   of its own, dropped on exit. Only 127.0.0.1 is targeted; the run is
#   bounded by wrk -d.
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh
seconds=6
postgres=""
while [ $# -gt 0 ]; do
  case "$1" in
    --seconds) seconds="$2"; shift 2 ;;
    --postgres) postgres="$2"; shift 2 ;;
    -h|--help) sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    -*) echo "$bench_script: unknown option $1 (see --help)" >&2; exit 2 ;;
    *) break ;;
  esac
done
binary="${1:-${CARGO_TARGET_DIR:-$HOME/.cache/authd-target}/release/authd}"
[ -x "$binary" ] || { echo "bench/cpu_split.sh: no binary at $binary (cargo build --release)" >&2; exit 2; }
[ "$seconds" -ge 3 ] || { echo "bench/cpu_split.sh: --seconds must be at least 3" >&2; exit 2; }
for tool in wrk curl python3; do
  command -v "$tool" >/dev/null || { echo "bench/cpu_split.sh needs $tool" >&2; exit 2; }
done

work="$(mktemp -d)"
server=""
schema=""
cleanup() {
  if [ -n "$server" ]; then kill "$server" 2>/dev/null || true; wait "$server" 2>/dev/null || true; fi
  if [ -n "$schema" ]; then psql -q "$postgres" -c "DROP SCHEMA $schema CASCADE" >/dev/null 2>&1 || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

if [ -n "$postgres" ]; then
  schema="authd_cpu_split_$$"
  psql -q "$postgres" -c "CREATE SCHEMA $schema"
  case "$postgres" in *\?*) sep='&' ;; *) sep='?' ;; esac
  url="$postgres${sep}options=-csearch_path%3D$schema"
else
  url="sqlite://$work/authd.db"
fi
port=$(free_port)
export SECRET_KEY=bench-signing-secret-of-at-least-32-bytes DATABASE_URL="$url" \
  AUTHD_RESET__POLL_INTERVAL=1h AUTHD_HTTP__MAX_CONNECTIONS=4096 \
  AUTHD_THROTTLE__RATES__LOGIN=1000000000/minute AUTHD_THROTTLE__RATES__LOGIN_IP=1000000000/minute
"$binary" migrate >/dev/null
"$binary" serve --bind "127.0.0.1:$port" 2>"$work/server.log" &
server=$!
base="http://127.0.0.1:$port"
wait_ready "$base/healthz"

curl -sf -H "$json" -d "$creds" "$base/api/auth/register/" >/dev/null
tokens="$work/tokens"
login_tokens "$base" 16 "$tokens"

ticks() { # CPU ticks (user + system) of the given pids, summed
  local total=0 pid
  for pid in "$@"; do
    [ -r "/proc/$pid/stat" ] || continue
    # Fields after the command name, which may hold spaces: utime is the 12th, stime the 13th.
    read -r -a rest <<<"$(sed 's/^.*) //' "/proc/$pid/stat" 2>/dev/null || true)"
    [ ${#rest[@]} -gt 12 ] && total=$((total + rest[11] + rest[12]))
  done
  echo "$total"
}
# Every postgres process, read afresh each time (the pool may open backends mid-run).
postgres_ticks() {
  local pids
  mapfile -t pids < <(pgrep -x postgres || true)
  ticks "${pids[@]}"
}

TOKENS="$tokens" wrk -t16 -c16 -d"${seconds}s" -s bench/wrk/refresh_chain.lua "$base" >"$work/wrk.txt" 2>&1 &
client=$!
sleep 1
started=$(date +%s.%N)
authd0=$(ticks "$server"); pg0=$(postgres_ticks); wrk0=$(ticks "$client")
sleep $((seconds - 2))
authd1=$(ticks "$server"); pg1=$(postgres_ticks); wrk1=$(ticks "$client")
ended=$(date +%s.%N)
wait "$client"

python3 - "$started" "$ended" "$(getconf CLK_TCK)" "$(nproc)" \
  "$authd0" "$authd1" "$pg0" "$pg1" "$wrk0" "$wrk1" "${postgres:+postgres}" <<'PY'
import sys
started, ended = float(sys.argv[1]), float(sys.argv[2])
hz, cores = int(sys.argv[3]), int(sys.argv[4])
a0, a1, p0, p1, w0, w1 = map(int, sys.argv[5:11])
wall = ended - started
used = lambda t0, t1: (t1 - t0) / hz / wall
parts = [("authd", used(a0, a1)), ("wrk", used(w0, w1))]
if sys.argv[11:] and sys.argv[11]:
    parts.insert(1, ("postgres", used(p0, p1)))
total = sum(c for _, c in parts)
print(f"cores used over {wall:.1f} s (of {cores}): " + ", ".join(f"{n} {c:.2f}" for n, c in parts)
      + f"; total {total:.2f}")
PY
grep -E "Requests/sec|chains:" "$work/wrk.txt"
