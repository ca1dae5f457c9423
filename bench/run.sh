#!/usr/bin/env bash
# authd's benchmark suite: builds the release binary, measures each workload
# with wrk on loopback for a fixed time, measures the machine's ceilings in
# the same run (a bare hyper server answering 200; argon2 verifications of
# the configured parameters on all cores), and writes bench/RESULTS.md with
# every figure as a ratio to its ceiling.
#
# Usage: bench/run.sh [--seconds N] [--postgres URL] [--redis URL] [--keys | --keys-only] [--out FILE]
#   --seconds N     length of each workload (default 10; the whole run takes
#                   about 32 x N seconds plus the build, Postgres included)
#   --postgres URL  also run the workloads on this Postgres, in a throwaway
#                   schema (needs psql); e.g. postgres://postgres@127.0.0.1:5432/test
#   --redis URL     the Postgres server throttles on this Redis (keys under a
#                   throwaway prefix); e.g. redis://127.0.0.1:6379
#   --keys          also measure token/verify, GET /me and login with each
#                   kind of signing key (HS256, EdDSA, ES256, RS256) on SQLite
#   --keys-only     measure only that (plus the ceilings), and replace only
#                   its section of the existing report
#   --out FILE      where to write the report (default bench/RESULTS.md)
# AUTHD_BENCH_BINARY=PATH measures that authd binary instead of the one built
# here (to compare builds; the "revocation cache off" row is then skipped,
# since older builds have no such setting).
#
# Every request loop is bounded by time (wrk -d), only 127.0.0.1 is
# targeted, and every server started here is stopped on exit.
set -euo pipefail
cd "$(dirname "$0")/.."
root="$PWD"

seconds=10
postgres_url=""
redis_url=""
keys=""
out="$root/bench/RESULTS.md"
while [ $# -gt 0 ]; do
  case "$1" in
    --seconds) seconds="$2"; shift 2 ;;
    --postgres) postgres_url="$2"; shift 2 ;;
    --redis) redis_url="$2"; shift 2 ;;
    --out) out="$2"; shift 2 ;;
    --keys) keys=also; shift ;;
    --keys-only) keys=only; shift ;;
    -h|--help) sed -n '2,24p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "bench/run.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
done
case "$seconds" in ''|*[!0-9]*) echo "bench/run.sh: --seconds takes a whole number" >&2; exit 2 ;; esac
if [ "$seconds" -lt 3 ] || [ "$seconds" -gt 120 ]; then
  echo "bench/run.sh: --seconds must be between 3 and 120" >&2; exit 2
fi
if [ -n "$postgres_url" ] && ! command -v psql >/dev/null; then
  echo "bench/run.sh: --postgres needs psql to make a throwaway schema" >&2; exit 2
fi

if ! command -v wrk >/dev/null; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "== installing wrk (Debian package)"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null
  else
    echo "bench/run.sh needs wrk: apt-get install wrk (or your system's package)" >&2; exit 2
  fi
fi
for tool in curl python3; do
  command -v "$tool" >/dev/null || { echo "bench/run.sh needs $tool" >&2; exit 2; }
done

export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/authd-target}"
echo "== building (release)"
cargo build --release --locked --quiet --bin authd --example bench_ceilings
authd="${AUTHD_BENCH_BINARY:-$CARGO_TARGET_DIR/release/authd}"
ceilings="$CARGO_TARGET_DIR/release/examples/bench_ceilings"

# 1,000 connections plus the server's own files need more than the usual 1,024.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
if [ "$(ulimit -n)" != unlimited ] && [ "$(ulimit -n)" -lt 2100 ]; then
  echo "bench/run.sh: the open-file limit ($(ulimit -n)) is too low for 1,000 connections" >&2; exit 2
fi

work="$(mktemp -d)"
pids=()
schema="authd_bench_$$"
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  if [ -n "$postgres_url" ]; then
    psql -q "$postgres_url" -c "DROP SCHEMA IF EXISTS $schema CASCADE" >/dev/null 2>&1 || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT

source bench/lib.sh
rss_mib() { awk '/^VmRSS/ {printf "%.1f", $2 / 1024}' "/proc/$1/status"; }
peak_mib() { awk '/^VmHWM/ {printf "%.1f", $2 / 1024}' "/proc/$1/status"; }
# Resets the kernel's peak-RSS mark, so VmHWM is the peak of what follows.
reset_peak() { echo 5 >"/proc/$1/clear_refs"; }
metric() { # base url, metric name: its value summed over labels (empty if absent)
  curl -sf "$1/metrics" | awk -v name="$2" '$1 == name || index($1, name "{") == 1 {seen = 1; sum += $2} END {if (seen) printf "%d", sum}'
}
delta() { # before, after: the difference, or "unknown" when either is missing
  if [ -n "$1" ] && [ -n "$2" ]; then echo $(($2 - $1)); else echo unknown; fi
}

