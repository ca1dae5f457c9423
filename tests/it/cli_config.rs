//! `authd config check` and configuration errors as a shell user meets them,
//! and `config.example.toml` kept in step with the defaults.

use crate::common;

use common::{file_in, stderr, stdout, TestDb};

#[test]
fn config_check_prints_the_effective_config_with_secrets_redacted() {
    let db = TestDb::sqlite();
    let file = file_in(
        db.dir(),
        "prod.toml",
        "secret_key = \"0123456789abcdef0123456789abcdef-top-secret\"\n\
         [redis]\nurl = \"redis://:hunter2@127.0.0.1:6379/0\"\n\
         [mail.smtp]\npassword = \"smtp-password-value\"\n",
    );
    let output = db
        .authd()
        .env(
            "DATABASE_URL",
            "postgres://app:pg-password@db.internal/authd",
        )
        .env("AUTHD_JWT__ISSUER", "auth.example.com")
        .args(["config", "check", "--config", file.to_str().unwrap()])
        .output()
        .unwrap();
    let text = stdout(&output);
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(text.contains("issuer = \"auth.example.com\""), "{text}");
    assert!(
        text.contains("postgres://app:[redacted]@db.internal/authd"),
        "{text}"
    );
    for secret in [
        "top-secret",
        "hunter2",
        "smtp-password-value",
        "pg-password",
    ] {
        assert!(
            !text.contains(secret) && !stderr(&output).contains(secret),
            "{secret} leaked"
        );
    }

    let json = db
        .authd()
        .args(["config", "check", "--output", "json"])
        .output()
        .unwrap();
    let value: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(value["throttle"]["rates"]["login"], "5/minute");
    assert_eq!(value["http"]["max_body_bytes"], 16384);
}

#[test]
fn bad_configuration_is_one_line_naming_the_key_and_exit_2() {
    let db = TestDb::sqlite();
    let unknown = file_in(
        db.dir(),
        "unknown.toml",
        "[http]\nbind = \"127.0.0.1:8000\"\nmax_body = 10\n",
    );
    let bad_value = file_in(db.dir(), "bad.toml", "[jwt]\naccess_ttl = \"an hour\"\n");
    let cases = [
        (
            vec!["config", "check", "--config", unknown.to_str().unwrap()],
            vec![],
            "http.max_body (config file",
        ),
        (
            vec!["config", "check", "--config", bad_value.to_str().unwrap()],
            vec![],
            "jwt.access_ttl",
        ),
        (
            vec!["config", "check", "--config", "/nonexistent.toml"],
            vec![],
            "cannot read config file /nonexistent.toml",
        ),
        (
            vec!["config", "check"],
            vec![("AUTHD_THROTTLE__RATES__LOGIN", "5/fortnight")],
            "AUTHD_THROTTLE__RATES__LOGIN",
        ),
        (
            vec!["config", "check"],
            vec![("DATABASE_URL", "mysql://x")],
            "database.url (environment variable DATABASE_URL)",
        ),
        (
            vec!["user", "list"],
            vec![("AUTHD_NOPE__KEY", "1")],
            "nope.key (environment variable AUTHD_NOPE__KEY): unknown key",
        ),
    ];
    for (args, env, needle) in cases {
        let output = db.authd().envs(env).args(&args).output().unwrap();
        let message = stderr(&output);
        assert_eq!(output.status.code(), Some(2), "{args:?}: {message}");
        assert!(
            message.contains(needle),
            "expected {needle:?} in {message:?}"
        );
        assert_eq!(message.trim_end().lines().count(), 1, "{message}");
    }
}

#[test]
fn authd_toml_in_the_working_directory_is_read() {
    let db = TestDb::sqlite();
    file_in(db.dir(), "authd.toml", "[jwt]\nissuer = \"from-cwd\"\n");
    let output = db
        .authd()
        .args(["config", "check", "--output", "json"])
        .output()
        .unwrap();
    let value: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(value["jwt"]["issuer"], "from-cwd");
}

/// Every key of `Config` appears in config.example.toml with its default
/// value (optional keys as a commented-out line), and the example loads to
/// exactly the defaults.
#[test]
fn config_example_documents_every_key_with_its_default() {
    let example_path = concat!(env!("CARGO_MANIFEST_DIR"), "/config.example.toml");
    let example = std::fs::read_to_string(example_path).unwrap();
    let options = authd::config::LoadOptions {
        file: Some(example_path.into()),
        ..Default::default()
    };
    let loaded = authd::config::load(options).expect("the example is a valid config");
    let as_toml = |c: &authd::config::Config| toml::Table::try_from(c).unwrap();
    assert_eq!(
        as_toml(&loaded.config),
        as_toml(&authd::config::Config::default())
    );

    let optional = [
        "auto_migrate",
        "url = \"redis",
        "audience",
        "store",
        "templates_dir",
        "bind = \"127.0.0.1:9",
        "keys = [",
    ];
    for key in optional {
        assert!(
            example.contains(&format!("# {key}")),
            "config.example.toml lacks a commented {key:?}"
        );
    }
}

/// `AUTHD_HTTP_BIND` (one underscore) used to be ignored silently, and the
/// server listened on the default address.
#[test]
fn a_misspelled_authd_variable_stops_every_command() {
    let db = TestDb::sqlite();
    for args in [&["config", "check"][..], &["key", "list"], &["migrate"]] {
        let output = db
            .authd()
            .env("AUTHD_HTTP_BIND", "0.0.0.0:9000")
            .args(args)
            .output()
            .unwrap();
        let message = stderr(&output);
        assert_eq!(output.status.code(), Some(2), "{args:?}: {message}");
        assert!(
            message.contains("AUTHD_HTTP_BIND") && message.contains("AUTHD_HTTP__BIND"),
            "{args:?}: {message}"
        );
        assert_eq!(message.trim_end().lines().count(), 1, "{message}");
    }
}

/// With nothing configured (or DEBUG on), `serve` starts in development
/// mode: `config check` must not warn that it will refuse to start.
#[test]
fn config_check_matches_what_serve_does_in_development_mode() {
    let dir = tempfile::tempdir().unwrap();
    let check = |env: &[(&str, &str)]| {
        let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_authd"));
        command
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .envs(env.iter().copied())
            .current_dir(dir.path())
            .args(["config", "check"]);
        let output = command.output().unwrap();
        assert!(output.status.success(), "{}", stderr(&output));
        stderr(&output)
    };
    for (env, why) in [
        (&[][..], "nothing is configured"),
        (&[("DEBUG", "1")][..], "DEBUG is on"),
        (
            &[("DEBUG", "1"), ("DATABASE_URL", "sqlite://x.db")][..],
            "DEBUG is on",
        ),
    ] {
        let message = check(env);
        assert!(!message.contains("refuse"), "{env:?}: {message}");
        assert!(
            message.contains("development mode") && message.contains(why),
            "{env:?}: {message}"
        );
    }
    let production = check(&[("DATABASE_URL", "sqlite://x.db")]);
    assert!(
        production.contains("will refuse to start"),
        "configured without a secret: {production}"
    );
}
