# Print an optspec for argparse to handle cmd's options that are independent of any subcommand.
function __fish_authd_global_optspecs
    string join \n config= output= v/verbose h/help V/version
end

function __fish_authd_needs_command
    # Figure out if the current invocation already has a command.
    set -l cmd (commandline -opc)
    set -e cmd[1]
    argparse -s (__fish_authd_global_optspecs) -- $cmd 2>/dev/null
    or return
    if set -q argv[1]
        # Also print the command, so this can be used to figure out what it is.
        echo $argv[1]
        return 1
    end
    return 0
end

function __fish_authd_using_subcommand
    set -l cmd (__fish_authd_needs_command)
    test -z "$cmd"
    and return 1
    contains -- $cmd[1] $argv
end

complete -c authd -n "__fish_authd_needs_command" -l config -d 'Config file (TOML). Default: $AUTHD_CONFIG, else ./authd.toml if it exists' -r -F
complete -c authd -n "__fish_authd_needs_command" -l output -d 'How admin commands print their results' -r -f -a "table\t''
json\t''"
complete -c authd -n "__fish_authd_needs_command" -s v -l verbose -d 'Log more to stderr: -v for debug, -vv for trace (RUST_LOG wins when set)'
complete -c authd -n "__fish_authd_needs_command" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c authd -n "__fish_authd_needs_command" -s V -l version -d 'Print version'
complete -c authd -n "__fish_authd_needs_command" -f -a "serve" -d 'Run the HTTP service'
complete -c authd -n "__fish_authd_needs_command" -f -a "migrate" -d 'Apply pending database migrations (or show them, or roll back)'
complete -c authd -n "__fish_authd_needs_command" -f -a "user" -d 'Create, inspect, change and delete user accounts'
complete -c authd -n "__fish_authd_needs_command" -f -a "config" -d 'Inspect the configuration'
complete -c authd -n "__fish_authd_needs_command" -f -a "blacklist" -d 'Prune expired tokens, or count tokens by state'
complete -c authd -n "__fish_authd_needs_command" -f -a "token" -d 'Revoke tokens and sessions, or list a user\'s sessions'
complete -c authd -n "__fish_authd_needs_command" -f -a "import" -d 'Import users from the service authd replaces'
complete -c authd -n "__fish_authd_needs_command" -f -a "audit" -d 'Read the audit log: who did what, when, from where'
complete -c authd -n "__fish_authd_needs_command" -f -a "key" -d 'Generate, list and rotate JWT signing keys'
complete -c authd -n "__fish_authd_needs_command" -f -a "loadtest" -d 'Load tests for CI: check that throttling holds'
complete -c authd -n "__fish_authd_needs_command" -f -a "throttle" -d 'Show or clear throttle windows on the shared Redis'
complete -c authd -n "__fish_authd_needs_command" -f -a "healthcheck" -d 'Ask a running server\'s /readyz: exit 0 when ready, 1 otherwise (for container health checks)'
complete -c authd -n "__fish_authd_needs_command" -f -a "openapi" -d 'Print the OpenAPI document of the HTTP API (as served at /api/schema/)'
complete -c authd -n "__fish_authd_needs_command" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c authd -n "__fish_authd_using_subcommand serve" -l bind -d 'Address to listen on, e.g. 0.0.0.0:8000 (overrides http.bind). With neither, $PORT (set by Railway, Heroku, Cloud Run) means 0.0.0.0:$PORT' -r
complete -c authd -n "__fish_authd_using_subcommand serve" -l config -d 'Config file (TOML). Default: $AUTHD_CONFIG, else ./authd.toml if it exists' -r -F
complete -c authd -n "__fish_authd_using_subcommand serve" -l output -d 'How admin commands print their results' -r -f -a "table\t''
json\t''"
complete -c authd -n "__fish_authd_using_subcommand serve" -s v -l verbose -d 'Log more to stderr: -v for debug, -vv for trace (RUST_LOG wins when set)'
complete -c authd -n "__fish_authd_using_subcommand serve" -s h -l help -d 'Print help'
complete -c authd -n "__fish_authd_using_subcommand serve" -s V -l version -d 'Print version'
complete -c authd -n "__fish_authd_using_subcommand migrate; and not __fish_seen_subcommand_from status down help" -l config -d 'Config file (TOML). Default: $AUTHD_CONFIG, else ./authd.toml if it exists' -r -F
complete -c authd -n "__fish_authd_using_subcommand migrate; and not __fish_seen_subcommand_from status down help" -l output -d 'How admin commands print their results' -r -f -a "table\t''
json\t''"
complete -c authd -n "__fish_authd_using_subcommand migrate; and not __fish_seen_subcommand_from status down help" -s v -l verbose -d 'Log more to stderr: -v for debug, -vv for trace (RUST_LOG wins when set)'
complete -c authd -n "__fish_authd_using_subcommand migrate; and not __fish_seen_subcommand_from status down help" -s h -l help -d 'Print help'
complete -c authd -n "__fish_authd_using_subcommand migrate; and not __fish_seen_subcommand_from status down help" -s V -l version -d 'Print version'
complete -c authd -n "__fish_authd_using_subcommand migrate; and not __fish_seen_subcommand_from status down help" -f -a "status" -d 'Show every migration: applied (when), pending, or modified'
complete -c authd -n "__fish_authd_using_subcommand migrate; and not __fish_seen_subcommand_from status down help" -f -a "down" -d 'Run down scripts, newest first, until the schema is at version N (0: empty)'
complete -c authd -n "__fish_authd_using_subcommand migrate; and not __fish_seen_subcommand_from status down help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c authd -n "__fish_authd_using_subcommand migrate; and __fish_seen_subcommand_from status" -l config -d 'Config file (TOML). Default: $AUTHD_CONFIG, else ./authd.toml if it exists' -r -F
complete -c authd -n "__fish_authd_using_subcommand migrate; and __fish_seen_subcommand_from status" -l output -d 'How admin commands print their results' -r -f -a "table\t''
json\t''"
complete -c authd -n "__fish_authd_using_subcommand migrate; and __fish_seen_subcommand_from status" -s v -l verbose -d 'Log more to stderr: -v for debug, -vv for trace (RUST_LOG wins when set)'
complete -c authd -n "__fish_authd_using_subcommand migrate; and __fish_seen_subcommand_from status" -s h -l help -d 'Print help'
complete -c authd -n "__fish_authd_using_subcommand migrate; and __fish_seen_subcommand_from status" -s V -l version -d 'Print version'
complete -c authd -n "__fish_authd_using_subcommand migrate; and __fish_seen_subcommand_from down" -l to -d 'The version to stop at' -r
complete -c authd -n "__fish_authd_using_subcommand migrate; and __fish_seen_subcommand_from down" -l config -d 'Config file (TOML). Default: $AUTHD_CONFIG, else ./authd.toml if it exists' -r -F
complete -c authd -n "__fish_authd_using_subcommand migrate; and __fish_seen_subcommand_from down" -l output -d 'How admin commands print their results' -r -f -a "table\t''
json\t''"
complete -c authd -n "__fish_authd_using_subcommand migrate; and __fish_seen_subcommand_from down" -l yes -d 'Do not ask for confirmation (required when stdin is not a terminal)'
complete -c authd -n "__fish_authd_using_subcommand migrate; and __fish_seen_subcommand_from down" -l force -d 'Revert even while servers are using the database (their requests will fail)'
complete -c authd -n "__fish_authd_using_subcommand migrate; and __fish_seen_subcommand_from down" -s v -l verbose -d 'Log more to stderr: -v for debug, -vv for trace (RUST_LOG wins when set)'
complete -c authd -n "__fish_authd_using_subcommand migrate; and __fish_seen_subcommand_from down" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c authd -n "__fish_authd_using_subcommand migrate; and __fish_seen_subcommand_from down" -s V -l version -d 'Print version'
complete -c authd -n "__fish_authd_using_subcommand migrate; and __fish_seen_subcommand_from help" -f -a "status" -d 'Show every migration: applied (when), pending, or modified'
complete -c authd -n "__fish_authd_using_subcommand migrate; and __fish_seen_subcommand_from help" -f -a "down" -d 'Run down scripts, newest first, until the schema is at version N (0: empty)'
complete -c authd -n "__fish_authd_using_subcommand migrate; and __fish_seen_subcommand_from help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c authd -n "__fish_authd_using_subcommand user; and not __fish_seen_subcommand_from create list show update disable enable set-password delete help" -l config -d 'Config file (TOML). Default: $AUTHD_CONFIG, else ./authd.toml if it exists' -r -F
complete -c authd -n "__fish_authd_using_subcommand user; and not __fish_seen_subcommand_from create list show update disable enable set-password delete help" -l output -d 'How admin commands print their results' -r -f -a "table\t''
json\t''"
complete -c authd -n "__fish_authd_using_subcommand user; and not __fish_seen_subcommand_from create list show update disable enable set-password delete help" -s v -l verbose -d 'Log more to stderr: -v for debug, -vv for trace (RUST_LOG wins when set)'
complete -c authd -n "__fish_authd_using_subcommand user; and not __fish_seen_subcommand_from create list show update disable enable set-password delete help" -s h -l help -d 'Print help'
complete -c authd -n "__fish_authd_using_subcommand user; and not __fish_seen_subcommand_from create list show update disable enable set-password delete help" -s V -l version -d 'Print version'
complete -c authd -n "__fish_authd_using_subcommand user; and not __fish_seen_subcommand_from create list show update disable enable set-password delete help" -f -a "create" -d 'Create an account. The password comes from --password-stdin or a hidden prompt'
complete -c authd -n "__fish_authd_using_subcommand user; and not __fish_seen_subcommand_from create list show update disable enable set-password delete help" -f -a "list" -d 'List accounts in id order'
complete -c authd -n "__fish_authd_using_subcommand user; and not __fish_seen_subcommand_from create list show update disable enable set-password delete help" -f -a "show" -d 'Show one account'
complete -c authd -n "__fish_authd_using_subcommand user; and not __fish_seen_subcommand_from create list show update disable enable set-password delete help" -f -a "update" -d 'Change an account\'s full name or flags'
complete -c authd -n "__fish_authd_using_subcommand user; and not __fish_seen_subcommand_from create list show update disable enable set-password delete help" -f -a "disable" -d 'Disable an account: it can no longer log in, and its sessions and tokens are revoked'
complete -c authd -n "__fish_authd_using_subcommand user; and not __fish_seen_subcommand_from create list show update disable enable set-password delete help" -f -a "enable" -d 'Enable a disabled account (its old tokens stay revoked)'
complete -c authd -n "__fish_authd_using_subcommand user; and not __fish_seen_subcommand_from create list show update disable enable set-password delete help" -f -a "set-password" -d 'Set a new password; every existing token of the account stops working'
complete -c authd -n "__fish_authd_using_subcommand user; and not __fish_seen_subcommand_from create list show update disable enable set-password delete help" -f -a "delete" -d 'Delete an account with its sessions and tokens'
complete -c authd -n "__fish_authd_using_subcommand user; and not __fish_seen_subcommand_from create list show update disable enable set-password delete help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c authd -n "__fish_authd_using_subcommand user; and __fish_seen_subcommand_from create" -l email -d 'The account\'s email address (its login; compared without regard to case)' -r
complete -c authd -n "__fish_authd_using_subcommand user; and __fish_seen_subcommand_from create" -l full-name -d 'The account\'s display name' -r
complete -c authd -n "__fish_authd_using_subcommand user; and __fish_seen_subcommand_from create" -l config -d 'Config file (TOML). Default: $AUTHD_CONFIG, else ./authd.toml if it exists' -r -F
complete -c authd -n "__fish_authd_using_subcommand user; and __fish_seen_subcommand_from create" -l output -d 'How admin commands print their results' -r -f -a "table\t''
json\t''"
complete -c authd -n "__fish_authd_using_subcommand user; and __fish_seen_subcommand_from create" -l staff -d 'Mark the account as staff'
complete -c authd -n "__fish_authd_using_subcommand user; and __fish_seen_subcommand_from create" -l superuser -d 'Mark the account as superuser'
complete -c authd -n "__fish_authd_using_subcommand user; and __fish_seen_subcommand_from create" -l password-stdin -d 'Read the password from the first line of standard input'
complete -c authd -n "__fish_authd_using_subcommand user; and __fish_seen_subcommand_from create" -s v -l verbose -d 'Log more to stderr: -v for debug, -vv for trace (RUST_LOG wins when set)'
complete -c authd -n "__fish_authd_using_subcommand user; and __fish_seen_subcommand_from create" -s h -l help -d 'Print help'
complete -c authd -n "__fish_authd_using_subcommand user; and __fish_seen_subcommand_from create" -s V -l version -d 'Print version'
complete -c authd -n "__fish_authd_using_subcommand user; and __fish_seen_subcommand_from list" -l search -d 'Only accounts whose email or full name contains this text (any case)' -r
complete -c authd -n "__fish_authd_using_subcommand user; and __fish_seen_subcommand_from list" -l limit -d 'At most this many accounts' -r
complete -c authd -n "__fish_authd_using_subcommand user; and __fish_seen_subcommand_from list" -l after -d 'Only accounts with a larger id: pass the last id of the previous page to read the next one (each page is an index range, however many accounts there are)' -r
complete -c authd -n "__fish_authd_using_subcommand user; and __fish_seen_subcommand_from list" -l config -d 'Config file (TOML). Default: $AUTHD_CONFIG, else ./authd.toml if it exists' -r -F
complete -c authd -n "__fish_authd_using_subcommand user; and __fish_seen_subcommand_from list" -l output -d 'How admin commands print their results' -r -f -a "table\t''
json\t''"
complete -c authd -n "__fish_authd_using_subcommand user; and __fish_seen_subcommand_from list" -s v -l verbose -d 'Log more to stderr: -v for debug, -vv for trace (RUST_LOG wins when set)'
complete -c authd -n "__fish_authd_using_subcommand user; and __fish_seen_subcommand_from list" -s h -l help -d 'Print help'
complete -c authd -n "__fish_authd_using_subcommand user; and __fish_seen_subcommand_from list" -s V -l version -d 'Print version'
complete -c authd -n "__fish_authd_using_subcommand user; and __fish_seen_subcommand_from show" -l config -d 'Config file (TOML). Default: $AUTHD_CONFIG, else ./authd.toml if it exists' -r -F
complete -c authd -n "__fish_authd_using_subcommand user; and __fish_seen_subcommand_from show" -l output -d 'How admin commands print their results' -r -f -a "table\t''
json\t''"
complete -c authd -n "__fish_authd_using_subcommand user; and __fish_seen_subcommand_from show" -s v -l verbose -d 'Log more to stderr: -v for debug, -vv for trace (RUST_LOG wins when set)'
complete -c authd -n "__fish_authd_using_subcommand user; and __fish_seen_subcommand_from show" -s h -l help -d 'Print help'
complete -c authd -n "__fish_authd_using_subcommand user; and __fish_seen_subcommand_from show" -s V -l version -d 'Print version'
complete -c authd -n "__fish_authd_using_subcommand user; and __fish_seen_subcommand_from update" -l full-name -d 'The new display name ("" clears it)' -r
complete -c authd -n "__fish_authd_using_subcommand user; and __fish_seen_subcommand_from update" -l config -d 'Config file (TOML). Default: $AUTHD_CONFIG, else ./authd.toml if it exists' -r -F
complete -c authd -n "__fish_authd_using_subcommand user; and __fish_seen_subcommand_from update" -l output -d 'How admin commands print their results' -r -f -a "table\t''
json\t''"
complete -c authd -n "__fish_authd_using_subcommand user; and __fish_seen_subcommand_from update" -l staff -d 'Mark the account as staff'
complete -c authd -n "__fish_authd_using_subcommand user; and __fish_seen_subcommand_from update" -l no-staff -d 'Take the staff mark away'
complete -c authd -n "__fish_authd_using_subcommand user; and __fish_seen_subcommand_from update" -l superuser -d 'Mark the account as superuser'
complete -c authd -n "__fish_authd_using_subcommand user; and __fish_seen_subcommand_from update" -l no-superuser -d 'Take the superuser mark away'
complete -c authd -n "__fish_authd_using_subcommand user; and __fish_seen_subcommand_from update" -s v -l verbose -d 'Log more to stderr: -v for debug, -vv for trace (RUST_LOG wins when set)'
complete -c authd -n "__fish_authd_using_subcommand user; and __fish_seen_subcommand_from update" -s h -l help -d 'Print help'
complete -c authd -n "__fish_authd_using_subcommand user; and __fish_seen_subcommand_from update" -s V -l version -d 'Print version'
complete -c authd -n "__fish_authd_using_subcommand user; and __fish_seen_subcommand_from disable" -l config -d 'Config file (TOML). Default: $AUTHD_CONFIG, else ./authd.toml if it exists' -r -F
complete -c authd -n "__fish_authd_using_subcommand user; and __fish_seen_subcommand_from disable" -l output -d 'How admin commands print their results' -r -f -a "table\t''
json\t''"
complete -c authd -n "__fish_authd_using_subcommand user; and __fish_seen_subcommand_from disable" -s v -l verbose -d 'Log more to stderr: -v for debug, -vv for trace (RUST_LOG wins when set)'
complete -c authd -n "__fish_authd_using_subcommand user; and __fish_seen_subcommand_from disable" -s h -l help -d 'Print help'
complete -c authd -n "__fish_authd_using_subcommand user; and __fish_seen_subcommand_from disable" -s V -l version -d 'Print version'
complete -c authd -n "__fish_authd_using_subcommand user; and __fish_seen_subcommand_from enable" -l config -d 'Config file (TOML). Default: $AUTHD_CONFIG, else ./authd.toml if it exists' -r -F
complete -c authd -n "__fish_authd_using_subcommand user; and __fish_seen_subcommand_from enable" -l output -d 'How admin commands print their results' -r -f -a "table\t''
json\t''"
complete -c authd -n "__fish_authd_using_subcommand user; and __fish_seen_subcommand_from enable" -s v -l verbose -d 'Log more to stderr: -v for debug, -vv for trace (RUST_LOG wins when set)'
complete -c authd -n "__fish_authd_using_subcommand user; and __fish_seen_subcommand_from enable" -s h -l help -d 'Print help'
complete -c authd -n "__fish_authd_using_subcommand user; and __fish_seen_subcommand_from enable" -s V -l version -d 'Print version'
complete -c authd -n "__fish_authd_using_subcommand user; and __fish_seen_subcommand_from set-password" -l config -d 'Config file (TOML). Default: $AUTHD_CONFIG, else ./authd.toml if it exists' -r -F
complete -c authd -n "__fish_authd_using_subcommand user; and __fish_seen_subcommand_from set-password" -l output -d 'How admin commands print their results' -r -f -a "table\t''
json\t''"
complete -c authd -n "__fish_authd_using_subcommand user; and __fish_seen_subcommand_from set-password" -l password-stdin -d 'Read the password from the first line of standard input'
complete -c authd -n "__fish_authd_using_subcommand user; and __fish_seen_subcommand_from set-password" -s v -l verbose -d 'Log more to stderr: -v for debug, -vv for trace (RUST_LOG wins when set)'
complete -c authd -n "__fish_authd_using_subcommand user; and __fish_seen_subcommand_from set-password" -s h -l help -d 'Print help'
complete -c authd -n "__fish_authd_using_subcommand user; and __fish_seen_subcommand_from set-password" -s V -l version -d 'Print version'
complete -c authd -n "__fish_authd_using_subcommand user; and __fish_seen_subcommand_from delete" -l config -d 'Config file (TOML). Default: $AUTHD_CONFIG, else ./authd.toml if it exists' -r -F
complete -c authd -n "__fish_authd_using_subcommand user; and __fish_seen_subcommand_from delete" -l output -d 'How admin commands print their results' -r -f -a "table\t''
json\t''"
complete -c authd -n "__fish_authd_using_subcommand user; and __fish_seen_subcommand_from delete" -l yes -d 'Do not ask for confirmation (required when stdin is not a terminal)'
complete -c authd -n "__fish_authd_using_subcommand user; and __fish_seen_subcommand_from delete" -s v -l verbose -d 'Log more to stderr: -v for debug, -vv for trace (RUST_LOG wins when set)'
complete -c authd -n "__fish_authd_using_subcommand user; and __fish_seen_subcommand_from delete" -s h -l help -d 'Print help'
complete -c authd -n "__fish_authd_using_subcommand user; and __fish_seen_subcommand_from delete" -s V -l version -d 'Print version'
complete -c authd -n "__fish_authd_using_subcommand user; and __fish_seen_subcommand_from help" -f -a "create" -d 'Create an account. The password comes from --password-stdin or a hidden prompt'
complete -c authd -n "__fish_authd_using_subcommand user; and __fish_seen_subcommand_from help" -f -a "list" -d 'List accounts in id order'
complete -c authd -n "__fish_authd_using_subcommand user; and __fish_seen_subcommand_from help" -f -a "show" -d 'Show one account'
complete -c authd -n "__fish_authd_using_subcommand user; and __fish_seen_subcommand_from help" -f -a "update" -d 'Change an account\'s full name or flags'
complete -c authd -n "__fish_authd_using_subcommand user; and __fish_seen_subcommand_from help" -f -a "disable" -d 'Disable an account: it can no longer log in, and its sessions and tokens are revoked'
complete -c authd -n "__fish_authd_using_subcommand user; and __fish_seen_subcommand_from help" -f -a "enable" -d 'Enable a disabled account (its old tokens stay revoked)'
complete -c authd -n "__fish_authd_using_subcommand user; and __fish_seen_subcommand_from help" -f -a "set-password" -d 'Set a new password; every existing token of the account stops working'
complete -c authd -n "__fish_authd_using_subcommand user; and __fish_seen_subcommand_from help" -f -a "delete" -d 'Delete an account with its sessions and tokens'
complete -c authd -n "__fish_authd_using_subcommand user; and __fish_seen_subcommand_from help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c authd -n "__fish_authd_using_subcommand config; and not __fish_seen_subcommand_from check help" -l config -d 'Config file (TOML). Default: $AUTHD_CONFIG, else ./authd.toml if it exists' -r -F
complete -c authd -n "__fish_authd_using_subcommand config; and not __fish_seen_subcommand_from check help" -l output -d 'How admin commands print their results' -r -f -a "table\t''
json\t''"
complete -c authd -n "__fish_authd_using_subcommand config; and not __fish_seen_subcommand_from check help" -s v -l verbose -d 'Log more to stderr: -v for debug, -vv for trace (RUST_LOG wins when set)'
complete -c authd -n "__fish_authd_using_subcommand config; and not __fish_seen_subcommand_from check help" -s h -l help -d 'Print help'
complete -c authd -n "__fish_authd_using_subcommand config; and not __fish_seen_subcommand_from check help" -s V -l version -d 'Print version'
complete -c authd -n "__fish_authd_using_subcommand config; and not __fish_seen_subcommand_from check help" -f -a "check" -d 'Validate the configuration and print the effective settings, secrets redacted'
complete -c authd -n "__fish_authd_using_subcommand config; and not __fish_seen_subcommand_from check help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c authd -n "__fish_authd_using_subcommand config; and __fish_seen_subcommand_from check" -l config -d 'Config file (TOML). Default: $AUTHD_CONFIG, else ./authd.toml if it exists' -r -F
complete -c authd -n "__fish_authd_using_subcommand config; and __fish_seen_subcommand_from check" -l output -d 'How admin commands print their results' -r -f -a "table\t''
json\t''"
complete -c authd -n "__fish_authd_using_subcommand config; and __fish_seen_subcommand_from check" -s v -l verbose -d 'Log more to stderr: -v for debug, -vv for trace (RUST_LOG wins when set)'
complete -c authd -n "__fish_authd_using_subcommand config; and __fish_seen_subcommand_from check" -s h -l help -d 'Print help'
complete -c authd -n "__fish_authd_using_subcommand config; and __fish_seen_subcommand_from check" -s V -l version -d 'Print version'
complete -c authd -n "__fish_authd_using_subcommand config; and __fish_seen_subcommand_from help" -f -a "check" -d 'Validate the configuration and print the effective settings, secrets redacted'
complete -c authd -n "__fish_authd_using_subcommand config; and __fish_seen_subcommand_from help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c authd -n "__fish_authd_using_subcommand blacklist; and not __fish_seen_subcommand_from prune stats help" -l config -d 'Config file (TOML). Default: $AUTHD_CONFIG, else ./authd.toml if it exists' -r -F
complete -c authd -n "__fish_authd_using_subcommand blacklist; and not __fish_seen_subcommand_from prune stats help" -l output -d 'How admin commands print their results' -r -f -a "table\t''
json\t''"
complete -c authd -n "__fish_authd_using_subcommand blacklist; and not __fish_seen_subcommand_from prune stats help" -s v -l verbose -d 'Log more to stderr: -v for debug, -vv for trace (RUST_LOG wins when set)'
complete -c authd -n "__fish_authd_using_subcommand blacklist; and not __fish_seen_subcommand_from prune stats help" -s h -l help -d 'Print help'
complete -c authd -n "__fish_authd_using_subcommand blacklist; and not __fish_seen_subcommand_from prune stats help" -s V -l version -d 'Print version'
complete -c authd -n "__fish_authd_using_subcommand blacklist; and not __fish_seen_subcommand_from prune stats help" -f -a "prune" -d 'Delete expired refresh tokens (revoked or not), expired reset tokens and empty sessions'
complete -c authd -n "__fish_authd_using_subcommand blacklist; and not __fish_seen_subcommand_from prune stats help" -f -a "stats" -d 'Count refresh and reset tokens by state (active, revoked, expired)'
complete -c authd -n "__fish_authd_using_subcommand blacklist; and not __fish_seen_subcommand_from prune stats help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c authd -n "__fish_authd_using_subcommand blacklist; and __fish_seen_subcommand_from prune" -l batch-size -d 'Rows per transaction: smaller batches block a running server for less time' -r
complete -c authd -n "__fish_authd_using_subcommand blacklist; and __fish_seen_subcommand_from prune" -l config -d 'Config file (TOML). Default: $AUTHD_CONFIG, else ./authd.toml if it exists' -r -F
complete -c authd -n "__fish_authd_using_subcommand blacklist; and __fish_seen_subcommand_from prune" -l output -d 'How admin commands print their results' -r -f -a "table\t''
json\t''"
complete -c authd -n "__fish_authd_using_subcommand blacklist; and __fish_seen_subcommand_from prune" -l dry-run -d 'Count what would be deleted; delete nothing'
complete -c authd -n "__fish_authd_using_subcommand blacklist; and __fish_seen_subcommand_from prune" -s v -l verbose -d 'Log more to stderr: -v for debug, -vv for trace (RUST_LOG wins when set)'
complete -c authd -n "__fish_authd_using_subcommand blacklist; and __fish_seen_subcommand_from prune" -s h -l help -d 'Print help'
complete -c authd -n "__fish_authd_using_subcommand blacklist; and __fish_seen_subcommand_from prune" -s V -l version -d 'Print version'
complete -c authd -n "__fish_authd_using_subcommand blacklist; and __fish_seen_subcommand_from stats" -l config -d 'Config file (TOML). Default: $AUTHD_CONFIG, else ./authd.toml if it exists' -r -F
complete -c authd -n "__fish_authd_using_subcommand blacklist; and __fish_seen_subcommand_from stats" -l output -d 'How admin commands print their results' -r -f -a "table\t''
json\t''"
complete -c authd -n "__fish_authd_using_subcommand blacklist; and __fish_seen_subcommand_from stats" -s v -l verbose -d 'Log more to stderr: -v for debug, -vv for trace (RUST_LOG wins when set)'
complete -c authd -n "__fish_authd_using_subcommand blacklist; and __fish_seen_subcommand_from stats" -s h -l help -d 'Print help'
complete -c authd -n "__fish_authd_using_subcommand blacklist; and __fish_seen_subcommand_from stats" -s V -l version -d 'Print version'
complete -c authd -n "__fish_authd_using_subcommand blacklist; and __fish_seen_subcommand_from help" -f -a "prune" -d 'Delete expired refresh tokens (revoked or not), expired reset tokens and empty sessions'
complete -c authd -n "__fish_authd_using_subcommand blacklist; and __fish_seen_subcommand_from help" -f -a "stats" -d 'Count refresh and reset tokens by state (active, revoked, expired)'
complete -c authd -n "__fish_authd_using_subcommand blacklist; and __fish_seen_subcommand_from help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c authd -n "__fish_authd_using_subcommand token; and not __fish_seen_subcommand_from revoke list help" -l config -d 'Config file (TOML). Default: $AUTHD_CONFIG, else ./authd.toml if it exists' -r -F
complete -c authd -n "__fish_authd_using_subcommand token; and not __fish_seen_subcommand_from revoke list help" -l output -d 'How admin commands print their results' -r -f -a "table\t''
json\t''"
complete -c authd -n "__fish_authd_using_subcommand token; and not __fish_seen_subcommand_from revoke list help" -s v -l verbose -d 'Log more to stderr: -v for debug, -vv for trace (RUST_LOG wins when set)'
complete -c authd -n "__fish_authd_using_subcommand token; and not __fish_seen_subcommand_from revoke list help" -s h -l help -d 'Print help'
complete -c authd -n "__fish_authd_using_subcommand token; and not __fish_seen_subcommand_from revoke list help" -s V -l version -d 'Print version'
complete -c authd -n "__fish_authd_using_subcommand token; and not __fish_seen_subcommand_from revoke list help" -f -a "revoke" -d 'Revoke one refresh token, one session (its refresh and access tokens), or all of a user\'s tokens'
complete -c authd -n "__fish_authd_using_subcommand token; and not __fish_seen_subcommand_from revoke list help" -f -a "list" -d 'List a user\'s sessions (created, last refreshed, client IP and user agent of each) and their refresh tokens: issued, expires, state, why revoked'
complete -c authd -n "__fish_authd_using_subcommand token; and not __fish_seen_subcommand_from revoke list help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c authd -n "__fish_authd_using_subcommand token; and __fish_seen_subcommand_from revoke" -l jti -d 'One refresh token, by its jti' -r
complete -c authd -n "__fish_authd_using_subcommand token; and __fish_seen_subcommand_from revoke" -l session -d 'One login session (the sid claim): its refresh and access tokens' -r
complete -c authd -n "__fish_authd_using_subcommand token; and __fish_seen_subcommand_from revoke" -l user -d 'Every session and token of an account, access tokens included' -r
complete -c authd -n "__fish_authd_using_subcommand token; and __fish_seen_subcommand_from revoke" -l config -d 'Config file (TOML). Default: $AUTHD_CONFIG, else ./authd.toml if it exists' -r -F
complete -c authd -n "__fish_authd_using_subcommand token; and __fish_seen_subcommand_from revoke" -l output -d 'How admin commands print their results' -r -f -a "table\t''
json\t''"
complete -c authd -n "__fish_authd_using_subcommand token; and __fish_seen_subcommand_from revoke" -s v -l verbose -d 'Log more to stderr: -v for debug, -vv for trace (RUST_LOG wins when set)'
complete -c authd -n "__fish_authd_using_subcommand token; and __fish_seen_subcommand_from revoke" -s h -l help -d 'Print help'
complete -c authd -n "__fish_authd_using_subcommand token; and __fish_seen_subcommand_from revoke" -s V -l version -d 'Print version'
complete -c authd -n "__fish_authd_using_subcommand token; and __fish_seen_subcommand_from list" -l user -d 'The account: its numeric id or its email' -r
complete -c authd -n "__fish_authd_using_subcommand token; and __fish_seen_subcommand_from list" -l config -d 'Config file (TOML). Default: $AUTHD_CONFIG, else ./authd.toml if it exists' -r -F
complete -c authd -n "__fish_authd_using_subcommand token; and __fish_seen_subcommand_from list" -l output -d 'How admin commands print their results' -r -f -a "table\t''
json\t''"
complete -c authd -n "__fish_authd_using_subcommand token; and __fish_seen_subcommand_from list" -l active -d 'Only sessions that can still be refreshed'
complete -c authd -n "__fish_authd_using_subcommand token; and __fish_seen_subcommand_from list" -s v -l verbose -d 'Log more to stderr: -v for debug, -vv for trace (RUST_LOG wins when set)'
complete -c authd -n "__fish_authd_using_subcommand token; and __fish_seen_subcommand_from list" -s h -l help -d 'Print help'
complete -c authd -n "__fish_authd_using_subcommand token; and __fish_seen_subcommand_from list" -s V -l version -d 'Print version'
complete -c authd -n "__fish_authd_using_subcommand token; and __fish_seen_subcommand_from help" -f -a "revoke" -d 'Revoke one refresh token, one session (its refresh and access tokens), or all of a user\'s tokens'
complete -c authd -n "__fish_authd_using_subcommand token; and __fish_seen_subcommand_from help" -f -a "list" -d 'List a user\'s sessions (created, last refreshed, client IP and user agent of each) and their refresh tokens: issued, expires, state, why revoked'
complete -c authd -n "__fish_authd_using_subcommand token; and __fish_seen_subcommand_from help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c authd -n "__fish_authd_using_subcommand import; and not __fish_seen_subcommand_from django help" -l config -d 'Config file (TOML). Default: $AUTHD_CONFIG, else ./authd.toml if it exists' -r -F
complete -c authd -n "__fish_authd_using_subcommand import; and not __fish_seen_subcommand_from django help" -l output -d 'How admin commands print their results' -r -f -a "table\t''
json\t''"
complete -c authd -n "__fish_authd_using_subcommand import; and not __fish_seen_subcommand_from django help" -s v -l verbose -d 'Log more to stderr: -v for debug, -vv for trace (RUST_LOG wins when set)'
complete -c authd -n "__fish_authd_using_subcommand import; and not __fish_seen_subcommand_from django help" -s h -l help -d 'Print help'
complete -c authd -n "__fish_authd_using_subcommand import; and not __fish_seen_subcommand_from django help" -s V -l version -d 'Print version'
complete -c authd -n "__fish_authd_using_subcommand import; and not __fish_seen_subcommand_from django help" -f -a "django" -d 'Import the users of the Django REST Framework + SimpleJWT service authd replaces'
complete -c authd -n "__fish_authd_using_subcommand import; and not __fish_seen_subcommand_from django help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c authd -n "__fish_authd_using_subcommand import; and __fish_seen_subcommand_from django" -l from-database -d 'The Django database: sqlite://PATH or postgres://user:pass@host/db (read only)' -r
complete -c authd -n "__fish_authd_using_subcommand import; and __fish_seen_subcommand_from django" -l from-dumpdata -d 'A `manage.py dumpdata <app>.<user model> [token_blacklist]` JSON file' -r -F
complete -c authd -n "__fish_authd_using_subcommand import; and __fish_seen_subcommand_from django" -l table -d 'The user table (default: the one table with id, email, password and last_login columns)' -r
complete -c authd -n "__fish_authd_using_subcommand import; and __fish_seen_subcommand_from django" -l on-conflict -d 'What to do with an account whose id exists already in authd' -r -f -a "skip\t'Leave the existing account as it is'
update\t'Overwrite it with Django\'s values, password hash included (before the cut-over only)'
fail\t'Stop the import'"
complete -c authd -n "__fish_authd_using_subcommand import; and __fish_seen_subcommand_from django" -l batch-size -d 'Rows per transaction' -r
complete -c authd -n "__fish_authd_using_subcommand import; and __fish_seen_subcommand_from django" -l config -d 'Config file (TOML). Default: $AUTHD_CONFIG, else ./authd.toml if it exists' -r -F
complete -c authd -n "__fish_authd_using_subcommand import; and __fish_seen_subcommand_from django" -l output -d 'How admin commands print their results' -r -f -a "table\t''
json\t''"
complete -c authd -n "__fish_authd_using_subcommand import; and __fish_seen_subcommand_from django" -l dry-run -d 'Check everything and report what would happen; write nothing'
complete -c authd -n "__fish_authd_using_subcommand import; and __fish_seen_subcommand_from django" -s v -l verbose -d 'Log more to stderr: -v for debug, -vv for trace (RUST_LOG wins when set)'
complete -c authd -n "__fish_authd_using_subcommand import; and __fish_seen_subcommand_from django" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c authd -n "__fish_authd_using_subcommand import; and __fish_seen_subcommand_from django" -s V -l version -d 'Print version'
complete -c authd -n "__fish_authd_using_subcommand import; and __fish_seen_subcommand_from help" -f -a "django" -d 'Import the users of the Django REST Framework + SimpleJWT service authd replaces'
complete -c authd -n "__fish_authd_using_subcommand import; and __fish_seen_subcommand_from help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c authd -n "__fish_authd_using_subcommand audit; and not __fish_seen_subcommand_from list tail stats help" -l config -d 'Config file (TOML). Default: $AUTHD_CONFIG, else ./authd.toml if it exists' -r -F
complete -c authd -n "__fish_authd_using_subcommand audit; and not __fish_seen_subcommand_from list tail stats help" -l output -d 'How admin commands print their results' -r -f -a "table\t''
json\t''"
complete -c authd -n "__fish_authd_using_subcommand audit; and not __fish_seen_subcommand_from list tail stats help" -s v -l verbose -d 'Log more to stderr: -v for debug, -vv for trace (RUST_LOG wins when set)'
complete -c authd -n "__fish_authd_using_subcommand audit; and not __fish_seen_subcommand_from list tail stats help" -s h -l help -d 'Print help'
complete -c authd -n "__fish_authd_using_subcommand audit; and not __fish_seen_subcommand_from list tail stats help" -s V -l version -d 'Print version'
complete -c authd -n "__fish_authd_using_subcommand audit; and not __fish_seen_subcommand_from list tail stats help" -f -a "list" -d 'List events, newest first, that match every filter given'
complete -c authd -n "__fish_authd_using_subcommand audit; and not __fish_seen_subcommand_from list tail stats help" -f -a "tail" -d 'Print the last events, oldest first, one per line (NDJSON with --output json); --follow keeps printing new ones'
complete -c authd -n "__fish_authd_using_subcommand audit; and not __fish_seen_subcommand_from list tail stats help" -f -a "stats" -d 'Count events by type and outcome (aggregate rows count as many as they stand for), and the IPs with the most failed logins'
complete -c authd -n "__fish_authd_using_subcommand audit; and not __fish_seen_subcommand_from list tail stats help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c authd -n "__fish_authd_using_subcommand audit; and __fish_seen_subcommand_from list" -l user -d 'Events of this account: its numeric id, or an email (any case; events of deleted accounts too)' -r
complete -c authd -n "__fish_authd_using_subcommand audit; and __fish_seen_subcommand_from list" -l type -d 'Events of this type; repeat for several' -r -f -a "register\t''
login\t''
throttle_refused\t''
refresh\t''
refresh_reuse\t''
logout\t''
session_ended\t''
password_changed\t''
reset_requested\t''
reset_confirmed\t''
user_created\t''
user_updated\t''
user_disabled\t''
user_enabled\t''
user_deleted\t''
password_set\t''
token_revoked\t''
key_generated\t''
django_import\t''"
complete -c authd -n "__fish_authd_using_subcommand audit; and __fish_seen_subcommand_from list" -l outcome -d 'Only successes or only failures' -r -f -a "success\t''
failure\t''"
complete -c authd -n "__fish_authd_using_subcommand audit; and __fish_seen_subcommand_from list" -l ip -d 'Events of requests from this client IP' -r
complete -c authd -n "__fish_authd_using_subcommand audit; and __fish_seen_subcommand_from list" -l since -d 'Events at or after then: a duration before now (2h, 30m, 7d) or an RFC 3339 time' -r
complete -c authd -n "__fish_authd_using_subcommand audit; and __fish_seen_subcommand_from list" -l until -d 'Events before then: a duration before now or an RFC 3339 time' -r
complete -c authd -n "__fish_authd_using_subcommand audit; and __fish_seen_subcommand_from list" -l limit -d 'At most this many events' -r
complete -c authd -n "__fish_authd_using_subcommand audit; and __fish_seen_subcommand_from list" -l config -d 'Config file (TOML). Default: $AUTHD_CONFIG, else ./authd.toml if it exists' -r -F
complete -c authd -n "__fish_authd_using_subcommand audit; and __fish_seen_subcommand_from list" -l output -d 'How admin commands print their results' -r -f -a "table\t''
json\t''"
complete -c authd -n "__fish_authd_using_subcommand audit; and __fish_seen_subcommand_from list" -s v -l verbose -d 'Log more to stderr: -v for debug, -vv for trace (RUST_LOG wins when set)'
complete -c authd -n "__fish_authd_using_subcommand audit; and __fish_seen_subcommand_from list" -s h -l help -d 'Print help'
complete -c authd -n "__fish_authd_using_subcommand audit; and __fish_seen_subcommand_from list" -s V -l version -d 'Print version'
complete -c authd -n "__fish_authd_using_subcommand audit; and __fish_seen_subcommand_from tail" -s n -l lines -d 'How many of the latest events to print first' -r
complete -c authd -n "__fish_authd_using_subcommand audit; and __fish_seen_subcommand_from tail" -l config -d 'Config file (TOML). Default: $AUTHD_CONFIG, else ./authd.toml if it exists' -r -F
complete -c authd -n "__fish_authd_using_subcommand audit; and __fish_seen_subcommand_from tail" -l output -d 'How admin commands print their results' -r -f -a "table\t''
json\t''"
complete -c authd -n "__fish_authd_using_subcommand audit; and __fish_seen_subcommand_from tail" -s f -l follow -d 'Keep printing events as they are stored (polling every second) until interrupted (Ctrl-C or SIGTERM: exit 0)'
complete -c authd -n "__fish_authd_using_subcommand audit; and __fish_seen_subcommand_from tail" -s v -l verbose -d 'Log more to stderr: -v for debug, -vv for trace (RUST_LOG wins when set)'
complete -c authd -n "__fish_authd_using_subcommand audit; and __fish_seen_subcommand_from tail" -s h -l help -d 'Print help'
complete -c authd -n "__fish_authd_using_subcommand audit; and __fish_seen_subcommand_from tail" -s V -l version -d 'Print version'
complete -c authd -n "__fish_authd_using_subcommand audit; and __fish_seen_subcommand_from stats" -l since -d 'Count events since then: a duration before now (24h, 7d) or an RFC 3339 time' -r
complete -c authd -n "__fish_authd_using_subcommand audit; and __fish_seen_subcommand_from stats" -l top -d 'How many IPs to show' -r
complete -c authd -n "__fish_authd_using_subcommand audit; and __fish_seen_subcommand_from stats" -l config -d 'Config file (TOML). Default: $AUTHD_CONFIG, else ./authd.toml if it exists' -r -F
complete -c authd -n "__fish_authd_using_subcommand audit; and __fish_seen_subcommand_from stats" -l output -d 'How admin commands print their results' -r -f -a "table\t''
json\t''"
complete -c authd -n "__fish_authd_using_subcommand audit; and __fish_seen_subcommand_from stats" -l all -d 'Count every stored event instead (a scan of the whole table)'
complete -c authd -n "__fish_authd_using_subcommand audit; and __fish_seen_subcommand_from stats" -s v -l verbose -d 'Log more to stderr: -v for debug, -vv for trace (RUST_LOG wins when set)'
complete -c authd -n "__fish_authd_using_subcommand audit; and __fish_seen_subcommand_from stats" -s h -l help -d 'Print help'
complete -c authd -n "__fish_authd_using_subcommand audit; and __fish_seen_subcommand_from stats" -s V -l version -d 'Print version'
complete -c authd -n "__fish_authd_using_subcommand audit; and __fish_seen_subcommand_from help" -f -a "list" -d 'List events, newest first, that match every filter given'
complete -c authd -n "__fish_authd_using_subcommand audit; and __fish_seen_subcommand_from help" -f -a "tail" -d 'Print the last events, oldest first, one per line (NDJSON with --output json); --follow keeps printing new ones'
complete -c authd -n "__fish_authd_using_subcommand audit; and __fish_seen_subcommand_from help" -f -a "stats" -d 'Count events by type and outcome (aggregate rows count as many as they stand for), and the IPs with the most failed logins'
complete -c authd -n "__fish_authd_using_subcommand audit; and __fish_seen_subcommand_from help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c authd -n "__fish_authd_using_subcommand key; and not __fish_seen_subcommand_from generate list rotate help" -l config -d 'Config file (TOML). Default: $AUTHD_CONFIG, else ./authd.toml if it exists' -r -F
complete -c authd -n "__fish_authd_using_subcommand key; and not __fish_seen_subcommand_from generate list rotate help" -l output -d 'How admin commands print their results' -r -f -a "table\t''
json\t''"
complete -c authd -n "__fish_authd_using_subcommand key; and not __fish_seen_subcommand_from generate list rotate help" -s v -l verbose -d 'Log more to stderr: -v for debug, -vv for trace (RUST_LOG wins when set)'
complete -c authd -n "__fish_authd_using_subcommand key; and not __fish_seen_subcommand_from generate list rotate help" -s h -l help -d 'Print help'
complete -c authd -n "__fish_authd_using_subcommand key; and not __fish_seen_subcommand_from generate list rotate help" -s V -l version -d 'Print version'
complete -c authd -n "__fish_authd_using_subcommand key; and not __fish_seen_subcommand_from generate list rotate help" -f -a "generate" -d 'Make a new signing key and print its jwt.keys entry: an HS256 secret (to stdout only), or an asymmetric private key written to --out (PKCS#8 PEM, mode 0600)'
complete -c authd -n "__fish_authd_using_subcommand key; and not __fish_seen_subcommand_from generate list rotate help" -f -a "list" -d 'List the signing keys in force: id, algorithm, state, which one signs, where each comes from'
complete -c authd -n "__fish_authd_using_subcommand key; and not __fish_seen_subcommand_from generate list rotate help" -f -a "rotate" -d 'Make a key the signing one by editing the config file: it moves first in jwt.keys and its state becomes active (default: the key whose state is "next"). Restart authd after'
complete -c authd -n "__fish_authd_using_subcommand key; and not __fish_seen_subcommand_from generate list rotate help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c authd -n "__fish_authd_using_subcommand key; and __fish_seen_subcommand_from generate" -l id -d 'The key id (the tokens\' kid); default: k<date>-<random>' -r
complete -c authd -n "__fish_authd_using_subcommand key; and __fish_seen_subcommand_from generate" -l algorithm -d 'The key\'s algorithm' -r -f -a "hs256\t'HS256: a shared secret (SimpleJWT\'s; the default)'
ed25519\t'EdDSA with Ed25519: small, fast keys and signatures'
es256\t'ES256: ECDSA on P-256'
rs256\t'RS256: RSA, 2048 bits'"
complete -c authd -n "__fish_authd_using_subcommand key; and __fish_seen_subcommand_from generate" -l out -d 'Where to write the private key (asymmetric algorithms; never overwritten)' -r -F
complete -c authd -n "__fish_authd_using_subcommand key; and __fish_seen_subcommand_from generate" -l config -d 'Config file (TOML). Default: $AUTHD_CONFIG, else ./authd.toml if it exists' -r -F
complete -c authd -n "__fish_authd_using_subcommand key; and __fish_seen_subcommand_from generate" -l output -d 'How admin commands print their results' -r -f -a "table\t''
json\t''"
complete -c authd -n "__fish_authd_using_subcommand key; and __fish_seen_subcommand_from generate" -s v -l verbose -d 'Log more to stderr: -v for debug, -vv for trace (RUST_LOG wins when set)'
complete -c authd -n "__fish_authd_using_subcommand key; and __fish_seen_subcommand_from generate" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c authd -n "__fish_authd_using_subcommand key; and __fish_seen_subcommand_from generate" -s V -l version -d 'Print version'
complete -c authd -n "__fish_authd_using_subcommand key; and __fish_seen_subcommand_from list" -l config -d 'Config file (TOML). Default: $AUTHD_CONFIG, else ./authd.toml if it exists' -r -F
complete -c authd -n "__fish_authd_using_subcommand key; and __fish_seen_subcommand_from list" -l output -d 'How admin commands print their results' -r -f -a "table\t''
json\t''"
complete -c authd -n "__fish_authd_using_subcommand key; and __fish_seen_subcommand_from list" -s v -l verbose -d 'Log more to stderr: -v for debug, -vv for trace (RUST_LOG wins when set)'
complete -c authd -n "__fish_authd_using_subcommand key; and __fish_seen_subcommand_from list" -s h -l help -d 'Print help'
complete -c authd -n "__fish_authd_using_subcommand key; and __fish_seen_subcommand_from list" -s V -l version -d 'Print version'
complete -c authd -n "__fish_authd_using_subcommand key; and __fish_seen_subcommand_from rotate" -l id -d 'The key to make sign (default: the one `next` key)' -r
complete -c authd -n "__fish_authd_using_subcommand key; and __fish_seen_subcommand_from rotate" -l config -d 'Config file (TOML). Default: $AUTHD_CONFIG, else ./authd.toml if it exists' -r -F
complete -c authd -n "__fish_authd_using_subcommand key; and __fish_seen_subcommand_from rotate" -l output -d 'How admin commands print their results' -r -f -a "table\t''
json\t''"
complete -c authd -n "__fish_authd_using_subcommand key; and __fish_seen_subcommand_from rotate" -s v -l verbose -d 'Log more to stderr: -v for debug, -vv for trace (RUST_LOG wins when set)'
complete -c authd -n "__fish_authd_using_subcommand key; and __fish_seen_subcommand_from rotate" -s h -l help -d 'Print help'
complete -c authd -n "__fish_authd_using_subcommand key; and __fish_seen_subcommand_from rotate" -s V -l version -d 'Print version'
complete -c authd -n "__fish_authd_using_subcommand key; and __fish_seen_subcommand_from help" -f -a "generate" -d 'Make a new signing key and print its jwt.keys entry: an HS256 secret (to stdout only), or an asymmetric private key written to --out (PKCS#8 PEM, mode 0600)'
complete -c authd -n "__fish_authd_using_subcommand key; and __fish_seen_subcommand_from help" -f -a "list" -d 'List the signing keys in force: id, algorithm, state, which one signs, where each comes from'
complete -c authd -n "__fish_authd_using_subcommand key; and __fish_seen_subcommand_from help" -f -a "rotate" -d 'Make a key the signing one by editing the config file: it moves first in jwt.keys and its state becomes active (default: the key whose state is "next"). Restart authd after'
complete -c authd -n "__fish_authd_using_subcommand key; and __fish_seen_subcommand_from help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c authd -n "__fish_authd_using_subcommand loadtest; and not __fish_seen_subcommand_from ratelimit help" -l config -d 'Config file (TOML). Default: $AUTHD_CONFIG, else ./authd.toml if it exists' -r -F
complete -c authd -n "__fish_authd_using_subcommand loadtest; and not __fish_seen_subcommand_from ratelimit help" -l output -d 'How admin commands print their results' -r -f -a "table\t''
json\t''"
complete -c authd -n "__fish_authd_using_subcommand loadtest; and not __fish_seen_subcommand_from ratelimit help" -s v -l verbose -d 'Log more to stderr: -v for debug, -vv for trace (RUST_LOG wins when set)'
complete -c authd -n "__fish_authd_using_subcommand loadtest; and not __fish_seen_subcommand_from ratelimit help" -s h -l help -d 'Print help'
complete -c authd -n "__fish_authd_using_subcommand loadtest; and not __fish_seen_subcommand_from ratelimit help" -s V -l version -d 'Print version'
complete -c authd -n "__fish_authd_using_subcommand loadtest; and not __fish_seen_subcommand_from ratelimit help" -f -a "ratelimit" -d 'Check that a throttle scope lets exactly the expected number of requests through'
complete -c authd -n "__fish_authd_using_subcommand loadtest; and not __fish_seen_subcommand_from ratelimit help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c authd -n "__fish_authd_using_subcommand loadtest; and __fish_seen_subcommand_from ratelimit" -l url -d 'Base URL of an authd instance, e.g. http://127.0.0.1:8000 (repeat to spread requests over several)' -r
complete -c authd -n "__fish_authd_using_subcommand loadtest; and __fish_seen_subcommand_from ratelimit" -l scope -d 'The throttle scope to check (password_change needs an account and cannot be checked)' -r -f -a "login\t''
password_reset\t''
registration\t''
password_reset_completion\t''
login_ip\t''
password_reset_ip\t''
password_change\t''"
complete -c authd -n "__fish_authd_using_subcommand loadtest; and __fish_seen_subcommand_from ratelimit" -l requests -d 'Requests to send (all within one window of the rule)' -r
complete -c authd -n "__fish_authd_using_subcommand loadtest; and __fish_seen_subcommand_from ratelimit" -l concurrency -d 'Requests in flight at once' -r
complete -c authd -n "__fish_authd_using_subcommand loadtest; and __fish_seen_subcommand_from ratelimit" -l expect -d 'How many must pass; default: the limit the server announces for the scope (RateLimit-Policy)' -r
complete -c authd -n "__fish_authd_using_subcommand loadtest; and __fish_seen_subcommand_from ratelimit" -l email -d 'The email login and password_reset requests use; default: a fresh one per run' -r
complete -c authd -n "__fish_authd_using_subcommand loadtest; and __fish_seen_subcommand_from ratelimit" -l forwarded-for -d 'Send X-Forwarded-For with this client address (to test behind a trusted proxy)' -r
complete -c authd -n "__fish_authd_using_subcommand loadtest; and __fish_seen_subcommand_from ratelimit" -l source-ip -d 'Connect from this local address; default on loopback: a fresh one in 127.0.0.0/8 per run, so the run spends neither your own quota nor an earlier run\'s' -r
complete -c authd -n "__fish_authd_using_subcommand loadtest; and __fish_seen_subcommand_from ratelimit" -l duration -d 'Run for this long (e.g. 10s) to measure throughput, instead of checking the limit' -r
complete -c authd -n "__fish_authd_using_subcommand loadtest; and __fish_seen_subcommand_from ratelimit" -l config -d 'Config file (TOML). Default: $AUTHD_CONFIG, else ./authd.toml if it exists' -r -F
complete -c authd -n "__fish_authd_using_subcommand loadtest; and __fish_seen_subcommand_from ratelimit" -l output -d 'How admin commands print their results' -r -f -a "table\t''
json\t''"
complete -c authd -n "__fish_authd_using_subcommand loadtest; and __fish_seen_subcommand_from ratelimit" -s v -l verbose -d 'Log more to stderr: -v for debug, -vv for trace (RUST_LOG wins when set)'
complete -c authd -n "__fish_authd_using_subcommand loadtest; and __fish_seen_subcommand_from ratelimit" -s h -l help -d 'Print help'
complete -c authd -n "__fish_authd_using_subcommand loadtest; and __fish_seen_subcommand_from ratelimit" -s V -l version -d 'Print version'
complete -c authd -n "__fish_authd_using_subcommand loadtest; and __fish_seen_subcommand_from help" -f -a "ratelimit" -d 'Check that a throttle scope lets exactly the expected number of requests through'
complete -c authd -n "__fish_authd_using_subcommand loadtest; and __fish_seen_subcommand_from help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c authd -n "__fish_authd_using_subcommand throttle; and not __fish_seen_subcommand_from show clear help" -l config -d 'Config file (TOML). Default: $AUTHD_CONFIG, else ./authd.toml if it exists' -r -F
complete -c authd -n "__fish_authd_using_subcommand throttle; and not __fish_seen_subcommand_from show clear help" -l output -d 'How admin commands print their results' -r -f -a "table\t''
json\t''"
complete -c authd -n "__fish_authd_using_subcommand throttle; and not __fish_seen_subcommand_from show clear help" -s v -l verbose -d 'Log more to stderr: -v for debug, -vv for trace (RUST_LOG wins when set)'
complete -c authd -n "__fish_authd_using_subcommand throttle; and not __fish_seen_subcommand_from show clear help" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c authd -n "__fish_authd_using_subcommand throttle; and not __fish_seen_subcommand_from show clear help" -s V -l version -d 'Print version'
complete -c authd -n "__fish_authd_using_subcommand throttle; and not __fish_seen_subcommand_from show clear help" -f -a "show" -d 'Show the windows of a scope: requests counted, remaining, seconds until a slot frees'
complete -c authd -n "__fish_authd_using_subcommand throttle; and not __fish_seen_subcommand_from show clear help" -f -a "clear" -d 'Delete windows, unlocking whoever they lock out'
complete -c authd -n "__fish_authd_using_subcommand throttle; and not __fish_seen_subcommand_from show clear help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c authd -n "__fish_authd_using_subcommand throttle; and __fish_seen_subcommand_from show" -l scope -d 'The throttle scope whose windows to act on' -r -f -a "login\t''
password_reset\t''
registration\t''
password_reset_completion\t''
login_ip\t''
password_reset_ip\t''
password_change\t''"
complete -c authd -n "__fish_authd_using_subcommand throttle; and __fish_seen_subcommand_from show" -l email -d 'Only windows of this email (login and password_reset)' -r
complete -c authd -n "__fish_authd_using_subcommand throttle; and __fish_seen_subcommand_from show" -l ip -d 'Only windows of this client IP (an IPv6 address stands for its network, see throttle.ipv6_prefix)' -r
complete -c authd -n "__fish_authd_using_subcommand throttle; and __fish_seen_subcommand_from show" -l user -d 'Only the window of this user id (password_change)' -r
complete -c authd -n "__fish_authd_using_subcommand throttle; and __fish_seen_subcommand_from show" -l config -d 'Config file (TOML). Default: $AUTHD_CONFIG, else ./authd.toml if it exists' -r -F
complete -c authd -n "__fish_authd_using_subcommand throttle; and __fish_seen_subcommand_from show" -l output -d 'How admin commands print their results' -r -f -a "table\t''
json\t''"
complete -c authd -n "__fish_authd_using_subcommand throttle; and __fish_seen_subcommand_from show" -s v -l verbose -d 'Log more to stderr: -v for debug, -vv for trace (RUST_LOG wins when set)'
complete -c authd -n "__fish_authd_using_subcommand throttle; and __fish_seen_subcommand_from show" -s h -l help -d 'Print help'
complete -c authd -n "__fish_authd_using_subcommand throttle; and __fish_seen_subcommand_from show" -s V -l version -d 'Print version'
complete -c authd -n "__fish_authd_using_subcommand throttle; and __fish_seen_subcommand_from clear" -l scope -d 'The throttle scope whose windows to act on' -r -f -a "login\t''
password_reset\t''
registration\t''
password_reset_completion\t''
login_ip\t''
password_reset_ip\t''
password_change\t''"
complete -c authd -n "__fish_authd_using_subcommand throttle; and __fish_seen_subcommand_from clear" -l email -d 'Only windows of this email (login and password_reset)' -r
complete -c authd -n "__fish_authd_using_subcommand throttle; and __fish_seen_subcommand_from clear" -l ip -d 'Only windows of this client IP (an IPv6 address stands for its network, see throttle.ipv6_prefix)' -r
complete -c authd -n "__fish_authd_using_subcommand throttle; and __fish_seen_subcommand_from clear" -l user -d 'Only the window of this user id (password_change)' -r
complete -c authd -n "__fish_authd_using_subcommand throttle; and __fish_seen_subcommand_from clear" -l config -d 'Config file (TOML). Default: $AUTHD_CONFIG, else ./authd.toml if it exists' -r -F
complete -c authd -n "__fish_authd_using_subcommand throttle; and __fish_seen_subcommand_from clear" -l output -d 'How admin commands print their results' -r -f -a "table\t''
json\t''"
complete -c authd -n "__fish_authd_using_subcommand throttle; and __fish_seen_subcommand_from clear" -l all -d 'Clear every window of the scope (needed when neither --email nor --ip is given)'
complete -c authd -n "__fish_authd_using_subcommand throttle; and __fish_seen_subcommand_from clear" -s v -l verbose -d 'Log more to stderr: -v for debug, -vv for trace (RUST_LOG wins when set)'
complete -c authd -n "__fish_authd_using_subcommand throttle; and __fish_seen_subcommand_from clear" -s h -l help -d 'Print help'
complete -c authd -n "__fish_authd_using_subcommand throttle; and __fish_seen_subcommand_from clear" -s V -l version -d 'Print version'
complete -c authd -n "__fish_authd_using_subcommand throttle; and __fish_seen_subcommand_from help" -f -a "show" -d 'Show the windows of a scope: requests counted, remaining, seconds until a slot frees'
complete -c authd -n "__fish_authd_using_subcommand throttle; and __fish_seen_subcommand_from help" -f -a "clear" -d 'Delete windows, unlocking whoever they lock out'
complete -c authd -n "__fish_authd_using_subcommand throttle; and __fish_seen_subcommand_from help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c authd -n "__fish_authd_using_subcommand healthcheck" -l url -d 'The readiness URL to ask. Default: /readyz on http.bind\'s address ($PORT honoured as by serve; 0.0.0.0 and :: asked on loopback)' -r
complete -c authd -n "__fish_authd_using_subcommand healthcheck" -l timeout -d 'How long to wait for the whole answer, e.g. 3s or 500ms' -r
complete -c authd -n "__fish_authd_using_subcommand healthcheck" -l config -d 'Config file (TOML). Default: $AUTHD_CONFIG, else ./authd.toml if it exists' -r -F
complete -c authd -n "__fish_authd_using_subcommand healthcheck" -l output -d 'How admin commands print their results' -r -f -a "table\t''
json\t''"
complete -c authd -n "__fish_authd_using_subcommand healthcheck" -s v -l verbose -d 'Log more to stderr: -v for debug, -vv for trace (RUST_LOG wins when set)'
complete -c authd -n "__fish_authd_using_subcommand healthcheck" -s h -l help -d 'Print help'
complete -c authd -n "__fish_authd_using_subcommand healthcheck" -s V -l version -d 'Print version'
complete -c authd -n "__fish_authd_using_subcommand openapi" -l out -d 'Write the document to FILE instead of standard output' -r -F
complete -c authd -n "__fish_authd_using_subcommand openapi" -l config -d 'Config file (TOML). Default: $AUTHD_CONFIG, else ./authd.toml if it exists' -r -F
complete -c authd -n "__fish_authd_using_subcommand openapi" -l output -d 'How admin commands print their results' -r -f -a "table\t''
json\t''"
complete -c authd -n "__fish_authd_using_subcommand openapi" -s v -l verbose -d 'Log more to stderr: -v for debug, -vv for trace (RUST_LOG wins when set)'
complete -c authd -n "__fish_authd_using_subcommand openapi" -s h -l help -d 'Print help'
complete -c authd -n "__fish_authd_using_subcommand openapi" -s V -l version -d 'Print version'
complete -c authd -n "__fish_authd_using_subcommand help; and not __fish_seen_subcommand_from serve migrate user config blacklist token import audit key loadtest throttle healthcheck openapi help" -f -a "serve" -d 'Run the HTTP service'
complete -c authd -n "__fish_authd_using_subcommand help; and not __fish_seen_subcommand_from serve migrate user config blacklist token import audit key loadtest throttle healthcheck openapi help" -f -a "migrate" -d 'Apply pending database migrations (or show them, or roll back)'
complete -c authd -n "__fish_authd_using_subcommand help; and not __fish_seen_subcommand_from serve migrate user config blacklist token import audit key loadtest throttle healthcheck openapi help" -f -a "user" -d 'Create, inspect, change and delete user accounts'
complete -c authd -n "__fish_authd_using_subcommand help; and not __fish_seen_subcommand_from serve migrate user config blacklist token import audit key loadtest throttle healthcheck openapi help" -f -a "config" -d 'Inspect the configuration'
complete -c authd -n "__fish_authd_using_subcommand help; and not __fish_seen_subcommand_from serve migrate user config blacklist token import audit key loadtest throttle healthcheck openapi help" -f -a "blacklist" -d 'Prune expired tokens, or count tokens by state'
complete -c authd -n "__fish_authd_using_subcommand help; and not __fish_seen_subcommand_from serve migrate user config blacklist token import audit key loadtest throttle healthcheck openapi help" -f -a "token" -d 'Revoke tokens and sessions, or list a user\'s sessions'
complete -c authd -n "__fish_authd_using_subcommand help; and not __fish_seen_subcommand_from serve migrate user config blacklist token import audit key loadtest throttle healthcheck openapi help" -f -a "import" -d 'Import users from the service authd replaces'
complete -c authd -n "__fish_authd_using_subcommand help; and not __fish_seen_subcommand_from serve migrate user config blacklist token import audit key loadtest throttle healthcheck openapi help" -f -a "audit" -d 'Read the audit log: who did what, when, from where'
complete -c authd -n "__fish_authd_using_subcommand help; and not __fish_seen_subcommand_from serve migrate user config blacklist token import audit key loadtest throttle healthcheck openapi help" -f -a "key" -d 'Generate, list and rotate JWT signing keys'
complete -c authd -n "__fish_authd_using_subcommand help; and not __fish_seen_subcommand_from serve migrate user config blacklist token import audit key loadtest throttle healthcheck openapi help" -f -a "loadtest" -d 'Load tests for CI: check that throttling holds'
complete -c authd -n "__fish_authd_using_subcommand help; and not __fish_seen_subcommand_from serve migrate user config blacklist token import audit key loadtest throttle healthcheck openapi help" -f -a "throttle" -d 'Show or clear throttle windows on the shared Redis'
complete -c authd -n "__fish_authd_using_subcommand help; and not __fish_seen_subcommand_from serve migrate user config blacklist token import audit key loadtest throttle healthcheck openapi help" -f -a "healthcheck" -d 'Ask a running server\'s /readyz: exit 0 when ready, 1 otherwise (for container health checks)'
complete -c authd -n "__fish_authd_using_subcommand help; and not __fish_seen_subcommand_from serve migrate user config blacklist token import audit key loadtest throttle healthcheck openapi help" -f -a "openapi" -d 'Print the OpenAPI document of the HTTP API (as served at /api/schema/)'
complete -c authd -n "__fish_authd_using_subcommand help; and not __fish_seen_subcommand_from serve migrate user config blacklist token import audit key loadtest throttle healthcheck openapi help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c authd -n "__fish_authd_using_subcommand help; and __fish_seen_subcommand_from migrate" -f -a "status" -d 'Show every migration: applied (when), pending, or modified'
complete -c authd -n "__fish_authd_using_subcommand help; and __fish_seen_subcommand_from migrate" -f -a "down" -d 'Run down scripts, newest first, until the schema is at version N (0: empty)'
complete -c authd -n "__fish_authd_using_subcommand help; and __fish_seen_subcommand_from user" -f -a "create" -d 'Create an account. The password comes from --password-stdin or a hidden prompt'
complete -c authd -n "__fish_authd_using_subcommand help; and __fish_seen_subcommand_from user" -f -a "list" -d 'List accounts in id order'
complete -c authd -n "__fish_authd_using_subcommand help; and __fish_seen_subcommand_from user" -f -a "show" -d 'Show one account'
complete -c authd -n "__fish_authd_using_subcommand help; and __fish_seen_subcommand_from user" -f -a "update" -d 'Change an account\'s full name or flags'
complete -c authd -n "__fish_authd_using_subcommand help; and __fish_seen_subcommand_from user" -f -a "disable" -d 'Disable an account: it can no longer log in, and its sessions and tokens are revoked'
complete -c authd -n "__fish_authd_using_subcommand help; and __fish_seen_subcommand_from user" -f -a "enable" -d 'Enable a disabled account (its old tokens stay revoked)'
complete -c authd -n "__fish_authd_using_subcommand help; and __fish_seen_subcommand_from user" -f -a "set-password" -d 'Set a new password; every existing token of the account stops working'
complete -c authd -n "__fish_authd_using_subcommand help; and __fish_seen_subcommand_from user" -f -a "delete" -d 'Delete an account with its sessions and tokens'
complete -c authd -n "__fish_authd_using_subcommand help; and __fish_seen_subcommand_from config" -f -a "check" -d 'Validate the configuration and print the effective settings, secrets redacted'
complete -c authd -n "__fish_authd_using_subcommand help; and __fish_seen_subcommand_from blacklist" -f -a "prune" -d 'Delete expired refresh tokens (revoked or not), expired reset tokens and empty sessions'
complete -c authd -n "__fish_authd_using_subcommand help; and __fish_seen_subcommand_from blacklist" -f -a "stats" -d 'Count refresh and reset tokens by state (active, revoked, expired)'
complete -c authd -n "__fish_authd_using_subcommand help; and __fish_seen_subcommand_from token" -f -a "revoke" -d 'Revoke one refresh token, one session (its refresh and access tokens), or all of a user\'s tokens'
complete -c authd -n "__fish_authd_using_subcommand help; and __fish_seen_subcommand_from token" -f -a "list" -d 'List a user\'s sessions (created, last refreshed, client IP and user agent of each) and their refresh tokens: issued, expires, state, why revoked'
complete -c authd -n "__fish_authd_using_subcommand help; and __fish_seen_subcommand_from import" -f -a "django" -d 'Import the users of the Django REST Framework + SimpleJWT service authd replaces'
complete -c authd -n "__fish_authd_using_subcommand help; and __fish_seen_subcommand_from audit" -f -a "list" -d 'List events, newest first, that match every filter given'
complete -c authd -n "__fish_authd_using_subcommand help; and __fish_seen_subcommand_from audit" -f -a "tail" -d 'Print the last events, oldest first, one per line (NDJSON with --output json); --follow keeps printing new ones'
complete -c authd -n "__fish_authd_using_subcommand help; and __fish_seen_subcommand_from audit" -f -a "stats" -d 'Count events by type and outcome (aggregate rows count as many as they stand for), and the IPs with the most failed logins'
complete -c authd -n "__fish_authd_using_subcommand help; and __fish_seen_subcommand_from key" -f -a "generate" -d 'Make a new signing key and print its jwt.keys entry: an HS256 secret (to stdout only), or an asymmetric private key written to --out (PKCS#8 PEM, mode 0600)'
complete -c authd -n "__fish_authd_using_subcommand help; and __fish_seen_subcommand_from key" -f -a "list" -d 'List the signing keys in force: id, algorithm, state, which one signs, where each comes from'
complete -c authd -n "__fish_authd_using_subcommand help; and __fish_seen_subcommand_from key" -f -a "rotate" -d 'Make a key the signing one by editing the config file: it moves first in jwt.keys and its state becomes active (default: the key whose state is "next"). Restart authd after'
complete -c authd -n "__fish_authd_using_subcommand help; and __fish_seen_subcommand_from loadtest" -f -a "ratelimit" -d 'Check that a throttle scope lets exactly the expected number of requests through'
complete -c authd -n "__fish_authd_using_subcommand help; and __fish_seen_subcommand_from throttle" -f -a "show" -d 'Show the windows of a scope: requests counted, remaining, seconds until a slot frees'
complete -c authd -n "__fish_authd_using_subcommand help; and __fish_seen_subcommand_from throttle" -f -a "clear" -d 'Delete windows, unlocking whoever they lock out'