# Common settings of every authd started here. Logging stays at its
# default (info: an access line per request), as operators run it; the
# warn-level rows measure the cheap paths without those lines beside.
export SECRET_KEY="bench-signing-secret-of-at-least-32-bytes"
unset AUTHD_LOG__LEVEL AUTHD_LOG__SAMPLE_SUCCESSES RUST_LOG
export AUTHD_HTTP__MAX_CONNECTIONS=4096
# The metrics read here are scraped by curl on this machine.
export AUTHD_METRICS__ALLOW=127.0.0.1/32
# No other instance queues reset emails: the flood's database-call count
# then holds only the requests' own calls.
export AUTHD_RESET__POLL_INTERVAL=1h
unset DATABASE_URL REDIS_URL
raised=(AUTHD_THROTTLE__RATES__LOGIN=1000000000/minute
        AUTHD_THROTTLE__RATES__LOGIN_IP=1000000000/minute
        AUTHD_THROTTLE__RATES__REGISTRATION=1000000000/minute)

start_authd() { # name, port, then VAR=value settings; sets $pid
  local name="$1" port="$2"; shift 2
  env "$@" "$authd" serve --bind "127.0.0.1:$port" 2>"$work/$name.log" &
  pid=$!
  pids+=("$pid")
  wait_ready "http://127.0.0.1:$port/healthz"
}

# wrk's figures: requests/s, p50 and p99 in ms, socket errors + non-2xx.
to_ms() { awk '{v = $1 + 0; if ($1 ~ /us$/) v /= 1000; else if ($1 ~ /ms$/) v += 0; else if ($1 ~ /s$/) v *= 1000; printf "%.2f", v}'; }
parse_wrk() { # file -> sets rps p50 p99 errors
  rps=$(awk '/^Requests\/sec/ {printf "%.0f", $2}' "$1")
  p50=$(awk '$1 == "50%" {print $2}' "$1" | to_ms)
  p99=$(awk '$1 == "99%" {print $2}' "$1" | to_ms)
  errors=$(awk '/Non-2xx/ {n += $NF} /Socket errors/ {gsub(",", ""); n += $4 + $6 + $8 + $10} END {printf "%d", n}' "$1")
}

rows="$work/rows.tsv"
: >"$rows"
# One report row from the last measurement: section, workload, kind of
# ceiling (hyper, argon2, refresh, probe), target ratio, note. A row with
# a hyper or argon2 ceiling gets one of its own, measured right after it:
# on a shared machine the throughput of both drifts by 10-20% over
# minutes, so a ratio to a ceiling taken at the start of the run moved
# with the host's load as much as with authd's cost.
record() {
  local ceiling=""
  if [ "$3" = hyper ]; then
    local saved=("$rps" "$p50" "$p99" "$errors" "$peak")
    measure "$ceiling_pid" -t2 -c64 -d"${seconds}s" "$ceiling_url"
    ceiling=$rps
    rps=${saved[0]} p50=${saved[1]} p99=${saved[2]} errors=${saved[3]} peak=${saved[4]}
  elif [ "$3" = argon2 ]; then
    ceiling=$("$ceilings" argon2 "$seconds" | awk '{printf "%.1f", $1}')
  fi
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' \
    "$1" "$2" "$rps" "$p50" "$p99" "$errors" "$peak" "$3" "$4" "$5" "$ceiling" >>"$rows"
  printf '  %-44s %8s req/s  p50 %7s ms  p99 %7s ms  errors %s%s\n' "$2" "$rps" "$p50" "$p99" "$errors" \
    "${ceiling:+  (its ceiling, just after: $ceiling/s)}"
}
# Runs wrk against a server, from a fresh peak-RSS mark: sets rps p50 p99
# errors peak; wrk's output stays in $work/wrk.txt.
measure() { # server pid, wrk args...
  local server="$1"; shift
  reset_peak "$server"
  wrk --latency "$@" >"$work/wrk.txt" 2>&1
  parse_wrk "$work/wrk.txt"
  peak=$(peak_mib "$server")
}

