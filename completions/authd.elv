
use builtin;
use str;

set edit:completion:arg-completer[authd] = {|@words|
    fn spaces {|n|
        builtin:repeat $n ' ' | str:join ''
    }
    fn cand {|text desc|
        edit:complex-candidate $text &display=$text' '(spaces (- 14 (wcswidth $text)))$desc
    }
    var command = 'authd'
    for word $words[1..-1] {
        if (str:has-prefix $word '-') {
            break
        }
        set command = $command';'$word
    }
    var completions = [
        &'authd'= {
            cand --config 'Config file (TOML). Default: $AUTHD_CONFIG, else ./authd.toml if it exists'
            cand --output 'How admin commands print their results'
            cand -v 'Log more to stderr: -v for debug, -vv for trace (RUST_LOG wins when set)'
            cand --verbose 'Log more to stderr: -v for debug, -vv for trace (RUST_LOG wins when set)'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
            cand serve 'Run the HTTP service'
            cand migrate 'Apply pending database migrations (or show them, or roll back)'
            cand user 'Create, inspect, change and delete user accounts'
            cand config 'Inspect the configuration'
            cand blacklist 'Prune expired tokens, or count tokens by state'
            cand token 'Revoke tokens and sessions, or list a user''s sessions'
            cand import 'Import users from the service authd replaces'
            cand audit 'Read the audit log: who did what, when, from where'
            cand key 'Generate, list and rotate JWT signing keys'
            cand loadtest 'Load tests for CI: check that throttling holds'
            cand throttle 'Show or clear throttle windows on the shared Redis'
            cand healthcheck 'Ask a running server''s /readyz: exit 0 when ready, 1 otherwise (for container health checks)'
            cand openapi 'Print the OpenAPI document of the HTTP API (as served at /api/schema/)'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'authd;serve'= {
            cand --bind 'Address to listen on, e.g. 0.0.0.0:8000 (overrides http.bind). With neither, $PORT (set by Railway, Heroku, Cloud Run) means 0.0.0.0:$PORT'
            cand --config 'Config file (TOML). Default: $AUTHD_CONFIG, else ./authd.toml if it exists'
            cand --output 'How admin commands print their results'
            cand -v 'Log more to stderr: -v for debug, -vv for trace (RUST_LOG wins when set)'
            cand --verbose 'Log more to stderr: -v for debug, -vv for trace (RUST_LOG wins when set)'
            cand -h 'Print help'
            cand --help 'Print help'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'authd;migrate'= {
            cand --config 'Config file (TOML). Default: $AUTHD_CONFIG, else ./authd.toml if it exists'
            cand --output 'How admin commands print their results'
            cand -v 'Log more to stderr: -v for debug, -vv for trace (RUST_LOG wins when set)'
            cand --verbose 'Log more to stderr: -v for debug, -vv for trace (RUST_LOG wins when set)'
            cand -h 'Print help'
            cand --help 'Print help'
            cand -V 'Print version'
            cand --version 'Print version'
            cand status 'Show every migration: applied (when), pending, or modified'
            cand down 'Run down scripts, newest first, until the schema is at version N (0: empty)'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'authd;migrate;status'= {
            cand --config 'Config file (TOML). Default: $AUTHD_CONFIG, else ./authd.toml if it exists'
            cand --output 'How admin commands print their results'
            cand -v 'Log more to stderr: -v for debug, -vv for trace (RUST_LOG wins when set)'
            cand --verbose 'Log more to stderr: -v for debug, -vv for trace (RUST_LOG wins when set)'
            cand -h 'Print help'
            cand --help 'Print help'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'authd;migrate;down'= {
            cand --to 'The version to stop at'
            cand --config 'Config file (TOML). Default: $AUTHD_CONFIG, else ./authd.toml if it exists'
            cand --output 'How admin commands print their results'
            cand --yes 'Do not ask for confirmation (required when stdin is not a terminal)'
            cand --force 'Revert even while servers are using the database (their requests will fail)'
            cand -v 'Log more to stderr: -v for debug, -vv for trace (RUST_LOG wins when set)'
            cand --verbose 'Log more to stderr: -v for debug, -vv for trace (RUST_LOG wins when set)'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'authd;migrate;help'= {
            cand status 'Show every migration: applied (when), pending, or modified'
            cand down 'Run down scripts, newest first, until the schema is at version N (0: empty)'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'authd;migrate;help;status'= {
        }
        &'authd;migrate;help;down'= {
        }
        &'authd;migrate;help;help'= {
        }
        &'authd;user'= {
            cand --config 'Config file (TOML). Default: $AUTHD_CONFIG, else ./authd.toml if it exists'
            cand --output 'How admin commands print their results'
            cand -v 'Log more to stderr: -v for debug, -vv for trace (RUST_LOG wins when set)'
            cand --verbose 'Log more to stderr: -v for debug, -vv for trace (RUST_LOG wins when set)'
            cand -h 'Print help'
            cand --help 'Print help'
            cand -V 'Print version'
            cand --version 'Print version'
            cand create 'Create an account. The password comes from --password-stdin or a hidden prompt'
            cand list 'List accounts in id order'
            cand show 'Show one account'
            cand update 'Change an account''s full name or flags'
            cand disable 'Disable an account: it can no longer log in, and its sessions and tokens are revoked'
            cand enable 'Enable a disabled account (its old tokens stay revoked)'
            cand set-password 'Set a new password; every existing token of the account stops working'
            cand delete 'Delete an account with its sessions and tokens'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'authd;user;create'= {
            cand --email 'The account''s email address (its login; compared without regard to case)'
            cand --full-name 'The account''s display name'
            cand --config 'Config file (TOML). Default: $AUTHD_CONFIG, else ./authd.toml if it exists'
            cand --output 'How admin commands print their results'
            cand --staff 'Mark the account as staff'
            cand --superuser 'Mark the account as superuser'
            cand --password-stdin 'Read the password from the first line of standard input'
            cand -v 'Log more to stderr: -v for debug, -vv for trace (RUST_LOG wins when set)'
            cand --verbose 'Log more to stderr: -v for debug, -vv for trace (RUST_LOG wins when set)'
            cand -h 'Print help'
            cand --help 'Print help'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'authd;user;list'= {
            cand --search 'Only accounts whose email or full name contains this text (any case)'
            cand --limit 'At most this many accounts'
            cand --after 'Only accounts with a larger id: pass the last id of the previous page to read the next one (each page is an index range, however many accounts there are)'
            cand --config 'Config file (TOML). Default: $AUTHD_CONFIG, else ./authd.toml if it exists'
            cand --output 'How admin commands print their results'
            cand -v 'Log more to stderr: -v for debug, -vv for trace (RUST_LOG wins when set)'
            cand --verbose 'Log more to stderr: -v for debug, -vv for trace (RUST_LOG wins when set)'
            cand -h 'Print help'
            cand --help 'Print help'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'authd;user;show'= {
            cand --config 'Config file (TOML). Default: $AUTHD_CONFIG, else ./authd.toml if it exists'
            cand --output 'How admin commands print their results'
            cand -v 'Log more to stderr: -v for debug, -vv for trace (RUST_LOG wins when set)'
            cand --verbose 'Log more to stderr: -v for debug, -vv for trace (RUST_LOG wins when set)'
            cand -h 'Print help'
            cand --help 'Print help'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'authd;user;update'= {
            cand --full-name 'The new display name ("" clears it)'
            cand --config 'Config file (TOML). Default: $AUTHD_CONFIG, else ./authd.toml if it exists'
            cand --output 'How admin commands print their results'
            cand --staff 'Mark the account as staff'
            cand --no-staff 'Take the staff mark away'
            cand --superuser 'Mark the account as superuser'
            cand --no-superuser 'Take the superuser mark away'
            cand -v 'Log more to stderr: -v for debug, -vv for trace (RUST_LOG wins when set)'
            cand --verbose 'Log more to stderr: -v for debug, -vv for trace (RUST_LOG wins when set)'
            cand -h 'Print help'
            cand --help 'Print help'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'authd;user;disable'= {
            cand --config 'Config file (TOML). Default: $AUTHD_CONFIG, else ./authd.toml if it exists'
            cand --output 'How admin commands print their results'
            cand -v 'Log more to stderr: -v for debug, -vv for trace (RUST_LOG wins when set)'
            cand --verbose 'Log more to stderr: -v for debug, -vv for trace (RUST_LOG wins when set)'
            cand -h 'Print help'
            cand --help 'Print help'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'authd;user;enable'= {
            cand --config 'Config file (TOML). Default: $AUTHD_CONFIG, else ./authd.toml if it exists'
            cand --output 'How admin commands print their results'
            cand -v 'Log more to stderr: -v for debug, -vv for trace (RUST_LOG wins when set)'
            cand --verbose 'Log more to stderr: -v for debug, -vv for trace (RUST_LOG wins when set)'
            cand -h 'Print help'
            cand --help 'Print help'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'authd;user;set-password'= {
            cand --config 'Config file (TOML). Default: $AUTHD_CONFIG, else ./authd.toml if it exists'
            cand --output 'How admin commands print their results'
            cand --password-stdin 'Read the password from the first line of standard input'
            cand -v 'Log more to stderr: -v for debug, -vv for trace (RUST_LOG wins when set)'
            cand --verbose 'Log more to stderr: -v for debug, -vv for trace (RUST_LOG wins when set)'
            cand -h 'Print help'
            cand --help 'Print help'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'authd;user;delete'= {
            cand --config 'Config file (TOML). Default: $AUTHD_CONFIG, else ./authd.toml if it exists'
            cand --output 'How admin commands print their results'
            cand --yes 'Do not ask for confirmation (required when stdin is not a terminal)'
            cand -v 'Log more to stderr: -v for debug, -vv for trace (RUST_LOG wins when set)'
            cand --verbose 'Log more to stderr: -v for debug, -vv for trace (RUST_LOG wins when set)'
            cand -h 'Print help'
            cand --help 'Print help'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'authd;user;help'= {
            cand create 'Create an account. The password comes from --password-stdin or a hidden prompt'
            cand list 'List accounts in id order'
            cand show 'Show one account'
            cand update 'Change an account''s full name or flags'
            cand disable 'Disable an account: it can no longer log in, and its sessions and tokens are revoked'
            cand enable 'Enable a disabled account (its old tokens stay revoked)'
            cand set-password 'Set a new password; every existing token of the account stops working'
            cand delete 'Delete an account with its sessions and tokens'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'authd;user;help;create'= {
        }
        &'authd;user;help;list'= {
        }
        &'authd;user;help;show'= {
        }
        &'authd;user;help;update'= {
        }
        &'authd;user;help;disable'= {
        }
        &'authd;user;help;enable'= {
        }
        &'authd;user;help;set-password'= {
        }
        &'authd;user;help;delete'= {
        }
        &'authd;user;help;help'= {
        }
        &'authd;config'= {
            cand --config 'Config file (TOML). Default: $AUTHD_CONFIG, else ./authd.toml if it exists'
            cand --output 'How admin commands print their results'
            cand -v 'Log more to stderr: -v for debug, -vv for trace (RUST_LOG wins when set)'
            cand --verbose 'Log more to stderr: -v for debug, -vv for trace (RUST_LOG wins when set)'
            cand -h 'Print help'
            cand --help 'Print help'
            cand -V 'Print version'
            cand --version 'Print version'
            cand check 'Validate the configuration and print the effective settings, secrets redacted'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'authd;config;check'= {
            cand --config 'Config file (TOML). Default: $AUTHD_CONFIG, else ./authd.toml if it exists'
            cand --output 'How admin commands print their results'
            cand -v 'Log more to stderr: -v for debug, -vv for trace (RUST_LOG wins when set)'
            cand --verbose 'Log more to stderr: -v for debug, -vv for trace (RUST_LOG wins when set)'
            cand -h 'Print help'
            cand --help 'Print help'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'authd;config;help'= {
            cand check 'Validate the configuration and print the effective settings, secrets redacted'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'authd;config;help;check'= {
        }
        &'authd;config;help;help'= {
        }
        &'authd;blacklist'= {
            cand --config 'Config file (TOML). Default: $AUTHD_CONFIG, else ./authd.toml if it exists'
            cand --output 'How admin commands print their results'
            cand -v 'Log more to stderr: -v for debug, -vv for trace (RUST_LOG wins when set)'
            cand --verbose 'Log more to stderr: -v for debug, -vv for trace (RUST_LOG wins when set)'
            cand -h 'Print help'
            cand --help 'Print help'
            cand -V 'Print version'
            cand --version 'Print version'
            cand prune 'Delete expired refresh tokens (revoked or not), expired reset tokens and empty sessions'
            cand stats 'Count refresh and reset tokens by state (active, revoked, expired)'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'authd;blacklist;prune'= {
            cand --batch-size 'Rows per transaction: smaller batches block a running server for less time'
            cand --config 'Config file (TOML). Default: $AUTHD_CONFIG, else ./authd.toml if it exists'
            cand --output 'How admin commands print their results'
            cand --dry-run 'Count what would be deleted; delete nothing'
            cand -v 'Log more to stderr: -v for debug, -vv for trace (RUST_LOG wins when set)'
            cand --verbose 'Log more to stderr: -v for debug, -vv for trace (RUST_LOG wins when set)'
            cand -h 'Print help'
            cand --help 'Print help'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'authd;blacklist;stats'= {
            cand --config 'Config file (TOML). Default: $AUTHD_CONFIG, else ./authd.toml if it exists'
            cand --output 'How admin commands print their results'
            cand -v 'Log more to stderr: -v for debug, -vv for trace (RUST_LOG wins when set)'
            cand --verbose 'Log more to stderr: -v for debug, -vv for trace (RUST_LOG wins when set)'
            cand -h 'Print help'
            cand --help 'Print help'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'authd;blacklist;help'= {
            cand prune 'Delete expired refresh tokens (revoked or not), expired reset tokens and empty sessions'
            cand stats 'Count refresh and reset tokens by state (active, revoked, expired)'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'authd;blacklist;help;prune'= {
        }
        &'authd;blacklist;help;stats'= {
        }
        &'authd;blacklist;help;help'= {
        }
        &'authd;token'= {
            cand --config 'Config file (TOML). Default: $AUTHD_CONFIG, else ./authd.toml if it exists'
            cand --output 'How admin commands print their results'
            cand -v 'Log more to stderr: -v for debug, -vv for trace (RUST_LOG wins when set)'
            cand --verbose 'Log more to stderr: -v for debug, -vv for trace (RUST_LOG wins when set)'
            cand -h 'Print help'
            cand --help 'Print help'
            cand -V 'Print version'
            cand --version 'Print version'
            cand revoke 'Revoke one refresh token, one session (its refresh and access tokens), or all of a user''s tokens'
            cand list 'List a user''s sessions (created, last refreshed, client IP and user agent of each) and their refresh tokens: issued, expires, state, why revoked'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'authd;token;revoke'= {
            cand --jti 'One refresh token, by its jti'
            cand --session 'One login session (the sid claim): its refresh and access tokens'
            cand --user 'Every session and token of an account, access tokens included'
            cand --config 'Config file (TOML). Default: $AUTHD_CONFIG, else ./authd.toml if it exists'
            cand --output 'How admin commands print their results'
            cand -v 'Log more to stderr: -v for debug, -vv for trace (RUST_LOG wins when set)'
            cand --verbose 'Log more to stderr: -v for debug, -vv for trace (RUST_LOG wins when set)'
            cand -h 'Print help'
            cand --help 'Print help'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'authd;token;list'= {
            cand --user 'The account: its numeric id or its email'
            cand --config 'Config file (TOML). Default: $AUTHD_CONFIG, else ./authd.toml if it exists'
            cand --output 'How admin commands print their results'
            cand --active 'Only sessions that can still be refreshed'
            cand -v 'Log more to stderr: -v for debug, -vv for trace (RUST_LOG wins when set)'
            cand --verbose 'Log more to stderr: -v for debug, -vv for trace (RUST_LOG wins when set)'
            cand -h 'Print help'
            cand --help 'Print help'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'authd;token;help'= {
            cand revoke 'Revoke one refresh token, one session (its refresh and access tokens), or all of a user''s tokens'
            cand list 'List a user''s sessions (created, last refreshed, client IP and user agent of each) and their refresh tokens: issued, expires, state, why revoked'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'authd;token;help;revoke'= {
        }
        &'authd;token;help;list'= {
        }
        &'authd;token;help;help'= {
        }
        &'authd;import'= {
            cand --config 'Config file (TOML). Default: $AUTHD_CONFIG, else ./authd.toml if it exists'
            cand --output 'How admin commands print their results'
            cand -v 'Log more to stderr: -v for debug, -vv for trace (RUST_LOG wins when set)'
            cand --verbose 'Log more to stderr: -v for debug, -vv for trace (RUST_LOG wins when set)'
            cand -h 'Print help'
            cand --help 'Print help'
            cand -V 'Print version'
            cand --version 'Print version'
            cand django 'Import the users of the Django REST Framework + SimpleJWT service authd replaces'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'authd;import;django'= {
            cand --from-database 'The Django database: sqlite://PATH or postgres://user:pass@host/db (read only)'
            cand --from-dumpdata 'A `manage.py dumpdata <app>.<user model> [token_blacklist]` JSON file'
            cand --table 'The user table (default: the one table with id, email, password and last_login columns)'
            cand --on-conflict 'What to do with an account whose id exists already in authd'
            cand --batch-size 'Rows per transaction'
            cand --config 'Config file (TOML). Default: $AUTHD_CONFIG, else ./authd.toml if it exists'
            cand --output 'How admin commands print their results'
            cand --dry-run 'Check everything and report what would happen; write nothing'
            cand -v 'Log more to stderr: -v for debug, -vv for trace (RUST_LOG wins when set)'
            cand --verbose 'Log more to stderr: -v for debug, -vv for trace (RUST_LOG wins when set)'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'authd;import;help'= {
            cand django 'Import the users of the Django REST Framework + SimpleJWT service authd replaces'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'authd;import;help;django'= {
        }
        &'authd;import;help;help'= {
        }
        &'authd;audit'= {
            cand --config 'Config file (TOML). Default: $AUTHD_CONFIG, else ./authd.toml if it exists'
            cand --output 'How admin commands print their results'
            cand -v 'Log more to stderr: -v for debug, -vv for trace (RUST_LOG wins when set)'
            cand --verbose 'Log more to stderr: -v for debug, -vv for trace (RUST_LOG wins when set)'
            cand -h 'Print help'
            cand --help 'Print help'
            cand -V 'Print version'
            cand --version 'Print version'
            cand list 'List events, newest first, that match every filter given'
            cand tail 'Print the last events, oldest first, one per line (NDJSON with --output json); --follow keeps printing new ones'
            cand stats 'Count events by type and outcome (aggregate rows count as many as they stand for), and the IPs with the most failed logins'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'authd;audit;list'= {
            cand --user 'Events of this account: its numeric id, or an email (any case; events of deleted accounts too)'
            cand --type 'Events of this type; repeat for several'
            cand --outcome 'Only successes or only failures'
            cand --ip 'Events of requests from this client IP'
            cand --since 'Events at or after then: a duration before now (2h, 30m, 7d) or an RFC 3339 time'
            cand --until 'Events before then: a duration before now or an RFC 3339 time'
            cand --limit 'At most this many events'
            cand --config 'Config file (TOML). Default: $AUTHD_CONFIG, else ./authd.toml if it exists'
            cand --output 'How admin commands print their results'
            cand -v 'Log more to stderr: -v for debug, -vv for trace (RUST_LOG wins when set)'
            cand --verbose 'Log more to stderr: -v for debug, -vv for trace (RUST_LOG wins when set)'
            cand -h 'Print help'
            cand --help 'Print help'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'authd;audit;tail'= {
            cand -n 'How many of the latest events to print first'
            cand --lines 'How many of the latest events to print first'
            cand --config 'Config file (TOML). Default: $AUTHD_CONFIG, else ./authd.toml if it exists'
            cand --output 'How admin commands print their results'
            cand -f 'Keep printing events as they are stored (polling every second) until interrupted (Ctrl-C or SIGTERM: exit 0)'
            cand --follow 'Keep printing events as they are stored (polling every second) until interrupted (Ctrl-C or SIGTERM: exit 0)'
            cand -v 'Log more to stderr: -v for debug, -vv for trace (RUST_LOG wins when set)'
            cand --verbose 'Log more to stderr: -v for debug, -vv for trace (RUST_LOG wins when set)'
            cand -h 'Print help'
            cand --help 'Print help'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'authd;audit;stats'= {
            cand --since 'Count events since then: a duration before now (24h, 7d) or an RFC 3339 time'
            cand --top 'How many IPs to show'
            cand --config 'Config file (TOML). Default: $AUTHD_CONFIG, else ./authd.toml if it exists'
            cand --output 'How admin commands print their results'
            cand --all 'Count every stored event instead (a scan of the whole table)'
            cand -v 'Log more to stderr: -v for debug, -vv for trace (RUST_LOG wins when set)'
            cand --verbose 'Log more to stderr: -v for debug, -vv for trace (RUST_LOG wins when set)'
            cand -h 'Print help'
            cand --help 'Print help'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'authd;audit;help'= {
            cand list 'List events, newest first, that match every filter given'
            cand tail 'Print the last events, oldest first, one per line (NDJSON with --output json); --follow keeps printing new ones'
            cand stats 'Count events by type and outcome (aggregate rows count as many as they stand for), and the IPs with the most failed logins'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'authd;audit;help;list'= {
        }
        &'authd;audit;help;tail'= {
        }
        &'authd;audit;help;stats'= {
        }
        &'authd;audit;help;help'= {
        }
        &'authd;key'= {
            cand --config 'Config file (TOML). Default: $AUTHD_CONFIG, else ./authd.toml if it exists'
            cand --output 'How admin commands print their results'
            cand -v 'Log more to stderr: -v for debug, -vv for trace (RUST_LOG wins when set)'
            cand --verbose 'Log more to stderr: -v for debug, -vv for trace (RUST_LOG wins when set)'
            cand -h 'Print help'
            cand --help 'Print help'
            cand -V 'Print version'
            cand --version 'Print version'
            cand generate 'Make a new signing key and print its jwt.keys entry: an HS256 secret (to stdout only), or an asymmetric private key written to --out (PKCS#8 PEM, mode 0600)'
            cand list 'List the signing keys in force: id, algorithm, state, which one signs, where each comes from'
            cand rotate 'Make a key the signing one by editing the config file: it moves first in jwt.keys and its state becomes active (default: the key whose state is "next"). Restart authd after'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'authd;key;generate'= {
            cand --id 'The key id (the tokens'' kid); default: k<date>-<random>'
            cand --algorithm 'The key''s algorithm'
            cand --out 'Where to write the private key (asymmetric algorithms; never overwritten)'
            cand --config 'Config file (TOML). Default: $AUTHD_CONFIG, else ./authd.toml if it exists'
            cand --output 'How admin commands print their results'
            cand -v 'Log more to stderr: -v for debug, -vv for trace (RUST_LOG wins when set)'
            cand --verbose 'Log more to stderr: -v for debug, -vv for trace (RUST_LOG wins when set)'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'authd;key;list'= {
            cand --config 'Config file (TOML). Default: $AUTHD_CONFIG, else ./authd.toml if it exists'
            cand --output 'How admin commands print their results'
            cand -v 'Log more to stderr: -v for debug, -vv for trace (RUST_LOG wins when set)'
            cand --verbose 'Log more to stderr: -v for debug, -vv for trace (RUST_LOG wins when set)'
            cand -h 'Print help'
            cand --help 'Print help'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'authd;key;rotate'= {
            cand --id 'The key to make sign (default: the one `next` key)'
            cand --config 'Config file (TOML). Default: $AUTHD_CONFIG, else ./authd.toml if it exists'
            cand --output 'How admin commands print their results'
            cand -v 'Log more to stderr: -v for debug, -vv for trace (RUST_LOG wins when set)'
            cand --verbose 'Log more to stderr: -v for debug, -vv for trace (RUST_LOG wins when set)'
            cand -h 'Print help'
            cand --help 'Print help'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'authd;key;help'= {
            cand generate 'Make a new signing key and print its jwt.keys entry: an HS256 secret (to stdout only), or an asymmetric private key written to --out (PKCS#8 PEM, mode 0600)'
            cand list 'List the signing keys in force: id, algorithm, state, which one signs, where each comes from'
            cand rotate 'Make a key the signing one by editing the config file: it moves first in jwt.keys and its state becomes active (default: the key whose state is "next"). Restart authd after'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'authd;key;help;generate'= {
        }
        &'authd;key;help;list'= {
        }
        &'authd;key;help;rotate'= {
        }
        &'authd;key;help;help'= {
        }
        &'authd;loadtest'= {
            cand --config 'Config file (TOML). Default: $AUTHD_CONFIG, else ./authd.toml if it exists'
            cand --output 'How admin commands print their results'
            cand -v 'Log more to stderr: -v for debug, -vv for trace (RUST_LOG wins when set)'
            cand --verbose 'Log more to stderr: -v for debug, -vv for trace (RUST_LOG wins when set)'
            cand -h 'Print help'
            cand --help 'Print help'
            cand -V 'Print version'
            cand --version 'Print version'
            cand ratelimit 'Check that a throttle scope lets exactly the expected number of requests through'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'authd;loadtest;ratelimit'= {
            cand --url 'Base URL of an authd instance, e.g. http://127.0.0.1:8000 (repeat to spread requests over several)'
            cand --scope 'The throttle scope to check (password_change needs an account and cannot be checked)'
            cand --requests 'Requests to send (all within one window of the rule)'
            cand --concurrency 'Requests in flight at once'
            cand --expect 'How many must pass; default: the limit the server announces for the scope (RateLimit-Policy)'
            cand --email 'The email login and password_reset requests use; default: a fresh one per run'
            cand --forwarded-for 'Send X-Forwarded-For with this client address (to test behind a trusted proxy)'
            cand --source-ip 'Connect from this local address; default on loopback: a fresh one in 127.0.0.0/8 per run, so the run spends neither your own quota nor an earlier run''s'
            cand --duration 'Run for this long (e.g. 10s) to measure throughput, instead of checking the limit'
            cand --config 'Config file (TOML). Default: $AUTHD_CONFIG, else ./authd.toml if it exists'
            cand --output 'How admin commands print their results'
            cand -v 'Log more to stderr: -v for debug, -vv for trace (RUST_LOG wins when set)'
            cand --verbose 'Log more to stderr: -v for debug, -vv for trace (RUST_LOG wins when set)'
            cand -h 'Print help'
            cand --help 'Print help'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'authd;loadtest;help'= {
            cand ratelimit 'Check that a throttle scope lets exactly the expected number of requests through'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'authd;loadtest;help;ratelimit'= {
        }
        &'authd;loadtest;help;help'= {
        }
        &'authd;throttle'= {
            cand --config 'Config file (TOML). Default: $AUTHD_CONFIG, else ./authd.toml if it exists'
            cand --output 'How admin commands print their results'
            cand -v 'Log more to stderr: -v for debug, -vv for trace (RUST_LOG wins when set)'
            cand --verbose 'Log more to stderr: -v for debug, -vv for trace (RUST_LOG wins when set)'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
            cand show 'Show the windows of a scope: requests counted, remaining, seconds until a slot frees'
            cand clear 'Delete windows, unlocking whoever they lock out'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'authd;throttle;show'= {
            cand --scope 'The throttle scope whose windows to act on'
            cand --email 'Only windows of this email (login and password_reset)'
            cand --ip 'Only windows of this client IP (an IPv6 address stands for its network, see throttle.ipv6_prefix)'
            cand --user 'Only the window of this user id (password_change)'
            cand --config 'Config file (TOML). Default: $AUTHD_CONFIG, else ./authd.toml if it exists'
            cand --output 'How admin commands print their results'
            cand -v 'Log more to stderr: -v for debug, -vv for trace (RUST_LOG wins when set)'
            cand --verbose 'Log more to stderr: -v for debug, -vv for trace (RUST_LOG wins when set)'
            cand -h 'Print help'
            cand --help 'Print help'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'authd;throttle;clear'= {
            cand --scope 'The throttle scope whose windows to act on'
            cand --email 'Only windows of this email (login and password_reset)'
            cand --ip 'Only windows of this client IP (an IPv6 address stands for its network, see throttle.ipv6_prefix)'
            cand --user 'Only the window of this user id (password_change)'
            cand --config 'Config file (TOML). Default: $AUTHD_CONFIG, else ./authd.toml if it exists'
            cand --output 'How admin commands print their results'
            cand --all 'Clear every window of the scope (needed when neither --email nor --ip is given)'
            cand -v 'Log more to stderr: -v for debug, -vv for trace (RUST_LOG wins when set)'
            cand --verbose 'Log more to stderr: -v for debug, -vv for trace (RUST_LOG wins when set)'
            cand -h 'Print help'
            cand --help 'Print help'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'authd;throttle;help'= {
            cand show 'Show the windows of a scope: requests counted, remaining, seconds until a slot frees'
            cand clear 'Delete windows, unlocking whoever they lock out'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'authd;throttle;help;show'= {
        }
        &'authd;throttle;help;clear'= {
        }
        &'authd;throttle;help;help'= {
        }
        &'authd;healthcheck'= {
            cand --url 'The readiness URL to ask. Default: /readyz on http.bind''s address ($PORT honoured as by serve; 0.0.0.0 and :: asked on loopback)'
            cand --timeout 'How long to wait for the whole answer, e.g. 3s or 500ms'
            cand --config 'Config file (TOML). Default: $AUTHD_CONFIG, else ./authd.toml if it exists'
            cand --output 'How admin commands print their results'
            cand -v 'Log more to stderr: -v for debug, -vv for trace (RUST_LOG wins when set)'
            cand --verbose 'Log more to stderr: -v for debug, -vv for trace (RUST_LOG wins when set)'
            cand -h 'Print help'
            cand --help 'Print help'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'authd;openapi'= {
            cand --out 'Write the document to FILE instead of standard output'
            cand --config 'Config file (TOML). Default: $AUTHD_CONFIG, else ./authd.toml if it exists'
            cand --output 'How admin commands print their results'
            cand -v 'Log more to stderr: -v for debug, -vv for trace (RUST_LOG wins when set)'
            cand --verbose 'Log more to stderr: -v for debug, -vv for trace (RUST_LOG wins when set)'
            cand -h 'Print help'
            cand --help 'Print help'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'authd;help'= {
            cand serve 'Run the HTTP service'
            cand migrate 'Apply pending database migrations (or show them, or roll back)'
            cand user 'Create, inspect, change and delete user accounts'
            cand config 'Inspect the configuration'
            cand blacklist 'Prune expired tokens, or count tokens by state'
            cand token 'Revoke tokens and sessions, or list a user''s sessions'
            cand import 'Import users from the service authd replaces'
            cand audit 'Read the audit log: who did what, when, from where'
            cand key 'Generate, list and rotate JWT signing keys'
            cand loadtest 'Load tests for CI: check that throttling holds'
            cand throttle 'Show or clear throttle windows on the shared Redis'
            cand healthcheck 'Ask a running server''s /readyz: exit 0 when ready, 1 otherwise (for container health checks)'
            cand openapi 'Print the OpenAPI document of the HTTP API (as served at /api/schema/)'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'authd;help;serve'= {
        }
        &'authd;help;migrate'= {
            cand status 'Show every migration: applied (when), pending, or modified'
            cand down 'Run down scripts, newest first, until the schema is at version N (0: empty)'
        }
        &'authd;help;migrate;status'= {
        }
        &'authd;help;migrate;down'= {
        }
        &'authd;help;user'= {
            cand create 'Create an account. The password comes from --password-stdin or a hidden prompt'
            cand list 'List accounts in id order'
            cand show 'Show one account'
            cand update 'Change an account''s full name or flags'
            cand disable 'Disable an account: it can no longer log in, and its sessions and tokens are revoked'
            cand enable 'Enable a disabled account (its old tokens stay revoked)'
            cand set-password 'Set a new password; every existing token of the account stops working'
            cand delete 'Delete an account with its sessions and tokens'
        }
        &'authd;help;user;create'= {
        }
        &'authd;help;user;list'= {
        }
        &'authd;help;user;show'= {
        }
        &'authd;help;user;update'= {
        }
        &'authd;help;user;disable'= {
        }
        &'authd;help;user;enable'= {
        }
        &'authd;help;user;set-password'= {
        }
        &'authd;help;user;delete'= {
        }
        &'authd;help;config'= {
            cand check 'Validate the configuration and print the effective settings, secrets redacted'
        }
        &'authd;help;config;check'= {
        }
        &'authd;help;blacklist'= {
            cand prune 'Delete expired refresh tokens (revoked or not), expired reset tokens and empty sessions'
            cand stats 'Count refresh and reset tokens by state (active, revoked, expired)'
        }
        &'authd;help;blacklist;prune'= {
        }
        &'authd;help;blacklist;stats'= {
        }
        &'authd;help;token'= {
            cand revoke 'Revoke one refresh token, one session (its refresh and access tokens), or all of a user''s tokens'
            cand list 'List a user''s sessions (created, last refreshed, client IP and user agent of each) and their refresh tokens: issued, expires, state, why revoked'
        }
        &'authd;help;token;revoke'= {
        }
        &'authd;help;token;list'= {
        }
        &'authd;help;import'= {
            cand django 'Import the users of the Django REST Framework + SimpleJWT service authd replaces'
        }
        &'authd;help;import;django'= {
        }
        &'authd;help;audit'= {
            cand list 'List events, newest first, that match every filter given'
            cand tail 'Print the last events, oldest first, one per line (NDJSON with --output json); --follow keeps printing new ones'
            cand stats 'Count events by type and outcome (aggregate rows count as many as they stand for), and the IPs with the most failed logins'
        }
        &'authd;help;audit;list'= {
        }
        &'authd;help;audit;tail'= {
        }
        &'authd;help;audit;stats'= {
        }
        &'authd;help;key'= {
            cand generate 'Make a new signing key and print its jwt.keys entry: an HS256 secret (to stdout only), or an asymmetric private key written to --out (PKCS#8 PEM, mode 0600)'
            cand list 'List the signing keys in force: id, algorithm, state, which one signs, where each comes from'
            cand rotate 'Make a key the signing one by editing the config file: it moves first in jwt.keys and its state becomes active (default: the key whose state is "next"). Restart authd after'
        }
        &'authd;help;key;generate'= {
        }
        &'authd;help;key;list'= {
        }
        &'authd;help;key;rotate'= {
        }
        &'authd;help;loadtest'= {
            cand ratelimit 'Check that a throttle scope lets exactly the expected number of requests through'
        }
        &'authd;help;loadtest;ratelimit'= {
        }
        &'authd;help;throttle'= {
            cand show 'Show the windows of a scope: requests counted, remaining, seconds until a slot frees'
            cand clear 'Delete windows, unlocking whoever they lock out'
        }
        &'authd;help;throttle;show'= {
        }
        &'authd;help;throttle;clear'= {
        }
        &'authd;help;healthcheck'= {
        }
        &'authd;help;openapi'= {
        }
        &'authd;help;help'= {
        }
    ]
    $completions[$command]
}
