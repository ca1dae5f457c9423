#!/usr/bin/env bash
# What an active user costs in storage: a database seeded (by SQL) with
# USERS users, each with one session refreshed every hour for a week
# (refresh_ttl is 7 days, so that is the steady state a prune keeps: 168
# refresh tokens per session, 167 rotated and the live one), measured per
# table and index; on SQLite (dbstat) and, with --postgres, on Postgres
# (pg_total_relation_size). Writes the "storage" section of
# bench/RESULTS.md.
#
# Usage: bench/storage.sh [--users N] [--postgres URL]   (default 2000 users)
set -euo pipefail
cd "$(dirname "$0")/.."

users=2000
postgres_url=""
while [ $# -gt 0 ]; do
  case "$1" in
    --users) users="$2"; shift 2 ;;
    --postgres) postgres_url="$2"; shift 2 ;;
    -h|--help) sed -n '2,11p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "bench/storage.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
done
case "$users" in ''|*[!0-9]*) echo "bench/storage.sh: --users takes a whole number" >&2; exit 2 ;; esac
if [ "$users" -lt 100 ] || [ "$users" -gt 100000 ]; then
  echo "bench/storage.sh: --users must be between 100 and 100000" >&2; exit 2
fi

export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/authd-target}"
cargo build --release --locked --quiet --bin authd
authd="$CARGO_TARGET_DIR/release/authd"
work="$(mktemp -d)"
schema="authd_storage_$$"
cleanup() {
  rm -rf "$work"
  if [ -n "$postgres_url" ]; then
    PGOPTIONS="-cclient_min_messages=warning" psql -q "$postgres_url" \
      -c "DROP SCHEMA IF EXISTS $schema CASCADE" >/dev/null 2>&1 || true
  fi
}
trap cleanup EXIT
export AUTHD_LOG__LEVEL=warn
hours=168

# $1: row source of 1..N, $2: 0..167, $3: now, $4: an hour, $5: a week,
# $6: the SQL that pads an integer to 32 digits (ids are 32 characters),
# with {} for the integer.
seed_sql() {
  local sid="${6//\{\}/id}" jti="${6//\{\}/id * 1000 + h}" next="${6//\{\}/id * 1000 + h + 1}"
  cat <<SQL
INSERT INTO users (email, email_lower, password_hash, date_joined, tokens_valid_after)
  $1 SELECT 'user' || i || '@example.com', 'user' || i || '@example.com',
  '\$argon2id\$v=19\$m=19456,t=2,p=1\$c2FsdHNhbHRzYWx0c2FsdA\$aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaGhhc2g',
  $3 - $5, $3 - $5 FROM n;
INSERT INTO sessions (id, user_id, created_at) SELECT $sid, id, $3 - $5 FROM users;
$2 INSERT INTO refresh_tokens (jti, user_id, family, issued_at, expires_at, revoked_at, revoked_reason, replaced_by)
  SELECT $jti, id, $sid, $3 - $5 + h * $4, $3 + h * $4,
         CASE WHEN h < $hours - 1 THEN $3 - $5 + (h + 1) * $4 END,
         CASE WHEN h < $hours - 1 THEN 'rotated' END,
         CASE WHEN h < $hours - 1 THEN $next END
  FROM users, hour;
SQL
}

sqlite_db="$work/storage.db"
DATABASE_URL="sqlite://$sqlite_db" "$authd" migrate >/dev/null
now=$(python3 -c 'import time; print(int(time.time() * 1e6))')
python3 - "$sqlite_db" "$(seed_sql \
  "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < $users)" \
  "WITH RECURSIVE hour(h) AS (SELECT 0 UNION ALL SELECT h + 1 FROM hour WHERE h < $hours - 1)" \
  "$now" 3600000000 604800000000 "printf('%032d', {})")" "$users" >"$work/sqlite.tsv" <<'PY'
