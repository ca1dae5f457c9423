#!/usr/bin/env bash
# Times `authd import django` on USERS (100,000) Django users from a SQLite
# file into a fresh SQLite database and, with DATABASE_URL=postgres://...,
# into Postgres (its users table must be empty: use a scratch schema).
#
#   bench/import_django.sh [USERS]
set -euo pipefail
cd "$(dirname "$0")/.."
users="${1:-100000}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

cargo build --release --quiet
authd="${CARGO_TARGET_DIR:-target}/release/authd"
python3 bench/django_users.py "$work/django.sqlite3" "$users"

run() {
  local start end
  start=$(date +%s.%N)
  "$authd" import django --from-database "sqlite://$work/django.sqlite3" --output json >"$work/report.json"
  end=$(date +%s.%N)
  python3 - "$start" "$end" "$users" "$1" "$work/report.json" <<'PY'
import json, sys
start, end, users, target, report = float(sys.argv[1]), float(sys.argv[2]), int(sys.argv[3]), sys.argv[4], sys.argv[5]
r = json.load(open(report))
secs = end - start
print(f"{target}: {r['imported']} imported, {len(r['rejected'])} rejected, "
      f"{r['blacklist']['imported']} blacklisted tokens in {secs:.2f} s = {users / secs:,.0f} users/s")
PY
}

DATABASE_URL="sqlite://$work/authd.db" run sqlite
if [[ "${DATABASE_URL:-}" == postgres* ]]; then
  "$authd" migrate >/dev/null
  run postgres
fi
