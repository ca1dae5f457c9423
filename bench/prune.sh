#!/usr/bin/env bash
# How long `authd blacklist prune` takes for ROWS expired refresh tokens
# (default 1,000,000), on SQLite and, with DATABASE_URL=postgres://..., on
# Postgres (in a throwaway schema). Seeds the rows with SQL, then times the
# prune with the default batch size.
#
# Usage: bench/prune.sh [ROWS]      (SQLite needs python3; Postgres needs psql)
set -euo pipefail
cd "$(dirname "$0")/.."

rows="${1:-1000000}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/authd-target}"
cargo build --release --quiet
authd="$CARGO_TARGET_DIR/release/authd"
work="$(mktemp -d)"
pg_url="${DATABASE_URL:-}"
schema="authd_bench_prune_$$"
cleanup() {
  rm -rf "$work"
  if [ -n "$pg_url" ]; then psql -q "$pg_url" -c "DROP SCHEMA IF EXISTS $schema CASCADE" >/dev/null 2>&1 || true; fi
}
trap cleanup EXIT
export AUTHD_LOG__LEVEL=warn

seed_sql() { # the SQL that creates one user, one session and ROWS expired tokens; $1 = series, $2 = old time
  cat <<SQL
INSERT INTO users (email, email_lower, password_hash, date_joined, tokens_valid_after)
  VALUES ('bench@example.com', 'bench@example.com', '!', $2, $2);
INSERT INTO sessions (id, user_id, created_at) VALUES ('bench', 1, $2);
$1 INSERT INTO refresh_tokens (jti, user_id, family, issued_at, expires_at)
  SELECT 'expired-' || i, 1, 'bench', $2, $2 FROM n;
SQL
}

time_prune() { # label, database URL
  local started ended
  started=$(date +%s.%N)
  DATABASE_URL="$2" "$authd" blacklist prune
  ended=$(date +%s.%N)
  awk -v label="$1" -v rows="$rows" -v a="$started" -v b="$ended" 'BEGIN { printf "%s: %s rows pruned in %.2f s\n", label, rows, b - a }'
}

sqlite_url="sqlite://$work/authd.db"
DATABASE_URL="$sqlite_url" "$authd" migrate >/dev/null
python3 - "$work/authd.db" "$(seed_sql "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < $rows)" 0)" <<'PY'
import sqlite3, sys
connection = sqlite3.connect(sys.argv[1])
connection.executescript(sys.argv[2])
connection.commit()
PY
time_prune "SQLite" "$sqlite_url"

if [ -n "$pg_url" ]; then
  psql -q "$pg_url" -c "CREATE SCHEMA $schema" >/dev/null
  separator='?'; case "$pg_url" in *\?*) separator='&';; esac
  schema_url="${pg_url}${separator}options=-csearch_path%3D${schema}"
  DATABASE_URL="$schema_url" "$authd" migrate >/dev/null
  seed_sql "WITH n(i) AS (SELECT generate_series(1, $rows))" "'epoch'::timestamptz" \
    | PGOPTIONS="-csearch_path=$schema" psql -q "$pg_url" >/dev/null
  time_prune "Postgres" "$schema_url"
fi