import sqlite3, sys
path, script, users = sys.argv[1], sys.argv[2], int(sys.argv[3])
c = sqlite3.connect(path)
c.executescript("BEGIN;" + script + "COMMIT; VACUUM;")
tables = {"users": "users", "sessions": "sessions", "refresh_tokens": "refresh_tokens"}
owner = dict(c.execute("SELECT name, tbl_name FROM sqlite_schema WHERE type IN ('table', 'index')"))
sizes = {}
for name, size in c.execute("SELECT name, sum(pgsize) FROM dbstat GROUP BY name"):
    table = owner.get(name)
    if table in tables:
        sizes[table] = sizes.get(table, 0) + size
for table in tables:
    rows = c.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
    print(f"sqlite\t{table}\t{rows}\t{sizes.get(table, 0)}")
PY

if [ -n "$postgres_url" ]; then
  psql -q "$postgres_url" -c "CREATE SCHEMA $schema" >/dev/null
  separator='?'; case "$postgres_url" in *\?*) separator='&' ;; esac
  DATABASE_URL="${postgres_url}${separator}options=-csearch_path%3D$schema" "$authd" migrate >/dev/null
  seed_sql "WITH n(i) AS (SELECT generate_series(1, $users))" \
    "WITH hour(h) AS (SELECT generate_series(0, $hours - 1))" \
    "now()" "interval '1 hour'" "interval '7 days'" "lpad(({})::text, 32, '0')" \
    | PGOPTIONS="-csearch_path=$schema" psql -q -v ON_ERROR_STOP=1 "$postgres_url" >/dev/null
  PGOPTIONS="-csearch_path=$schema" psql -q "$postgres_url" -c "VACUUM FULL ANALYZE" >/dev/null
  for table in users sessions refresh_tokens; do
    psql -qtA -F $'\t' "$postgres_url" -c "SELECT 'postgres', '$table', count(*),
      pg_total_relation_size('$schema.$table') FROM $schema.$table" >>"$work/sqlite.tsv"
  done
fi

python3 - "$work/sqlite.tsv" bench/RESULTS.md "$users" "$hours" <<'PY'
import sys
rows_path, results_path, users, hours = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
begin, end = "<!-- storage:begin -->", "<!-- storage:end -->"
data = {}
for line in open(rows_path):
    backend, table, rows, size = line.split("\t")
    data.setdefault(backend, {})[table] = (int(rows), int(size))
out = [begin, "## Storage per active user (bench/storage.sh)", ""]
out.append(
    "%d users, each with one session refreshed every hour for a week: %d refresh tokens per "
    "session, what `jwt.refresh_ttl` (7 days) keeps alive and a prune keeps at that: a rotated "
    "token stays until its own expiry (reuse detection needs it), then the periodic prune "
    "(`blacklist.auto_prune_interval`, 1 h) deletes it, and a session goes with its last token. "
    "Without a prune the history would grow by 24 rows a day per active session." % (users, hours))
out.append("")
out.append("| backend | users row | session row | refresh-token row | per active user (1 session, a week) | at 1,000,000 such users |")
out.append("|---|---:|---:|---:|---:|---:|")
for backend, tables in data.items():
    per = {t: size / rows for t, (rows, size) in tables.items() if rows}
    user = per["users"] + per["sessions"] + hours * per["refresh_tokens"]
    out.append("| %s | %.0f B | %.0f B | %.0f B | %.1f KiB | %.1f GiB |" % (
        backend, per["users"], per["sessions"], per["refresh_tokens"], user / 1024, user * 1e6 / 2**30))
out.append("")
out.append("Bytes are per row with the table's share of its indexes; a user with several devices "
           "costs one session and its tokens per device.")
out.append(end)
try:
    text = open(results_path).read()
except FileNotFoundError:
    text = ""
if begin in text and end in text:
    text = text.split(begin, 1)[0] + "\n".join(out) + text.split(end, 1)[1]
else:
    text = text.rstrip("\n") + "\n\n" + "\n".join(out) + "\n"
open(results_path, "w").write(text)
print("\n".join(out))
PY