# The workloads every database gets: token/verify, GET /me, refresh chains,
# login (with /healthz probed during it), register.
account_workloads() { # section, base url, server pid, /me target, refresh target
  local section="$1" base="$2" server="$3" me_target="$4" refresh_target="$5"
  curl -sf -H "$json" -d "$creds" "$base/api/auth/register/" >/dev/null
  local access
  access=$(curl -sf -H "$json" -d "$creds" "$base/api/auth/login/" | sed -n 's/.*"access":"\([^"]*\)".*/\1/p')
  [ -n "$access" ] || { echo "bench/run.sh: the bench login failed" >&2; exit 1; }

  BODY="{\"token\":\"$access\"}" measure "$server" \
    -t2 -c64 -d"${seconds}s" -s bench/wrk/post.lua "$base/api/auth/token/verify/"
  record "$section" "POST token/verify (access token)" hyper 0.70 ""
  measure "$server" -t2 -c64 -d"${seconds}s" -H "Authorization: Bearer $access" "$base/api/auth/me/"
  record "$section" "GET /api/auth/me/" hyper "$me_target" ""

  login_tokens "$base" 16 "$work/tokens"
  TOKENS="$work/tokens" measure "$server" \
    -t16 -c16 -d"${seconds}s" -s bench/wrk/refresh_chain.lua "$base"
  record "$section" "POST token/refresh (16 chains)" refresh "$refresh_target" \
    "$(sed -n 's/^chains: //p' "$work/wrk.txt")"

  # Valid logins saturate the hashing pool; meanwhile a light /healthz
  # probe (4 connections, 10 ms apart) shows whether the rest stays fast.
  reset_peak "$server"
  BODY="$creds" wrk --latency -t2 -c16 -d"${seconds}s" -s bench/wrk/post.lua "$base/api/auth/login/" >"$work/login.txt" 2>&1 &
  local login=$!
  sleep 1
  DELAY_MS=10 wrk --latency -t1 -c4 -d"$((seconds - 2))s" -s bench/wrk/probe.lua "$base/healthz" >"$work/probe.txt" 2>&1
  wait "$login"
  peak=$(peak_mib "$server")
  parse_wrk "$work/login.txt"
  record "$section" "POST login (valid credentials, c16)" argon2 0.95 ""
  parse_wrk "$work/probe.txt"
  peak=""
  record "$section" "GET /healthz during the login saturation" probe "" "p99 target: under 10 ms"

  RUN="$section-$$" measure "$server" -t2 -c16 -d"${seconds}s" -s bench/wrk/register.lua "$base"
  record "$section" "POST register (c16)" argon2 "" ""
}

# A login flood that the throttle refuses at the default rates: after five
# requests every answer is 429, decided before any SQL or hashing; the
# metrics before and after show that none happened.
flood_workload() { # section, base url, server pid
  local section="$1" base="$2" server="$3"
  local body='{"email":"flood@example.com","password":"not the password"}'
  local calls hashes
  calls=$(metric "$base" authd_db_calls_total)
  hashes=$(metric "$base" authd_hashing_wait_seconds_count)
  BODY="$body" measure "$server" -t2 -c64 -d"${seconds}s" -s bench/wrk/flood.lua "$base/api/auth/login/"
  local answers other
  answers=$(sed -n 's/^answers: //p' "$work/wrk.txt")
  other=$(sed -n 's/.*other=\([0-9]*\).*/\1/p' <<<"$answers")
  calls=$(delta "$calls" "$(metric "$base" authd_db_calls_total)")
  hashes=$(delta "$hashes" "$(metric "$base" authd_hashing_wait_seconds_count)")
  # wrk counts every 429 as non-2xx. The first 5 answers (the default login
  # rate) are expected 401s, with their lookup and hash; any other is an error.
  other=$(( ${other:-0} > 5 ? ${other:-0} - 5 : 0 ))
  errors=$(( other + $(awk '/Socket errors/ {gsub(",", ""); n += $4 + $6 + $8 + $10} END {printf "%d", n}' "$work/wrk.txt") ))
  record "$section" "POST login flood, throttled (429)" hyper 0.60 \
    "$answers (5 within the rate); during it: $calls database calls, $hashes hashes (those 5 logins')"
}

