#!/usr/bin/env bash
# The hot paths against the size of the data: the same workloads on
# databases holding 0, 100,000 and 1,000,000 users (each with a live
# session and a refresh-token history: one token expired, one rotated, one
# live), on SQLite and Postgres, plus a prune of the expired rows while a
# refresh chain runs, and the storage each user costs. Writes the section
# between the "scale" markers of bench/RESULTS.md (bench/run.sh keeps it).
#
# Usage: bench/scale.sh [--seconds N] [--sizes "0 100000 1000000"] [--postgres URL]
#   --seconds N     length of each workload (default 5)
#   --sizes LIST    user counts to measure (default "0 100000 1000000")
#   --postgres URL  also measure Postgres, in a throwaway schema (needs psql),
#                   e.g. postgres://postgres@127.0.0.1:5432/test
#
# Seeding is SQL (a recursive CTE on SQLite, generate_series on Postgres),
# not the API: a million users take about a minute. Servers run the default
# configuration but for log level warn, raised login/registration rates (the
# bench logs in more than 5 times a minute, from one IP) and no periodic prune (the
# prune is measured on its own). Every request loop is bounded by time (wrk
# -d), only 127.0.0.1 is targeted, every server and schema made here is
# removed on exit.
set -euo pipefail
cd "$(dirname "$0")/.."
root="$PWD"

seconds=5
sizes="0 100000 1000000"
postgres_url=""
while [ $# -gt 0 ]; do
  case "$1" in
    --seconds) seconds="$2"; shift 2 ;;
    --sizes) sizes="$2"; shift 2 ;;
    --postgres) postgres_url="$2"; shift 2 ;;
    -h|--help) sed -n '2,22p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "bench/scale.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
done
case "$seconds" in ''|*[!0-9]*) echo "bench/scale.sh: --seconds takes a whole number" >&2; exit 2 ;; esac
if [ "$seconds" -lt 2 ] || [ "$seconds" -gt 120 ]; then
  echo "bench/scale.sh: --seconds must be between 2 and 120" >&2; exit 2
fi
for size in $sizes; do
  case "$size" in ''|*[!0-9]*) echo "bench/scale.sh: --sizes takes whole numbers" >&2; exit 2 ;; esac
  if [ "$size" -gt 5000000 ]; then echo "bench/scale.sh: at most 5,000,000 users" >&2; exit 2; fi
done
if [ -n "$postgres_url" ] && ! command -v psql >/dev/null; then
  echo "bench/scale.sh: --postgres needs psql" >&2; exit 2
fi
for tool in wrk curl python3; do
  command -v "$tool" >/dev/null || { echo "bench/scale.sh needs $tool (apt-get install $tool)" >&2; exit 2; }
done

export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/authd-target}"
echo "== building (release)"
cargo build --release --locked --quiet --bin authd
authd="${AUTHD_BENCH_BINARY:-$CARGO_TARGET_DIR/release/authd}"

work="$(mktemp -d)"
pids=()
schemas=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  for schema in "${schemas[@]}"; do
    PGOPTIONS="-cclient_min_messages=warning" psql -q "$postgres_url" -c "DROP SCHEMA IF EXISTS $schema CASCADE" >/dev/null 2>&1 || true
  done
  rm -rf "$work"
}
trap cleanup EXIT

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
wait_ready() {
  for _ in $(seq 1 300); do curl -sf "$1" >/dev/null 2>&1 && return 0; sleep 0.1; done
  echo "bench/scale.sh: nothing answered at $1" >&2; exit 1
}
to_ms() { awk '{v = $1 + 0; if ($1 ~ /us$/) v /= 1000; else if ($1 ~ /ms$/) v += 0; else if ($1 ~ /s$/) v *= 1000; printf "%.2f", v}'; }
parse_wrk() { # file -> rps p50 p99 errors
  rps=$(awk '/^Requests\/sec/ {printf "%.0f", $2}' "$1")
  p50=$(awk '$1 == "50%" {print $2}' "$1" | to_ms)
  p99=$(awk '$1 == "99%" {print $2}' "$1" | to_ms)
  errors=$(awk '/Non-2xx/ {n += $NF} /Socket errors/ {gsub(",", ""); n += $4 + $6 + $8 + $10} END {printf "%d", n}' "$1")
}

export SECRET_KEY="bench-signing-secret-of-at-least-32-bytes"
export AUTHD_LOG__LEVEL=warn
export AUTHD_BLACKLIST__AUTO_PRUNE_INTERVAL=0s
unset DATABASE_URL REDIS_URL
raised=(AUTHD_THROTTLE__RATES__LOGIN=1000000000/minute
        AUTHD_THROTTLE__RATES__LOGIN_IP=1000000000/minute
        AUTHD_THROTTLE__RATES__REGISTRATION=1000000000/minute)

