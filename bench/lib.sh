# Shared by the bench scripts (source it from the repository root, as they
# cd there): a free loopback port, waiting for a server to answer, and the
# bench account's logins. Messages name the script that sourced this.

bench_script="bench/$(basename "$0")"
json='Content-Type: application/json'
creds='{"email":"bench@example.com","password":"correct horse battery staple"}'

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

wait_ready() { # url [tries, 0.2 s apart; default 100]
  for _ in $(seq 1 "${2:-100}"); do curl -sf "$1" >/dev/null 2>&1 && return 0; sleep 0.2; done
  echo "$bench_script: nothing answered at $1" >&2; exit 1
}

login_tokens() { # base url, count, file: that many sessions' refresh tokens, one per line
  local reply
  : >"$3"
  for _ in $(seq 1 "$2"); do
    reply=$(curl -s -H "$json" -d "$creds" "$1/api/auth/login/")
    sed -n 's/.*"refresh":"\([^"]*\)".*/\1/p' <<<"$reply" >>"$3"
  done
  if [ "$(grep -c . "$3")" != "$2" ]; then
    echo "$bench_script: a login of the bench account failed: ${reply:0:300}" >&2; exit 1
  fi
}