# token/verify, GET /me and login with one kind of signing key, on a fresh
# SQLite database: a config file with that key first in jwt.keys (SECRET_KEY,
# exported above, stays as a verify-only key).
key_workloads() { # label, `key generate` algorithm
  local label="$1" algorithm="$2" config="$work/keys-$2.toml" entry
  if [ "$algorithm" = hs256 ]; then
    entry=$("$authd" key generate --algorithm hs256 --id "bench-$algorithm")
  else
    entry=$("$authd" key generate --algorithm "$algorithm" --id "bench-$algorithm" --out "$work/key-$algorithm.pem")
  fi
  # The only key of its file: drop the `state = "next"` printed beside SECRET_KEY.
  grep -v '^state = ' <<<"$entry" >"$config"
  port=$(free_port)
  local base="http://127.0.0.1:$port"
  start_authd "keys-$algorithm" "$port" DATABASE_URL="sqlite://$work/keys-$algorithm.db" AUTHD_CONFIG="$config" "${raised[@]}"
  local server=$pid reply access
  curl -sf -H "$json" -d "$creds" "$base/api/auth/register/" >/dev/null
  reply=$(curl -sf -H "$json" -d "$creds" "$base/api/auth/login/")
  access=$(sed -n 's/.*"access":"\([^"]*\)".*/\1/p' <<<"$reply")
  [ -n "$access" ] || { echo "bench/run.sh: the $label login failed" >&2; exit 1; }
  BODY="{\"token\":\"$access\"}" measure "$server" \
    -t2 -c64 -d"${seconds}s" -s bench/wrk/post.lua "$base/api/auth/token/verify/"
  record keys "POST token/verify, $label" hyper "" ""
  measure "$server" -t2 -c64 -d"${seconds}s" -H "Authorization: Bearer $access" "$base/api/auth/me/"
  record keys "GET /api/auth/me/, $label" hyper "" ""
  BODY="$creds" measure "$server" -t2 -c16 -d"${seconds}s" -s bench/wrk/post.lua "$base/api/auth/login/"
  record keys "POST login (c16), $label" argon2 "" ""
  kill "$server"
}

keys_section() {
  echo "== signing key algorithms (SQLite)"
  key_workloads "HS256" hs256
  key_workloads "EdDSA (Ed25519)" ed25519
  key_workloads "ES256 (P-256)" es256
  key_workloads "RS256 (2048 bits)" rs256
}

cores=$(nproc)
echo "== ceilings ($seconds s each, $cores cores shared by client and server)"
port=$(free_port)
"$ceilings" hyper "127.0.0.1:$port" >/dev/null &
pids+=("$!")
ceiling_pid=$!
# Kept up (idle between measurements) for the rows' own ceilings (`record`).
ceiling_url="http://127.0.0.1:$port/"
wait_ready "$ceiling_url"
measure "$ceiling_pid" -t2 -c64 -d"${seconds}s" "$ceiling_url"
record ceiling "bare hyper, fixed 200" "" "" ""
hyper_rps=$rps
argon2_line=$("$ceilings" argon2 "$seconds")
argon2_rate=$(awk '{printf "%.1f", $1}' <<<"$argon2_line")
echo "  argon2: $argon2_line"

if [ "$keys" = only ]; then
  keys_section
  echo "== writing the signing-key section of $out"
  python3 bench/report.py "$rows" "$out" <<EOF
hyper_rps=$hyper_rps
argon2_rate=$argon2_rate
argon2_line=$argon2_line
seconds=$seconds
cores=$cores
commit=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)$(git diff --quiet 2>/dev/null || echo "+changes")
mode=keys-only
EOF
  exit 0
fi

echo "== authd on SQLite"
port=$(free_port)
base="http://127.0.0.1:$port"
sqlite_env=(DATABASE_URL="sqlite://$work/authd.db")
start_authd sqlite "$port" "${sqlite_env[@]}" "${raised[@]}"
server=$pid
sleep 2
idle_rss=$(rss_mib "$server")
echo "  idle RSS after start: $idle_rss MiB"
measure "$server" -t2 -c64 -d"${seconds}s" "$base/healthz"
record sqlite "GET /healthz" hyper 0.90 ""
account_workloads sqlite "$base" "$server" 0.70 10000

# Memory at its worst: 1,000 open keep-alive connections (each sending a
# request every 100 ms) while valid logins keep the hashing pool full.
reset_peak "$server"
DELAY_MS=100 wrk -t1 -c1000 -d"${seconds}s" -s bench/wrk/probe.lua "$base/healthz" >"$work/held.txt" 2>&1 &
held=$!
sleep 1
BODY="$creds" wrk -t1 -c32 -d"$((seconds - 2))s" -s bench/wrk/post.lua "$base/api/auth/login/" >"$work/flood-login.txt" 2>&1
wait "$held"
loaded_rss=$(peak_mib "$server")
parse_wrk "$work/held.txt"
held_errors=$errors
echo "  peak RSS with 1,000 connections + a login flood: $loaded_rss MiB (probe errors: $held_errors)"
after_rss=$(rss_mib "$server")