# Per user: a session with three refresh tokens (a week-old expired one, a
# rotated one, the live one). $1: the row source of 1..N, $2: now, $3: a
# week ago, $4: a week ahead, $5: the SQL of an empty password hash.
seed_sql() {
  cat <<SQL
INSERT INTO users (email, email_lower, password_hash, date_joined, tokens_valid_after)
  $1 SELECT 'user' || i || '@example.com', 'user' || i || '@example.com', $5, $3, $3 FROM n;
INSERT INTO sessions (id, user_id, created_at) SELECT 'seed-' || id, id, $3 FROM users;
INSERT INTO refresh_tokens (jti, user_id, family, issued_at, expires_at, revoked_at, revoked_reason, replaced_by)
  SELECT 'seed-' || id || '-0', id, 'seed-' || id, $3, $3, $3, 'rotated', 'seed-' || id || '-1' FROM users;
INSERT INTO refresh_tokens (jti, user_id, family, issued_at, expires_at, revoked_at, revoked_reason, replaced_by)
  SELECT 'seed-' || id || '-1', id, 'seed-' || id, $3, $4, $2, 'rotated', 'seed-' || id || '-2' FROM users;
INSERT INTO refresh_tokens (jti, user_id, family, issued_at, expires_at)
  SELECT 'seed-' || id || '-2', id, 'seed-' || id, $2, $4 FROM users;
SQL
}

seed_sqlite() { # file, users
  local now week=604800000000
  now=$(python3 -c 'import time; print(int(time.time() * 1e6))')
  python3 - "$1" "$(seed_sql "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < $2)" \
    "$now" "$((now - week))" "$((now + week))" "'!'")" <<'PY'
import sqlite3, sys
connection = sqlite3.connect(sys.argv[1])
connection.executescript("BEGIN;" + sys.argv[2] + "COMMIT;")
connection.close()
PY
}

seed_postgres() { # schema, users
  seed_sql "WITH n(i) AS (SELECT generate_series(1, $2))" "now()" "now() - interval '7 days'" \
    "now() + interval '7 days'" "'!'" \
    | PGOPTIONS="-csearch_path=$1" psql -q -v ON_ERROR_STOP=1 "$postgres_url" >/dev/null
  PGOPTIONS="-csearch_path=$1" psql -q "$postgres_url" -c "VACUUM ANALYZE" >/dev/null
}

json='Content-Type: application/json'
creds='{"email":"bench@example.com","password":"correct horse battery staple"}'
rows="$work/rows.tsv"
: >"$rows"
record() { # backend, users, workload, note
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "$rps" "$p50" "$p99" "$errors" "$4" >>"$rows"
  printf '  %-9s %8s users  %-34s %8s req/s  p50 %7s ms  p99 %7s ms  errors %s %s\n' \
    "$1" "$2" "$3" "$rps" "$p50" "$p99" "$errors" "$4"
}

