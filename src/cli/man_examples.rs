//! The EXAMPLES section of the man pages: for each page (named as
//! clap_mangen names it, `authd-user-create`), what a line does and the line.
//! Kept beside the CLI so an example changes with the command it shows.

/// (what it does, the command line) pairs for the page `name`.
pub fn examples_for(name: &str) -> &'static [(&'static str, &'static str)] {
    match name {
        "authd" => &[
            ("Serve on the embedded default (SQLite ./authd.db, development mode):", "authd serve"),
            ("Production: Postgres, a signing secret, migrations first:", "DATABASE_URL=postgres://authd@db/authd SECRET_KEY=... authd migrate && authd serve --bind 0.0.0.0:8000"),
            ("See the configuration every command would use:", "authd config check"),
        ],
        "authd-serve" => &[
            ("Listen on all interfaces, port 8000:", "authd serve --bind 0.0.0.0:8000"),
            ("With a configuration file:", "authd --config /etc/authd/authd.toml serve"),
        ],
        "authd-migrate" => &[
            ("Apply pending migrations:", "authd migrate"),
            ("Show which migrations are applied:", "authd migrate status"),
        ],
        "authd-user-create" => &[
            ("Create an account, typing the password at a hidden prompt:", "authd user create --email ada@example.com --full-name 'Ada Lovelace'"),
            ("From a script, the password on standard input:", "printf '%s\\n' \"$PASSWORD\" | authd user create --email ops@example.com --staff --password-stdin"),
        ],
        "authd-user-list" => &[
            ("Accounts whose email or name contains \"ada\", as JSON:", "authd user list --search ada --output json"),
            ("The next page after id 500:", "authd user list --after 500 --limit 100"),
        ],
        "authd-user-disable" => &[("Lock an account out and end its sessions:", "authd user disable ada@example.com")],
        "authd-user-delete" => &[("Delete without a prompt (scripts):", "authd user delete ada@example.com --yes")],
        "authd-token-revoke" => &[
            ("Log a user out everywhere:", "authd token revoke --user ada@example.com"),
            ("End one session:", "authd token revoke --session SID"),
        ],
        "authd-audit-list" => &[
            ("Who logged into this account, and from where, in the last day:", "authd audit list --user ada@example.com --type login --since 24h"),
            ("Failed logins from one address, as JSON for jq:", "authd audit list --ip 192.0.2.7 --outcome failure --output json | jq '.[].email'"),
        ],
        "authd-audit-tail" => &[
            ("Watch events as they are stored (Ctrl-C to stop):", "authd audit tail --follow"),
            ("Feed a log shipper one JSON object per line:", "authd audit tail -f -n 0 --output json"),
        ],
        "authd-audit-stats" => &[
            ("Counts of the last week, with the 20 IPs failing logins most:", "authd audit stats --since 7d --top 20"),
        ],
        "authd-blacklist-prune" => &[
            ("See what a prune would delete:", "authd blacklist prune --dry-run"),
            ("Prune in smaller transactions beside a busy server:", "authd blacklist prune --batch-size 200"),
        ],
        "authd-healthcheck" => &[
            ("A container's HEALTHCHECK (asks the address serve binds, or $PORT):", "authd healthcheck"),
            ("Another instance, with a shorter wait:", "authd healthcheck --url http://10.0.0.7:8000 --timeout 1s"),
        ],
        "authd-key-generate" => &[("A new signing key entry for jwt.keys:", "authd key generate --id k2026-12")],
        "authd-throttle-clear" => &[("Unlock an email locked out of login:", "authd throttle clear --scope login --email ada@example.com")],
        "authd-loadtest-ratelimit" => &[
            ("Check that exactly the announced login limit passes across two instances:", "authd loadtest ratelimit --url http://127.0.0.1:8000 --url http://127.0.0.1:8001 --requests 100"),
            ("Measure throughput for 10 seconds:", "authd loadtest ratelimit --url http://127.0.0.1:8000 --duration 10s"),
        ],
        _ => &[],
    }
}