# The revocation cache off: what asking the database on every request costs.
if [ -z "${AUTHD_BENCH_BINARY:-}" ]; then
  port=$(free_port)
  start_authd sqlite-nocache "$port" "${sqlite_env[@]}" "${raised[@]}" AUTHD_JWT__REVOCATION_CACHE_TTL=0s
  nocache=$pid
  access=$(curl -sf -H "$json" -d "$creds" "http://127.0.0.1:$port/api/auth/login/" | sed -n 's/.*"access":"\([^"]*\)".*/\1/p')
  measure "$nocache" -t2 -c64 -d"${seconds}s" -H "Authorization: Bearer $access" "http://127.0.0.1:$port/api/auth/me/"
  record sqlite "GET /api/auth/me/, revocation cache off" hyper "" "jwt.revocation_cache_ttl = 0s: a query per request"
  kill "$nocache"
fi

port=$(free_port)
start_authd sqlite-throttled "$port" "${sqlite_env[@]}"
flood_workload sqlite "http://127.0.0.1:$port" "$pid"
kill "$pid" "$server"

# The cheap paths again at log.level = warn (no access line), the level
# runs before round 3 measured at: what the default logging costs.
echo "== authd on SQLite at log.level = warn"
port=$(free_port)
base="http://127.0.0.1:$port"
start_authd sqlite-warn "$port" "${sqlite_env[@]}" "${raised[@]}" AUTHD_LOG__LEVEL=warn
warn=$pid
measure "$warn" -t2 -c64 -d"${seconds}s" "$base/healthz"
record sqlite_warn "GET /healthz" hyper "" ""
access=$(curl -sf -H "$json" -d "$creds" "$base/api/auth/login/" | sed -n 's/.*"access":"\([^"]*\)".*/\1/p')
BODY="{\"token\":\"$access\"}" measure "$warn" \
  -t2 -c64 -d"${seconds}s" -s bench/wrk/post.lua "$base/api/auth/token/verify/"
record sqlite_warn "POST token/verify (access token)" hyper "" ""
measure "$warn" -t2 -c64 -d"${seconds}s" -H "Authorization: Bearer $access" "$base/api/auth/me/"
record sqlite_warn "GET /api/auth/me/" hyper "" ""
kill "$warn"
port=$(free_port)
start_authd sqlite-warn-throttled "$port" "${sqlite_env[@]}" AUTHD_LOG__LEVEL=warn
flood_workload sqlite_warn "http://127.0.0.1:$port" "$pid"
kill "$pid"

if [ "$keys" = also ]; then
  keys_section
fi

if [ -n "$postgres_url" ]; then
  echo "== authd on Postgres${redis_url:+ (throttle on Redis)}"
  psql -q "$postgres_url" -c "CREATE SCHEMA $schema" >/dev/null
  separator='?'; case "$postgres_url" in *\?*) separator='&' ;; esac
  pg_env=(DATABASE_URL="${postgres_url}${separator}options=-csearch_path%3D$schema")
  if [ -n "$redis_url" ]; then
    pg_env+=(REDIS_URL="$redis_url" AUTHD_REDIS__KEY_PREFIX="authd_bench_$$:")
  fi
  env "${pg_env[@]}" "$authd" migrate >/dev/null
  port=$(free_port)
  start_authd postgres "$port" "${pg_env[@]}" "${raised[@]}"
  account_workloads postgres "http://127.0.0.1:$port" "$pid" 0.70 8000
  kill "$pid"
  port=$(free_port)
  start_authd postgres-throttled "$port" "${pg_env[@]}"
  flood_workload postgres "http://127.0.0.1:$port" "$pid"
  kill "$pid"
fi

echo "== writing $out"
python3 bench/report.py "$rows" "$out" <<EOF
hyper_rps=$hyper_rps
argon2_rate=$argon2_rate
argon2_line=$argon2_line
idle_rss=$idle_rss
loaded_rss=$loaded_rss
after_rss=$after_rss
held_errors=$held_errors
seconds=$seconds
cores=$cores
commit=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)$(git diff --quiet 2>/dev/null || echo "+changes")
binary=$authd
postgres=${postgres_url:+yes}
redis=${redis_url:+yes}
EOF