# The workloads of one database, then (when it holds users) a prune of its
# expired tokens while a refresh chain runs.
measure_database() { # backend, users, database url, size in bytes (command)
  local backend="$1" users="$2" url="$3" port base pid access seeded_rows
  port=$(free_port)
  base="http://127.0.0.1:$port"
  env DATABASE_URL="$url" "${raised[@]}" "$authd" serve --bind "127.0.0.1:$port" 2>"$work/$backend-$users.log" &
  pid=$!
  pids+=("$pid")
  wait_ready "$base/healthz"
  curl -sf -H "$json" -d "$creds" "$base/api/auth/register/" >/dev/null
  access=$(curl -sf -H "$json" -d "$creds" "$base/api/auth/login/" | sed -n 's/.*"access":"\([^"]*\)".*/\1/p')
  [ -n "$access" ] || { echo "bench/scale.sh: the bench login failed" >&2; exit 1; }

  curl -sf -H "$json" -d "$creds" "$base/api/auth/login/" | sed -n 's/.*"refresh":"\([^"]*\)".*/\1/p' >"$work/token"
  TOKENS="$work/token" wrk --latency -t1 -c1 -d"${seconds}s" -s bench/wrk/refresh_chain.lua "$base" >"$work/wrk.txt" 2>&1
  parse_wrk "$work/wrk.txt"
  record "$backend" "$users" "refresh, one sequential chain" "$(sed -n 's/^chains: //p' "$work/wrk.txt")"

  wrk --latency -t2 -c64 -d"${seconds}s" -H "Authorization: Bearer $access" "$base/api/auth/me/" >"$work/wrk.txt" 2>&1
  parse_wrk "$work/wrk.txt"
  record "$backend" "$users" "GET /me (c64)" ""

  BODY="{\"token\":\"$access\"}" wrk --latency -t2 -c64 -d"${seconds}s" -s bench/wrk/post.lua \
    "$base/api/auth/token/verify/" >"$work/wrk.txt" 2>&1
  parse_wrk "$work/wrk.txt"
  record "$backend" "$users" "token/verify (c64)" ""

  BODY="$creds" wrk --latency -t2 -c16 -d"${seconds}s" -s bench/wrk/post.lua "$base/api/auth/login/" >"$work/wrk.txt" 2>&1
  parse_wrk "$work/wrk.txt"
  record "$backend" "$users" "login, valid (c16, argon2-bound)" ""

  if [ "$users" -gt 0 ]; then
    # A refresh chain for twice the prune's expected time; the prune (the
    # admin command, on the same database) starts a second in.
    curl -sf -H "$json" -d "$creds" "$base/api/auth/login/" | sed -n 's/.*"refresh":"\([^"]*\)".*/\1/p' >"$work/token"
    TOKENS="$work/token" wrk --latency -t1 -c1 -d"$((seconds * 3))s" -s bench/wrk/refresh_chain.lua "$base" >"$work/wrk.txt" 2>&1 &
    local chain=$! started ended
    sleep 1
    started=$(date +%s.%N)
    DATABASE_URL="$url" "$authd" blacklist prune --output json >"$work/prune.json"
    ended=$(date +%s.%N)
    wait "$chain"
    parse_wrk "$work/wrk.txt"
    seeded_rows=$(python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["removed"]["refresh_tokens"])' "$work/prune.json")
    record "$backend" "$users" "refresh chain during prune" \
      "$(awk -v a="$started" -v b="$ended" -v n="$seeded_rows" 'BEGIN { printf "prune of %s expired tokens: %.1f s", n, b - a }')"
  fi
  kill "$pid"
  wait "$pid" 2>/dev/null || true
  printf '%s\t%s\tsize\t%s\n' "$backend" "$users" "$4" >>"$work/sizes.tsv"
}

: >"$work/sizes.tsv"
for users in $sizes; do
  echo "== SQLite, $users users"
  db="$work/scale-$users.db"
  DATABASE_URL="sqlite://$db" "$authd" migrate >/dev/null
  started=$(date +%s)
  [ "$users" -gt 0 ] && seed_sqlite "$db" "$users"
  echo "  seeded in $(( $(date +%s) - started )) s"
  python3 - "$db" >"$work/pages" <<'PY'
import sqlite3, sys
c = sqlite3.connect(sys.argv[1])
c.execute("PRAGMA wal_checkpoint(TRUNCATE)")
print(c.execute("PRAGMA page_count").fetchone()[0] * c.execute("PRAGMA page_size").fetchone()[0])
PY
  measure_database sqlite "$users" "sqlite://$db" "$(cat "$work/pages")"
  rm -f "$db" "$db-wal" "$db-shm"
done

if [ -n "$postgres_url" ]; then
  separator='?'; case "$postgres_url" in *\?*) separator='&' ;; esac
  for users in $sizes; do
    echo "== Postgres, $users users"
    schema="authd_scale_$$_$users"
    schemas+=("$schema")
    psql -q "$postgres_url" -c "CREATE SCHEMA $schema" >/dev/null
    url="${postgres_url}${separator}options=-csearch_path%3D$schema"
    DATABASE_URL="$url" "$authd" migrate >/dev/null
    started=$(date +%s)
    [ "$users" -gt 0 ] && seed_postgres "$schema" "$users"
    echo "  seeded in $(( $(date +%s) - started )) s"
    bytes=$(psql -qtA "$postgres_url" -c "SELECT sum(pg_total_relation_size(c.oid)) FROM pg_class c
      JOIN pg_namespace s ON s.oid = c.relnamespace WHERE s.nspname = '$schema' AND c.relkind = 'r'")
    refresh_row=$(psql -qtA "$postgres_url" -c "SELECT CASE WHEN count(*) = 0 THEN 0 ELSE
      pg_total_relation_size('$schema.refresh_tokens') / count(*) END FROM $schema.refresh_tokens")
    printf 'postgres\t%s\trefresh_row\t%s\n' "$users" "$refresh_row" >>"$work/sizes.tsv"
    measure_database postgres "$users" "$url" "$bytes"
    PGOPTIONS="-cclient_min_messages=warning" psql -q "$postgres_url" -c "DROP SCHEMA $schema CASCADE" >/dev/null
  done
fi

echo "== writing the scale section of bench/RESULTS.md"
python3 bench/scale_report.py "$rows" "$work/sizes.tsv" "$root/bench/RESULTS.md" \
  "$(git rev-parse --short HEAD 2>/dev/null || echo unknown)$(git diff --quiet 2>/dev/null || echo "+changes")" "$seconds"
