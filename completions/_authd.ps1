
using namespace System.Management.Automation
using namespace System.Management.Automation.Language

Register-ArgumentCompleter -Native -CommandName 'authd' -ScriptBlock {
    param($wordToComplete, $commandAst, $cursorPosition)

    $commandElements = $commandAst.CommandElements
    $command = @(
        'authd'
        for ($i = 1; $i -lt $commandElements.Count; $i++) {
            $element = $commandElements[$i]
            if ($element -isnot [StringConstantExpressionAst] -or
                $element.StringConstantType -ne [StringConstantType]::BareWord -or
                $element.Value.StartsWith('-') -or
                $element.Value -eq $wordToComplete) {
                break
        }
        $element.Value
    }) -join ';'

    $completions = @(switch ($command) {
        'authd' {
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'Config file (TOML). Default: $AUTHD_CONFIG, else ./authd.toml if it exists')
            [CompletionResult]::new('--output', '--output', [CompletionResultType]::ParameterName, 'How admin commands print their results')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'Log more to stderr: -v for debug, -vv for trace (RUST_LOG wins when set)')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'Log more to stderr: -v for debug, -vv for trace (RUST_LOG wins when set)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('serve', 'serve', [CompletionResultType]::ParameterValue, 'Run the HTTP service')
            [CompletionResult]::new('migrate', 'migrate', [CompletionResultType]::ParameterValue, 'Apply pending database migrations (or show them, or roll back)')
            [CompletionResult]::new('user', 'user', [CompletionResultType]::ParameterValue, 'Create, inspect, change and delete user accounts')
            [CompletionResult]::new('config', 'config', [CompletionResultType]::ParameterValue, 'Inspect the configuration')
            [CompletionResult]::new('blacklist', 'blacklist', [CompletionResultType]::ParameterValue, 'Prune expired tokens, or count tokens by state')
            [CompletionResult]::new('token', 'token', [CompletionResultType]::ParameterValue, 'Revoke tokens and sessions, or list a user''s sessions')
            [CompletionResult]::new('import', 'import', [CompletionResultType]::ParameterValue, 'Import users from the service authd replaces')
            [CompletionResult]::new('audit', 'audit', [CompletionResultType]::ParameterValue, 'Read the audit log: who did what, when, from where')
            [CompletionResult]::new('key', 'key', [CompletionResultType]::ParameterValue, 'Generate, list and rotate JWT signing keys')
            [CompletionResult]::new('loadtest', 'loadtest', [CompletionResultType]::ParameterValue, 'Load tests for CI: check that throttling holds')
            [CompletionResult]::new('throttle', 'throttle', [CompletionResultType]::ParameterValue, 'Show or clear throttle windows on the shared Redis')
            [CompletionResult]::new('healthcheck', 'healthcheck', [CompletionResultType]::ParameterValue, 'Ask a running server''s /readyz: exit 0 when ready, 1 otherwise (for container health checks)')
            [CompletionResult]::new('openapi', 'openapi', [CompletionResultType]::ParameterValue, 'Print the OpenAPI document of the HTTP API (as served at /api/schema/)')
            [CompletionResult]::new('help', 'help', [CompletionResultType]::ParameterValue, 'Print this message or the help of the given subcommand(s)')
            break
        }
        'authd;serve' {
            [CompletionResult]::new('--bind', '--bind', [CompletionResultType]::ParameterName, 'Address to listen on, e.g. 0.0.0.0:8000 (overrides http.bind). With neither, $PORT (set by Railway, Heroku, Cloud Run) means 0.0.0.0:$PORT')
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'Config file (TOML). Default: $AUTHD_CONFIG, else ./authd.toml if it exists')
            [CompletionResult]::new('--output', '--output', [CompletionResultType]::ParameterName, 'How admin commands print their results')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'Log more to stderr: -v for debug, -vv for trace (RUST_LOG wins when set)')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'Log more to stderr: -v for debug, -vv for trace (RUST_LOG wins when set)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'authd;migrate' {
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'Config file (TOML). Default: $AUTHD_CONFIG, else ./authd.toml if it exists')
            [CompletionResult]::new('--output', '--output', [CompletionResultType]::ParameterName, 'How admin commands print their results')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'Log more to stderr: -v for debug, -vv for trace (RUST_LOG wins when set)')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'Log more to stderr: -v for debug, -vv for trace (RUST_LOG wins when set)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('status', 'status', [CompletionResultType]::ParameterValue, 'Show every migration: applied (when), pending, or modified')
            [CompletionResult]::new('down', 'down', [CompletionResultType]::ParameterValue, 'Run down scripts, newest first, until the schema is at version N (0: empty)')
            [CompletionResult]::new('help', 'help', [CompletionResultType]::ParameterValue, 'Print this message or the help of the given subcommand(s)')
            break
        }
        'authd;migrate;status' {
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'Config file (TOML). Default: $AUTHD_CONFIG, else ./authd.toml if it exists')
            [CompletionResult]::new('--output', '--output', [CompletionResultType]::ParameterName, 'How admin commands print their results')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'Log more to stderr: -v for debug, -vv for trace (RUST_LOG wins when set)')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'Log more to stderr: -v for debug, -vv for trace (RUST_LOG wins when set)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'authd;migrate;down' {
            [CompletionResult]::new('--to', '--to', [CompletionResultType]::ParameterName, 'The version to stop at')
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'Config file (TOML). Default: $AUTHD_CONFIG, else ./authd.toml if it exists')
            [CompletionResult]::new('--output', '--output', [CompletionResultType]::ParameterName, 'How admin commands print their results')
            [CompletionResult]::new('--yes', '--yes', [CompletionResultType]::ParameterName, 'Do not ask for confirmation (required when stdin is not a terminal)')
            [CompletionResult]::new('--force', '--force', [CompletionResultType]::ParameterName, 'Revert even while servers are using the database (their requests will fail)')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'Log more to stderr: -v for debug, -vv for trace (RUST_LOG wins when set)')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'Log more to stderr: -v for debug, -vv for trace (RUST_LOG wins when set)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'authd;migrate;help' {
            [CompletionResult]::new('status', 'status', [CompletionResultType]::ParameterValue, 'Show every migration: applied (when), pending, or modified')
            [CompletionResult]::new('down', 'down', [CompletionResultType]::ParameterValue, 'Run down scripts, newest first, until the schema is at version N (0: empty)')
            [CompletionResult]::new('help', 'help', [CompletionResultType]::ParameterValue, 'Print this message or the help of the given subcommand(s)')
            break
        }
        'authd;migrate;help;status' {
            break
        }
        'authd;migrate;help;down' {
            break
        }
        'authd;migrate;help;help' {
            break
        }
        'authd;user' {
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'Config file (TOML). Default: $AUTHD_CONFIG, else ./authd.toml if it exists')
            [CompletionResult]::new('--output', '--output', [CompletionResultType]::ParameterName, 'How admin commands print their results')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'Log more to stderr: -v for debug, -vv for trace (RUST_LOG wins when set)')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'Log more to stderr: -v for debug, -vv for trace (RUST_LOG wins when set)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('create', 'create', [CompletionResultType]::ParameterValue, 'Create an account. The password comes from --password-stdin or a hidden prompt')
            [CompletionResult]::new('list', 'list', [CompletionResultType]::ParameterValue, 'List accounts in id order')
            [CompletionResult]::new('show', 'show', [CompletionResultType]::ParameterValue, 'Show one account')
            [CompletionResult]::new('update', 'update', [CompletionResultType]::ParameterValue, 'Change an account''s full name or flags')
            [CompletionResult]::new('disable', 'disable', [CompletionResultType]::ParameterValue, 'Disable an account: it can no longer log in, and its sessions and tokens are revoked')
            [CompletionResult]::new('enable', 'enable', [CompletionResultType]::ParameterValue, 'Enable a disabled account (its old tokens stay revoked)')
            [CompletionResult]::new('set-password', 'set-password', [CompletionResultType]::ParameterValue, 'Set a new password; every existing token of the account stops working')
            [CompletionResult]::new('delete', 'delete', [CompletionResultType]::ParameterValue, 'Delete an account with its sessions and tokens')
            [CompletionResult]::new('help', 'help', [CompletionResultType]::ParameterValue, 'Print this message or the help of the given subcommand(s)')
            break
        }
        'authd;user;create' {
            [CompletionResult]::new('--email', '--email', [CompletionResultType]::ParameterName, 'The account''s email address (its login; compared without regard to case)')
            [CompletionResult]::new('--full-name', '--full-name', [CompletionResultType]::ParameterName, 'The account''s display name')
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'Config file (TOML). Default: $AUTHD_CONFIG, else ./authd.toml if it exists')
            [CompletionResult]::new('--output', '--output', [CompletionResultType]::ParameterName, 'How admin commands print their results')
            [CompletionResult]::new('--staff', '--staff', [CompletionResultType]::ParameterName, 'Mark the account as staff')
            [CompletionResult]::new('--superuser', '--superuser', [CompletionResultType]::ParameterName, 'Mark the account as superuser')
            [CompletionResult]::new('--password-stdin', '--password-stdin', [CompletionResultType]::ParameterName, 'Read the password from the first line of standard input')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'Log more to stderr: -v for debug, -vv for trace (RUST_LOG wins when set)')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'Log more to stderr: -v for debug, -vv for trace (RUST_LOG wins when set)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'authd;user;list' {
            [CompletionResult]::new('--search', '--search', [CompletionResultType]::ParameterName, 'Only accounts whose email or full name contains this text (any case)')
            [CompletionResult]::new('--limit', '--limit', [CompletionResultType]::ParameterName, 'At most this many accounts')
            [CompletionResult]::new('--after', '--after', [CompletionResultType]::ParameterName, 'Only accounts with a larger id: pass the last id of the previous page to read the next one (each page is an index range, however many accounts there are)')
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'Config file (TOML). Default: $AUTHD_CONFIG, else ./authd.toml if it exists')
            [CompletionResult]::new('--output', '--output', [CompletionResultType]::ParameterName, 'How admin commands print their results')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'Log more to stderr: -v for debug, -vv for trace (RUST_LOG wins when set)')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'Log more to stderr: -v for debug, -vv for trace (RUST_LOG wins when set)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'authd;user;show' {
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'Config file (TOML). Default: $AUTHD_CONFIG, else ./authd.toml if it exists')
            [CompletionResult]::new('--output', '--output', [CompletionResultType]::ParameterName, 'How admin commands print their results')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'Log more to stderr: -v for debug, -vv for trace (RUST_LOG wins when set)')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'Log more to stderr: -v for debug, -vv for trace (RUST_LOG wins when set)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'authd;user;update' {
            [CompletionResult]::new('--full-name', '--full-name', [CompletionResultType]::ParameterName, 'The new display name ("" clears it)')
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'Config file (TOML). Default: $AUTHD_CONFIG, else ./authd.toml if it exists')
            [CompletionResult]::new('--output', '--output', [CompletionResultType]::ParameterName, 'How admin commands print their results')
            [CompletionResult]::new('--staff', '--staff', [CompletionResultType]::ParameterName, 'Mark the account as staff')
            [CompletionResult]::new('--no-staff', '--no-staff', [CompletionResultType]::ParameterName, 'Take the staff mark away')
            [CompletionResult]::new('--superuser', '--superuser', [CompletionResultType]::ParameterName, 'Mark the account as superuser')
            [CompletionResult]::new('--no-superuser', '--no-superuser', [CompletionResultType]::ParameterName, 'Take the superuser mark away')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'Log more to stderr: -v for debug, -vv for trace (RUST_LOG wins when set)')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'Log more to stderr: -v for debug, -vv for trace (RUST_LOG wins when set)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'authd;user;disable' {
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'Config file (TOML). Default: $AUTHD_CONFIG, else ./authd.toml if it exists')
            [CompletionResult]::new('--output', '--output', [CompletionResultType]::ParameterName, 'How admin commands print their results')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'Log more to stderr: -v for debug, -vv for trace (RUST_LOG wins when set)')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'Log more to stderr: -v for debug, -vv for trace (RUST_LOG wins when set)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'authd;user;enable' {
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'Config file (TOML). Default: $AUTHD_CONFIG, else ./authd.toml if it exists')
            [CompletionResult]::new('--output', '--output', [CompletionResultType]::ParameterName, 'How admin commands print their results')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'Log more to stderr: -v for debug, -vv for trace (RUST_LOG wins when set)')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'Log more to stderr: -v for debug, -vv for trace (RUST_LOG wins when set)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'authd;user;set-password' {
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'Config file (TOML). Default: $AUTHD_CONFIG, else ./authd.toml if it exists')
            [CompletionResult]::new('--output', '--output', [CompletionResultType]::ParameterName, 'How admin commands print their results')
            [CompletionResult]::new('--password-stdin', '--password-stdin', [CompletionResultType]::ParameterName, 'Read the password from the first line of standard input')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'Log more to stderr: -v for debug, -vv for trace (RUST_LOG wins when set)')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'Log more to stderr: -v for debug, -vv for trace (RUST_LOG wins when set)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'authd;user;delete' {
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'Config file (TOML). Default: $AUTHD_CONFIG, else ./authd.toml if it exists')
            [CompletionResult]::new('--output', '--output', [CompletionResultType]::ParameterName, 'How admin commands print their results')
            [CompletionResult]::new('--yes', '--yes', [CompletionResultType]::ParameterName, 'Do not ask for confirmation (required when stdin is not a terminal)')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'Log more to stderr: -v for debug, -vv for trace (RUST_LOG wins when set)')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'Log more to stderr: -v for debug, -vv for trace (RUST_LOG wins when set)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'authd;user;help' {
            [CompletionResult]::new('create', 'create', [CompletionResultType]::ParameterValue, 'Create an account. The password comes from --password-stdin or a hidden prompt')
            [CompletionResult]::new('list', 'list', [CompletionResultType]::ParameterValue, 'List accounts in id order')
            [CompletionResult]::new('show', 'show', [CompletionResultType]::ParameterValue, 'Show one account')
            [CompletionResult]::new('update', 'update', [CompletionResultType]::ParameterValue, 'Change an account''s full name or flags')
            [CompletionResult]::new('disable', 'disable', [CompletionResultType]::ParameterValue, 'Disable an account: it can no longer log in, and its sessions and tokens are revoked')
            [CompletionResult]::new('enable', 'enable', [CompletionResultType]::ParameterValue, 'Enable a disabled account (its old tokens stay revoked)')
            [CompletionResult]::new('set-password', 'set-password', [CompletionResultType]::ParameterValue, 'Set a new password; every existing token of the account stops working')
            [CompletionResult]::new('delete', 'delete', [CompletionResultType]::ParameterValue, 'Delete an account with its sessions and tokens')
            [CompletionResult]::new('help', 'help', [CompletionResultType]::ParameterValue, 'Print this message or the help of the given subcommand(s)')
            break
        }
        'authd;user;help;create' {
            break
        }
        'authd;user;help;list' {
            break
        }
        'authd;user;help;show' {
            break
        }
        'authd;user;help;update' {
            break
        }
        'authd;user;help;disable' {
            break
        }
        'authd;user;help;enable' {
            break
        }
        'authd;user;help;set-password' {
            break
        }
        'authd;user;help;delete' {
            break
        }
        'authd;user;help;help' {
            break
        }
        'authd;config' {
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'Config file (TOML). Default: $AUTHD_CONFIG, else ./authd.toml if it exists')
            [CompletionResult]::new('--output', '--output', [CompletionResultType]::ParameterName, 'How admin commands print their results')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'Log more to stderr: -v for debug, -vv for trace (RUST_LOG wins when set)')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'Log more to stderr: -v for debug, -vv for trace (RUST_LOG wins when set)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('check', 'check', [CompletionResultType]::ParameterValue, 'Validate the configuration and print the effective settings, secrets redacted')
            [CompletionResult]::new('help', 'help', [CompletionResultType]::ParameterValue, 'Print this message or the help of the given subcommand(s)')
            break
        }
        'authd;config;check' {
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'Config file (TOML). Default: $AUTHD_CONFIG, else ./authd.toml if it exists')
            [CompletionResult]::new('--output', '--output', [CompletionResultType]::ParameterName, 'How admin commands print their results')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'Log more to stderr: -v for debug, -vv for trace (RUST_LOG wins when set)')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'Log more to stderr: -v for debug, -vv for trace (RUST_LOG wins when set)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'authd;config;help' {
            [CompletionResult]::new('check', 'check', [CompletionResultType]::ParameterValue, 'Validate the configuration and print the effective settings, secrets redacted')
            [CompletionResult]::new('help', 'help', [CompletionResultType]::ParameterValue, 'Print this message or the help of the given subcommand(s)')
            break
        }
        'authd;config;help;check' {
            break
        }
        'authd;config;help;help' {
            break
        }
        'authd;blacklist' {
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'Config file (TOML). Default: $AUTHD_CONFIG, else ./authd.toml if it exists')
            [CompletionResult]::new('--output', '--output', [CompletionResultType]::ParameterName, 'How admin commands print their results')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'Log more to stderr: -v for debug, -vv for trace (RUST_LOG wins when set)')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'Log more to stderr: -v for debug, -vv for trace (RUST_LOG wins when set)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('prune', 'prune', [CompletionResultType]::ParameterValue, 'Delete expired refresh tokens (revoked or not), expired reset tokens and empty sessions')
            [CompletionResult]::new('stats', 'stats', [CompletionResultType]::ParameterValue, 'Count refresh and reset tokens by state (active, revoked, expired)')
            [CompletionResult]::new('help', 'help', [CompletionResultType]::ParameterValue, 'Print this message or the help of the given subcommand(s)')
            break
        }
        'authd;blacklist;prune' {
            [CompletionResult]::new('--batch-size', '--batch-size', [CompletionResultType]::ParameterName, 'Rows per transaction: smaller batches block a running server for less time')
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'Config file (TOML). Default: $AUTHD_CONFIG, else ./authd.toml if it exists')
            [CompletionResult]::new('--output', '--output', [CompletionResultType]::ParameterName, 'How admin commands print their results')
            [CompletionResult]::new('--dry-run', '--dry-run', [CompletionResultType]::ParameterName, 'Count what would be deleted; delete nothing')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'Log more to stderr: -v for debug, -vv for trace (RUST_LOG wins when set)')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'Log more to stderr: -v for debug, -vv for trace (RUST_LOG wins when set)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'authd;blacklist;stats' {
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'Config file (TOML). Default: $AUTHD_CONFIG, else ./authd.toml if it exists')
            [CompletionResult]::new('--output', '--output', [CompletionResultType]::ParameterName, 'How admin commands print their results')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'Log more to stderr: -v for debug, -vv for trace (RUST_LOG wins when set)')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'Log more to stderr: -v for debug, -vv for trace (RUST_LOG wins when set)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'authd;blacklist;help' {
            [CompletionResult]::new('prune', 'prune', [CompletionResultType]::ParameterValue, 'Delete expired refresh tokens (revoked or not), expired reset tokens and empty sessions')
            [CompletionResult]::new('stats', 'stats', [CompletionResultType]::ParameterValue, 'Count refresh and reset tokens by state (active, revoked, expired)')
            [CompletionResult]::new('help', 'help', [CompletionResultType]::ParameterValue, 'Print this message or the help of the given subcommand(s)')
            break
        }
        'authd;blacklist;help;prune' {
            break
        }
        'authd;blacklist;help;stats' {
            break
        }
        'authd;blacklist;help;help' {
            break
        }
        'authd;token' {
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'Config file (TOML). Default: $AUTHD_CONFIG, else ./authd.toml if it exists')
            [CompletionResult]::new('--output', '--output', [CompletionResultType]::ParameterName, 'How admin commands print their results')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'Log more to stderr: -v for debug, -vv for trace (RUST_LOG wins when set)')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'Log more to stderr: -v for debug, -vv for trace (RUST_LOG wins when set)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('revoke', 'revoke', [CompletionResultType]::ParameterValue, 'Revoke one refresh token, one session (its refresh and access tokens), or all of a user''s tokens')
            [CompletionResult]::new('list', 'list', [CompletionResultType]::ParameterValue, 'List a user''s sessions (created, last refreshed, client IP and user agent of each) and their refresh tokens: issued, expires, state, why revoked')
            [CompletionResult]::new('help', 'help', [CompletionResultType]::ParameterValue, 'Print this message or the help of the given subcommand(s)')
            break
        }
        'authd;token;revoke' {
            [CompletionResult]::new('--jti', '--jti', [CompletionResultType]::ParameterName, 'One refresh token, by its jti')
            [CompletionResult]::new('--session', '--session', [CompletionResultType]::ParameterName, 'One login session (the sid claim): its refresh and access tokens')
            [CompletionResult]::new('--user', '--user', [CompletionResultType]::ParameterName, 'Every session and token of an account, access tokens included')
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'Config file (TOML). Default: $AUTHD_CONFIG, else ./authd.toml if it exists')
            [CompletionResult]::new('--output', '--output', [CompletionResultType]::ParameterName, 'How admin commands print their results')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'Log more to stderr: -v for debug, -vv for trace (RUST_LOG wins when set)')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'Log more to stderr: -v for debug, -vv for trace (RUST_LOG wins when set)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'authd;token;list' {
            [CompletionResult]::new('--user', '--user', [CompletionResultType]::ParameterName, 'The account: its numeric id or its email')
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'Config file (TOML). Default: $AUTHD_CONFIG, else ./authd.toml if it exists')
            [CompletionResult]::new('--output', '--output', [CompletionResultType]::ParameterName, 'How admin commands print their results')
            [CompletionResult]::new('--active', '--active', [CompletionResultType]::ParameterName, 'Only sessions that can still be refreshed')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'Log more to stderr: -v for debug, -vv for trace (RUST_LOG wins when set)')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'Log more to stderr: -v for debug, -vv for trace (RUST_LOG wins when set)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'authd;token;help' {
            [CompletionResult]::new('revoke', 'revoke', [CompletionResultType]::ParameterValue, 'Revoke one refresh token, one session (its refresh and access tokens), or all of a user''s tokens')
            [CompletionResult]::new('list', 'list', [CompletionResultType]::ParameterValue, 'List a user''s sessions (created, last refreshed, client IP and user agent of each) and their refresh tokens: issued, expires, state, why revoked')
            [CompletionResult]::new('help', 'help', [CompletionResultType]::ParameterValue, 'Print this message or the help of the given subcommand(s)')
            break
        }
        'authd;token;help;revoke' {
            break
        }
        'authd;token;help;list' {
            break
        }
        'authd;token;help;help' {
            break
        }
        'authd;import' {
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'Config file (TOML). Default: $AUTHD_CONFIG, else ./authd.toml if it exists')
            [CompletionResult]::new('--output', '--output', [CompletionResultType]::ParameterName, 'How admin commands print their results')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'Log more to stderr: -v for debug, -vv for trace (RUST_LOG wins when set)')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'Log more to stderr: -v for debug, -vv for trace (RUST_LOG wins when set)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('django', 'django', [CompletionResultType]::ParameterValue, 'Import the users of the Django REST Framework + SimpleJWT service authd replaces')
            [CompletionResult]::new('help', 'help', [CompletionResultType]::ParameterValue, 'Print this message or the help of the given subcommand(s)')
            break
        }
        'authd;import;django' {
            [CompletionResult]::new('--from-database', '--from-database', [CompletionResultType]::ParameterName, 'The Django database: sqlite://PATH or postgres://user:pass@host/db (read only)')
            [CompletionResult]::new('--from-dumpdata', '--from-dumpdata', [CompletionResultType]::ParameterName, 'A `manage.py dumpdata <app>.<user model> [token_blacklist]` JSON file')
            [CompletionResult]::new('--table', '--table', [CompletionResultType]::ParameterName, 'The user table (default: the one table with id, email, password and last_login columns)')
            [CompletionResult]::new('--on-conflict', '--on-conflict', [CompletionResultType]::ParameterName, 'What to do with an account whose id exists already in authd')
            [CompletionResult]::new('--batch-size', '--batch-size', [CompletionResultType]::ParameterName, 'Rows per transaction')
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'Config file (TOML). Default: $AUTHD_CONFIG, else ./authd.toml if it exists')
            [CompletionResult]::new('--output', '--output', [CompletionResultType]::ParameterName, 'How admin commands print their results')
            [CompletionResult]::new('--dry-run', '--dry-run', [CompletionResultType]::ParameterName, 'Check everything and report what would happen; write nothing')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'Log more to stderr: -v for debug, -vv for trace (RUST_LOG wins when set)')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'Log more to stderr: -v for debug, -vv for trace (RUST_LOG wins when set)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'authd;import;help' {
            [CompletionResult]::new('django', 'django', [CompletionResultType]::ParameterValue, 'Import the users of the Django REST Framework + SimpleJWT service authd replaces')
            [CompletionResult]::new('help', 'help', [CompletionResultType]::ParameterValue, 'Print this message or the help of the given subcommand(s)')
            break
        }
        'authd;import;help;django' {
            break
        }
        'authd;import;help;help' {
            break
        }
        'authd;audit' {
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'Config file (TOML). Default: $AUTHD_CONFIG, else ./authd.toml if it exists')
            [CompletionResult]::new('--output', '--output', [CompletionResultType]::ParameterName, 'How admin commands print their results')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'Log more to stderr: -v for debug, -vv for trace (RUST_LOG wins when set)')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'Log more to stderr: -v for debug, -vv for trace (RUST_LOG wins when set)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('list', 'list', [CompletionResultType]::ParameterValue, 'List events, newest first, that match every filter given')
            [CompletionResult]::new('tail', 'tail', [CompletionResultType]::ParameterValue, 'Print the last events, oldest first, one per line (NDJSON with --output json); --follow keeps printing new ones')
            [CompletionResult]::new('stats', 'stats', [CompletionResultType]::ParameterValue, 'Count events by type and outcome (aggregate rows count as many as they stand for), and the IPs with the most failed logins')
            [CompletionResult]::new('help', 'help', [CompletionResultType]::ParameterValue, 'Print this message or the help of the given subcommand(s)')
            break
        }
        'authd;audit;list' {
            [CompletionResult]::new('--user', '--user', [CompletionResultType]::ParameterName, 'Events of this account: its numeric id, or an email (any case; events of deleted accounts too)')
            [CompletionResult]::new('--type', '--type', [CompletionResultType]::ParameterName, 'Events of this type; repeat for several')
            [CompletionResult]::new('--outcome', '--outcome', [CompletionResultType]::ParameterName, 'Only successes or only failures')
            [CompletionResult]::new('--ip', '--ip', [CompletionResultType]::ParameterName, 'Events of requests from this client IP')
            [CompletionResult]::new('--since', '--since', [CompletionResultType]::ParameterName, 'Events at or after then: a duration before now (2h, 30m, 7d) or an RFC 3339 time')
            [CompletionResult]::new('--until', '--until', [CompletionResultType]::ParameterName, 'Events before then: a duration before now or an RFC 3339 time')
            [CompletionResult]::new('--limit', '--limit', [CompletionResultType]::ParameterName, 'At most this many events')
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'Config file (TOML). Default: $AUTHD_CONFIG, else ./authd.toml if it exists')
            [CompletionResult]::new('--output', '--output', [CompletionResultType]::ParameterName, 'How admin commands print their results')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'Log more to stderr: -v for debug, -vv for trace (RUST_LOG wins when set)')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'Log more to stderr: -v for debug, -vv for trace (RUST_LOG wins when set)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'authd;audit;tail' {
            [CompletionResult]::new('-n', '-n', [CompletionResultType]::ParameterName, 'How many of the latest events to print first')
            [CompletionResult]::new('--lines', '--lines', [CompletionResultType]::ParameterName, 'How many of the latest events to print first')
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'Config file (TOML). Default: $AUTHD_CONFIG, else ./authd.toml if it exists')
            [CompletionResult]::new('--output', '--output', [CompletionResultType]::ParameterName, 'How admin commands print their results')
            [CompletionResult]::new('-f', '-f', [CompletionResultType]::ParameterName, 'Keep printing events as they are stored (polling every second) until interrupted (Ctrl-C or SIGTERM: exit 0)')
            [CompletionResult]::new('--follow', '--follow', [CompletionResultType]::ParameterName, 'Keep printing events as they are stored (polling every second) until interrupted (Ctrl-C or SIGTERM: exit 0)')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'Log more to stderr: -v for debug, -vv for trace (RUST_LOG wins when set)')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'Log more to stderr: -v for debug, -vv for trace (RUST_LOG wins when set)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'authd;audit;stats' {
            [CompletionResult]::new('--since', '--since', [CompletionResultType]::ParameterName, 'Count events since then: a duration before now (24h, 7d) or an RFC 3339 time')
            [CompletionResult]::new('--top', '--top', [CompletionResultType]::ParameterName, 'How many IPs to show')
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'Config file (TOML). Default: $AUTHD_CONFIG, else ./authd.toml if it exists')
            [CompletionResult]::new('--output', '--output', [CompletionResultType]::ParameterName, 'How admin commands print their results')
            [CompletionResult]::new('--all', '--all', [CompletionResultType]::ParameterName, 'Count every stored event instead (a scan of the whole table)')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'Log more to stderr: -v for debug, -vv for trace (RUST_LOG wins when set)')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'Log more to stderr: -v for debug, -vv for trace (RUST_LOG wins when set)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'authd;audit;help' {
            [CompletionResult]::new('list', 'list', [CompletionResultType]::ParameterValue, 'List events, newest first, that match every filter given')
            [CompletionResult]::new('tail', 'tail', [CompletionResultType]::ParameterValue, 'Print the last events, oldest first, one per line (NDJSON with --output json); --follow keeps printing new ones')
            [CompletionResult]::new('stats', 'stats', [CompletionResultType]::ParameterValue, 'Count events by type and outcome (aggregate rows count as many as they stand for), and the IPs with the most failed logins')
            [CompletionResult]::new('help', 'help', [CompletionResultType]::ParameterValue, 'Print this message or the help of the given subcommand(s)')
            break
        }
        'authd;audit;help;list' {
            break
        }
        'authd;audit;help;tail' {
            break
        }
        'authd;audit;help;stats' {
            break
        }
        'authd;audit;help;help' {
            break
        }
        'authd;key' {
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'Config file (TOML). Default: $AUTHD_CONFIG, else ./authd.toml if it exists')
            [CompletionResult]::new('--output', '--output', [CompletionResultType]::ParameterName, 'How admin commands print their results')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'Log more to stderr: -v for debug, -vv for trace (RUST_LOG wins when set)')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'Log more to stderr: -v for debug, -vv for trace (RUST_LOG wins when set)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('generate', 'generate', [CompletionResultType]::ParameterValue, 'Make a new signing key and print its jwt.keys entry: an HS256 secret (to stdout only), or an asymmetric private key written to --out (PKCS#8 PEM, mode 0600)')
            [CompletionResult]::new('list', 'list', [CompletionResultType]::ParameterValue, 'List the signing keys in force: id, algorithm, state, which one signs, where each comes from')
            [CompletionResult]::new('rotate', 'rotate', [CompletionResultType]::ParameterValue, 'Make a key the signing one by editing the config file: it moves first in jwt.keys and its state becomes active (default: the key whose state is "next"). Restart authd after')
            [CompletionResult]::new('help', 'help', [CompletionResultType]::ParameterValue, 'Print this message or the help of the given subcommand(s)')
            break
        }
        'authd;key;generate' {
            [CompletionResult]::new('--id', '--id', [CompletionResultType]::ParameterName, 'The key id (the tokens'' kid); default: k<date>-<random>')
            [CompletionResult]::new('--algorithm', '--algorithm', [CompletionResultType]::ParameterName, 'The key''s algorithm')
            [CompletionResult]::new('--out', '--out', [CompletionResultType]::ParameterName, 'Where to write the private key (asymmetric algorithms; never overwritten)')
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'Config file (TOML). Default: $AUTHD_CONFIG, else ./authd.toml if it exists')
            [CompletionResult]::new('--output', '--output', [CompletionResultType]::ParameterName, 'How admin commands print their results')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'Log more to stderr: -v for debug, -vv for trace (RUST_LOG wins when set)')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'Log more to stderr: -v for debug, -vv for trace (RUST_LOG wins when set)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'authd;key;list' {
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'Config file (TOML). Default: $AUTHD_CONFIG, else ./authd.toml if it exists')
            [CompletionResult]::new('--output', '--output', [CompletionResultType]::ParameterName, 'How admin commands print their results')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'Log more to stderr: -v for debug, -vv for trace (RUST_LOG wins when set)')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'Log more to stderr: -v for debug, -vv for trace (RUST_LOG wins when set)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'authd;key;rotate' {
            [CompletionResult]::new('--id', '--id', [CompletionResultType]::ParameterName, 'The key to make sign (default: the one `next` key)')
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'Config file (TOML). Default: $AUTHD_CONFIG, else ./authd.toml if it exists')
            [CompletionResult]::new('--output', '--output', [CompletionResultType]::ParameterName, 'How admin commands print their results')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'Log more to stderr: -v for debug, -vv for trace (RUST_LOG wins when set)')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'Log more to stderr: -v for debug, -vv for trace (RUST_LOG wins when set)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'authd;key;help' {
            [CompletionResult]::new('generate', 'generate', [CompletionResultType]::ParameterValue, 'Make a new signing key and print its jwt.keys entry: an HS256 secret (to stdout only), or an asymmetric private key written to --out (PKCS#8 PEM, mode 0600)')
            [CompletionResult]::new('list', 'list', [CompletionResultType]::ParameterValue, 'List the signing keys in force: id, algorithm, state, which one signs, where each comes from')
            [CompletionResult]::new('rotate', 'rotate', [CompletionResultType]::ParameterValue, 'Make a key the signing one by editing the config file: it moves first in jwt.keys and its state becomes active (default: the key whose state is "next"). Restart authd after')
            [CompletionResult]::new('help', 'help', [CompletionResultType]::ParameterValue, 'Print this message or the help of the given subcommand(s)')
            break
        }
        'authd;key;help;generate' {
            break
        }
        'authd;key;help;list' {
            break
        }
        'authd;key;help;rotate' {
            break
        }
        'authd;key;help;help' {
            break
        }
        'authd;loadtest' {
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'Config file (TOML). Default: $AUTHD_CONFIG, else ./authd.toml if it exists')
            [CompletionResult]::new('--output', '--output', [CompletionResultType]::ParameterName, 'How admin commands print their results')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'Log more to stderr: -v for debug, -vv for trace (RUST_LOG wins when set)')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'Log more to stderr: -v for debug, -vv for trace (RUST_LOG wins when set)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('ratelimit', 'ratelimit', [CompletionResultType]::ParameterValue, 'Check that a throttle scope lets exactly the expected number of requests through')
            [CompletionResult]::new('help', 'help', [CompletionResultType]::ParameterValue, 'Print this message or the help of the given subcommand(s)')
            break
        }
        'authd;loadtest;ratelimit' {
            [CompletionResult]::new('--url', '--url', [CompletionResultType]::ParameterName, 'Base URL of an authd instance, e.g. http://127.0.0.1:8000 (repeat to spread requests over several)')
            [CompletionResult]::new('--scope', '--scope', [CompletionResultType]::ParameterName, 'The throttle scope to check (password_change needs an account and cannot be checked)')
            [CompletionResult]::new('--requests', '--requests', [CompletionResultType]::ParameterName, 'Requests to send (all within one window of the rule)')
            [CompletionResult]::new('--concurrency', '--concurrency', [CompletionResultType]::ParameterName, 'Requests in flight at once')
            [CompletionResult]::new('--expect', '--expect', [CompletionResultType]::ParameterName, 'How many must pass; default: the limit the server announces for the scope (RateLimit-Policy)')
            [CompletionResult]::new('--email', '--email', [CompletionResultType]::ParameterName, 'The email login and password_reset requests use; default: a fresh one per run')
            [CompletionResult]::new('--forwarded-for', '--forwarded-for', [CompletionResultType]::ParameterName, 'Send X-Forwarded-For with this client address (to test behind a trusted proxy)')
            [CompletionResult]::new('--source-ip', '--source-ip', [CompletionResultType]::ParameterName, 'Connect from this local address; default on loopback: a fresh one in 127.0.0.0/8 per run, so the run spends neither your own quota nor an earlier run''s')
            [CompletionResult]::new('--duration', '--duration', [CompletionResultType]::ParameterName, 'Run for this long (e.g. 10s) to measure throughput, instead of checking the limit')
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'Config file (TOML). Default: $AUTHD_CONFIG, else ./authd.toml if it exists')
            [CompletionResult]::new('--output', '--output', [CompletionResultType]::ParameterName, 'How admin commands print their results')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'Log more to stderr: -v for debug, -vv for trace (RUST_LOG wins when set)')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'Log more to stderr: -v for debug, -vv for trace (RUST_LOG wins when set)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'authd;loadtest;help' {
            [CompletionResult]::new('ratelimit', 'ratelimit', [CompletionResultType]::ParameterValue, 'Check that a throttle scope lets exactly the expected number of requests through')
            [CompletionResult]::new('help', 'help', [CompletionResultType]::ParameterValue, 'Print this message or the help of the given subcommand(s)')
            break
        }
        'authd;loadtest;help;ratelimit' {
            break
        }
        'authd;loadtest;help;help' {
            break
        }
        'authd;throttle' {
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'Config file (TOML). Default: $AUTHD_CONFIG, else ./authd.toml if it exists')
            [CompletionResult]::new('--output', '--output', [CompletionResultType]::ParameterName, 'How admin commands print their results')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'Log more to stderr: -v for debug, -vv for trace (RUST_LOG wins when set)')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'Log more to stderr: -v for debug, -vv for trace (RUST_LOG wins when set)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('show', 'show', [CompletionResultType]::ParameterValue, 'Show the windows of a scope: requests counted, remaining, seconds until a slot frees')
            [CompletionResult]::new('clear', 'clear', [CompletionResultType]::ParameterValue, 'Delete windows, unlocking whoever they lock out')
            [CompletionResult]::new('help', 'help', [CompletionResultType]::ParameterValue, 'Print this message or the help of the given subcommand(s)')
            break
        }
        'authd;throttle;show' {
            [CompletionResult]::new('--scope', '--scope', [CompletionResultType]::ParameterName, 'The throttle scope whose windows to act on')
            [CompletionResult]::new('--email', '--email', [CompletionResultType]::ParameterName, 'Only windows of this email (login and password_reset)')
            [CompletionResult]::new('--ip', '--ip', [CompletionResultType]::ParameterName, 'Only windows of this client IP (an IPv6 address stands for its network, see throttle.ipv6_prefix)')
            [CompletionResult]::new('--user', '--user', [CompletionResultType]::ParameterName, 'Only the window of this user id (password_change)')
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'Config file (TOML). Default: $AUTHD_CONFIG, else ./authd.toml if it exists')
            [CompletionResult]::new('--output', '--output', [CompletionResultType]::ParameterName, 'How admin commands print their results')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'Log more to stderr: -v for debug, -vv for trace (RUST_LOG wins when set)')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'Log more to stderr: -v for debug, -vv for trace (RUST_LOG wins when set)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'authd;throttle;clear' {
            [CompletionResult]::new('--scope', '--scope', [CompletionResultType]::ParameterName, 'The throttle scope whose windows to act on')
            [CompletionResult]::new('--email', '--email', [CompletionResultType]::ParameterName, 'Only windows of this email (login and password_reset)')
            [CompletionResult]::new('--ip', '--ip', [CompletionResultType]::ParameterName, 'Only windows of this client IP (an IPv6 address stands for its network, see throttle.ipv6_prefix)')
            [CompletionResult]::new('--user', '--user', [CompletionResultType]::ParameterName, 'Only the window of this user id (password_change)')
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'Config file (TOML). Default: $AUTHD_CONFIG, else ./authd.toml if it exists')
            [CompletionResult]::new('--output', '--output', [CompletionResultType]::ParameterName, 'How admin commands print their results')
            [CompletionResult]::new('--all', '--all', [CompletionResultType]::ParameterName, 'Clear every window of the scope (needed when neither --email nor --ip is given)')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'Log more to stderr: -v for debug, -vv for trace (RUST_LOG wins when set)')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'Log more to stderr: -v for debug, -vv for trace (RUST_LOG wins when set)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'authd;throttle;help' {
            [CompletionResult]::new('show', 'show', [CompletionResultType]::ParameterValue, 'Show the windows of a scope: requests counted, remaining, seconds until a slot frees')
            [CompletionResult]::new('clear', 'clear', [CompletionResultType]::ParameterValue, 'Delete windows, unlocking whoever they lock out')
            [CompletionResult]::new('help', 'help', [CompletionResultType]::ParameterValue, 'Print this message or the help of the given subcommand(s)')
            break
        }
        'authd;throttle;help;show' {
            break
        }
        'authd;throttle;help;clear' {
            break
        }
        'authd;throttle;help;help' {
            break
        }
        'authd;healthcheck' {
            [CompletionResult]::new('--url', '--url', [CompletionResultType]::ParameterName, 'The readiness URL to ask. Default: /readyz on http.bind''s address ($PORT honoured as by serve; 0.0.0.0 and :: asked on loopback)')
            [CompletionResult]::new('--timeout', '--timeout', [CompletionResultType]::ParameterName, 'How long to wait for the whole answer, e.g. 3s or 500ms')
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'Config file (TOML). Default: $AUTHD_CONFIG, else ./authd.toml if it exists')
            [CompletionResult]::new('--output', '--output', [CompletionResultType]::ParameterName, 'How admin commands print their results')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'Log more to stderr: -v for debug, -vv for trace (RUST_LOG wins when set)')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'Log more to stderr: -v for debug, -vv for trace (RUST_LOG wins when set)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'authd;openapi' {
            [CompletionResult]::new('--out', '--out', [CompletionResultType]::ParameterName, 'Write the document to FILE instead of standard output')
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'Config file (TOML). Default: $AUTHD_CONFIG, else ./authd.toml if it exists')
            [CompletionResult]::new('--output', '--output', [CompletionResultType]::ParameterName, 'How admin commands print their results')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'Log more to stderr: -v for debug, -vv for trace (RUST_LOG wins when set)')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'Log more to stderr: -v for debug, -vv for trace (RUST_LOG wins when set)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'authd;help' {
            [CompletionResult]::new('serve', 'serve', [CompletionResultType]::ParameterValue, 'Run the HTTP service')
            [CompletionResult]::new('migrate', 'migrate', [CompletionResultType]::ParameterValue, 'Apply pending database migrations (or show them, or roll back)')
            [CompletionResult]::new('user', 'user', [CompletionResultType]::ParameterValue, 'Create, inspect, change and delete user accounts')
            [CompletionResult]::new('config', 'config', [CompletionResultType]::ParameterValue, 'Inspect the configuration')
            [CompletionResult]::new('blacklist', 'blacklist', [CompletionResultType]::ParameterValue, 'Prune expired tokens, or count tokens by state')
            [CompletionResult]::new('token', 'token', [CompletionResultType]::ParameterValue, 'Revoke tokens and sessions, or list a user''s sessions')
            [CompletionResult]::new('import', 'import', [CompletionResultType]::ParameterValue, 'Import users from the service authd replaces')
            [CompletionResult]::new('audit', 'audit', [CompletionResultType]::ParameterValue, 'Read the audit log: who did what, when, from where')
            [CompletionResult]::new('key', 'key', [CompletionResultType]::ParameterValue, 'Generate, list and rotate JWT signing keys')
            [CompletionResult]::new('loadtest', 'loadtest', [CompletionResultType]::ParameterValue, 'Load tests for CI: check that throttling holds')
            [CompletionResult]::new('throttle', 'throttle', [CompletionResultType]::ParameterValue, 'Show or clear throttle windows on the shared Redis')
            [CompletionResult]::new('healthcheck', 'healthcheck', [CompletionResultType]::ParameterValue, 'Ask a running server''s /readyz: exit 0 when ready, 1 otherwise (for container health checks)')
            [CompletionResult]::new('openapi', 'openapi', [CompletionResultType]::ParameterValue, 'Print the OpenAPI document of the HTTP API (as served at /api/schema/)')
            [CompletionResult]::new('help', 'help', [CompletionResultType]::ParameterValue, 'Print this message or the help of the given subcommand(s)')
            break
        }
        'authd;help;serve' {
            break
        }
        'authd;help;migrate' {
            [CompletionResult]::new('status', 'status', [CompletionResultType]::ParameterValue, 'Show every migration: applied (when), pending, or modified')
            [CompletionResult]::new('down', 'down', [CompletionResultType]::ParameterValue, 'Run down scripts, newest first, until the schema is at version N (0: empty)')
            break
        }
        'authd;help;migrate;status' {
            break
        }
        'authd;help;migrate;down' {
            break
        }
        'authd;help;user' {
            [CompletionResult]::new('create', 'create', [CompletionResultType]::ParameterValue, 'Create an account. The password comes from --password-stdin or a hidden prompt')
            [CompletionResult]::new('list', 'list', [CompletionResultType]::ParameterValue, 'List accounts in id order')
            [CompletionResult]::new('show', 'show', [CompletionResultType]::ParameterValue, 'Show one account')
            [CompletionResult]::new('update', 'update', [CompletionResultType]::ParameterValue, 'Change an account''s full name or flags')
            [CompletionResult]::new('disable', 'disable', [CompletionResultType]::ParameterValue, 'Disable an account: it can no longer log in, and its sessions and tokens are revoked')
            [CompletionResult]::new('enable', 'enable', [CompletionResultType]::ParameterValue, 'Enable a disabled account (its old tokens stay revoked)')
            [CompletionResult]::new('set-password', 'set-password', [CompletionResultType]::ParameterValue, 'Set a new password; every existing token of the account stops working')
            [CompletionResult]::new('delete', 'delete', [CompletionResultType]::ParameterValue, 'Delete an account with its sessions and tokens')
            break
        }
        'authd;help;user;create' {
            break
        }
        'authd;help;user;list' {
            break
        }
        'authd;help;user;show' {
            break
        }
        'authd;help;user;update' {
            break
        }
        'authd;help;user;disable' {
            break
        }
        'authd;help;user;enable' {
            break
        }
        'authd;help;user;set-password' {
            break
        }
        'authd;help;user;delete' {
            break
        }
        'authd;help;config' {
            [CompletionResult]::new('check', 'check', [CompletionResultType]::ParameterValue, 'Validate the configuration and print the effective settings, secrets redacted')
            break
        }
        'authd;help;config;check' {
            break
        }
        'authd;help;blacklist' {
            [CompletionResult]::new('prune', 'prune', [CompletionResultType]::ParameterValue, 'Delete expired refresh tokens (revoked or not), expired reset tokens and empty sessions')
            [CompletionResult]::new('stats', 'stats', [CompletionResultType]::ParameterValue, 'Count refresh and reset tokens by state (active, revoked, expired)')
            break
        }
        'authd;help;blacklist;prune' {
            break
        }
        'authd;help;blacklist;stats' {
            break
        }
        'authd;help;token' {
            [CompletionResult]::new('revoke', 'revoke', [CompletionResultType]::ParameterValue, 'Revoke one refresh token, one session (its refresh and access tokens), or all of a user''s tokens')
            [CompletionResult]::new('list', 'list', [CompletionResultType]::ParameterValue, 'List a user''s sessions (created, last refreshed, client IP and user agent of each) and their refresh tokens: issued, expires, state, why revoked')
            break
        }
        'authd;help;token;revoke' {
            break
        }
        'authd;help;token;list' {
            break
        }
        'authd;help;import' {
            [CompletionResult]::new('django', 'django', [CompletionResultType]::ParameterValue, 'Import the users of the Django REST Framework + SimpleJWT service authd replaces')
            break
        }
        'authd;help;import;django' {
            break
        }
        'authd;help;audit' {
            [CompletionResult]::new('list', 'list', [CompletionResultType]::ParameterValue, 'List events, newest first, that match every filter given')
            [CompletionResult]::new('tail', 'tail', [CompletionResultType]::ParameterValue, 'Print the last events, oldest first, one per line (NDJSON with --output json); --follow keeps printing new ones')
            [CompletionResult]::new('stats', 'stats', [CompletionResultType]::ParameterValue, 'Count events by type and outcome (aggregate rows count as many as they stand for), and the IPs with the most failed logins')
            break
        }
        'authd;help;audit;list' {
            break
        }
        'authd;help;audit;tail' {
            break
        }
        'authd;help;audit;stats' {
            break
        }
        'authd;help;key' {
            [CompletionResult]::new('generate', 'generate', [CompletionResultType]::ParameterValue, 'Make a new signing key and print its jwt.keys entry: an HS256 secret (to stdout only), or an asymmetric private key written to --out (PKCS#8 PEM, mode 0600)')
            [CompletionResult]::new('list', 'list', [CompletionResultType]::ParameterValue, 'List the signing keys in force: id, algorithm, state, which one signs, where each comes from')
            [CompletionResult]::new('rotate', 'rotate', [CompletionResultType]::ParameterValue, 'Make a key the signing one by editing the config file: it moves first in jwt.keys and its state becomes active (default: the key whose state is "next"). Restart authd after')
            break
        }
        'authd;help;key;generate' {
            break
        }
        'authd;help;key;list' {
            break
        }
        'authd;help;key;rotate' {
            break
        }
        'authd;help;loadtest' {
            [CompletionResult]::new('ratelimit', 'ratelimit', [CompletionResultType]::ParameterValue, 'Check that a throttle scope lets exactly the expected number of requests through')
            break
        }
        'authd;help;loadtest;ratelimit' {
            break
        }
        'authd;help;throttle' {
            [CompletionResult]::new('show', 'show', [CompletionResultType]::ParameterValue, 'Show the windows of a scope: requests counted, remaining, seconds until a slot frees')
            [CompletionResult]::new('clear', 'clear', [CompletionResultType]::ParameterValue, 'Delete windows, unlocking whoever they lock out')
            break
        }
        'authd;help;throttle;show' {
            break
        }
        'authd;help;throttle;clear' {
            break
        }
        'authd;help;healthcheck' {
            break
        }
        'authd;help;openapi' {
            break
        }
        'authd;help;help' {
            break
        }
    })

    $completions.Where{ $_.CompletionText -like "$wordToComplete*" } |
        Sort-Object -Property ListItemText
}
