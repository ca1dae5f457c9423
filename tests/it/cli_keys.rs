//! Signing keys from the admin CLI: `key generate` for asymmetric keys (an
//! owner-only key file, never overwritten), `SECRET_KEY`'s key visible as
//! `default` in `key list` and `config check`, and key problems found by
//! `config check` as one line, exit 2 (a `default` entry that would hide
//! SECRET_KEY's key, a readable private key file, a short RSA key).

use crate::common;

use std::os::unix::fs::PermissionsExt;

use common::server::TEST_SECRET;
use common::{file_in, stderr, stdout, TestDb};
use rsa::pkcs8::{EncodePrivateKey, LineEnding};

fn one_line_exit_2(output: &std::process::Output, wanted: &[&str]) {
    let message = stderr(output);
    assert_eq!(output.status.code(), Some(2), "{message}");
    assert_eq!(message.trim_end().lines().count(), 1, "{message}");
    for part in wanted {
        assert!(message.contains(part), "{part:?} not in {message}");
    }
}

#[test]
fn asymmetric_keys_are_written_owner_only_and_never_over_a_file() {
    let db = TestDb::sqlite();
    let generate = |args: &[&str]| {
        db.authd()
            .args(["key", "generate"])
            .args(args)
            .output()
            .unwrap()
    };
    for algorithm in ["ed25519", "es256", "rs256"] {
        let file = format!("{algorithm}.pem");
        let output = generate(&["--algorithm", algorithm, "--out", &file, "--id", algorithm]);
        let text = stdout(&output);
        assert!(output.status.success(), "{}", stderr(&output));
        let path = db.dir().join(&file);
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "{algorithm}");
        let pem = std::fs::read_to_string(&path).unwrap();
        assert!(
            pem.starts_with("-----BEGIN PRIVATE KEY-----"),
            "{algorithm}: PKCS#8"
        );
        assert!(
            !text.contains("BEGIN"),
            "the key is in the file only: {text}"
        );
        // Nothing configured: the new key is the first, and active.
        assert!(
            text.contains("[[jwt.keys]]")
                && text.contains(&format!(
                    "private_key_file = \"{}\"",
                    path.canonicalize().unwrap().display()
                ))
                && !text.contains("state = "),
            "{text}"
        );
        let again = generate(&["--algorithm", algorithm, "--out", &file]);
        one_line_exit_2(&again, &["exists", "never overwrites"]);
        assert_eq!(std::fs::read_to_string(&path).unwrap(), pem, "untouched");
    }
    one_line_exit_2(
        &generate(&["--algorithm", "ed25519"]),
        &["--out FILE is required"],
    );
    one_line_exit_2(
        &generate(&["--out", "x.pem"]),
        &["--out is for asymmetric keys"],
    );
}

#[test]
fn secret_key_is_key_default_beside_jwt_keys_and_config_check_shows_it() {
    let db = TestDb::sqlite();
    let list = db
        .authd()
        .env("SECRET_KEY", TEST_SECRET)
        .args(["key", "list", "--output", "json"])
        .output()
        .unwrap();
    let keys: serde_json::Value = serde_json::from_slice(&list.stdout).unwrap();
    assert_eq!(
        keys,
        serde_json::json!([{"id": "default", "algorithm": "HS256", "state": "active", "signs": true, "source": "secret_key (SECRET_KEY)"}])
    );
    let config = file_in(
        db.dir(),
        "authd.toml",
        &format!(
            "[[jwt.keys]]\nid = \"k1\"\nsecret = \"{}\"\n",
            "n".repeat(40)
        ),
    );
    let check = db
        .authd()
        .env("SECRET_KEY", TEST_SECRET)
        .args(["config", "check", "--config", config.to_str().unwrap()])
        .output()
        .unwrap();
    let text = stdout(&check);
    assert!(check.status.success(), "{}", stderr(&check));
    let rows: Vec<_> = text
        .lines()
        .filter(|l| l.starts_with('#') && (l.contains("k1") || l.contains("default")))
        .collect();
    assert_eq!(rows.len(), 2, "{text}");
    assert!(rows[0].contains("k1") && rows[0].contains("yes"), "{text}");
    assert!(
        rows[1].contains("default")
            && rows[1].contains("verifies only")
            && rows[1].contains("SECRET_KEY"),
        "{text}"
    );
    assert!(!text.contains(TEST_SECRET) && !text.contains(&"n".repeat(40)));
}

#[test]
fn a_default_entry_with_another_secret_is_refused_in_one_line() {
    let db = TestDb::sqlite();
    let config = file_in(
        db.dir(),
        "authd.toml",
        &format!(
            "[[jwt.keys]]\nid = \"default\"\nsecret = \"{}\"\n",
            "n".repeat(40)
        ),
    );
    let output = db
        .authd()
        .env("SECRET_KEY", TEST_SECRET)
        .args(["config", "check", "--config", config.to_str().unwrap()])
        .output()
        .unwrap();
    one_line_exit_2(
        &output,
        &["jwt.keys[0].id", "SECRET_KEY's value as its secret"],
    );
    // Carried over (the same secret): accepted, and listed once.
    std::fs::write(
        &config,
        format!("[[jwt.keys]]\nid = \"default\"\nsecret = \"{TEST_SECRET}\"\n"),
    )
    .unwrap();
    let list = db
        .authd()
        .env("SECRET_KEY", TEST_SECRET)
        .args([
            "key",
            "list",
            "--output",
            "json",
            "--config",
            config.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    let keys: serde_json::Value = serde_json::from_slice(&list.stdout).unwrap();
    assert_eq!(keys.as_array().unwrap().len(), 1, "{keys}");
    assert_eq!(keys[0]["source"], "jwt.keys[0]");
}

#[test]
fn config_check_refuses_a_readable_private_key_and_a_short_rsa_key() {
    let db = TestDb::sqlite();
    let pem = db.dir().join("ed.pem");
    let generated = db
        .authd()
        .args([
            "key",
            "generate",
            "--algorithm",
            "ed25519",
            "--out",
            pem.to_str().unwrap(),
            "--id",
            "ed",
        ])
        .output()
        .unwrap();
    let config = file_in(db.dir(), "authd.toml", &stdout(&generated));
    let check = || {
        db.authd()
            .args(["config", "check", "--config", config.to_str().unwrap()])
            .output()
            .unwrap()
    };
    assert!(check().status.success(), "{}", stderr(&check()));
    std::fs::set_permissions(&pem, std::fs::Permissions::from_mode(0o644)).unwrap();
    one_line_exit_2(&check(), &["jwt.keys[0].private_key_file", "chmod 600"]);

    let small = rsa::RsaPrivateKey::new(&mut rand::rngs::OsRng, 1024).unwrap();
    let rsa_file = db.dir().join("small.pem");
    std::fs::write(
        &rsa_file,
        small.to_pkcs8_pem(LineEnding::LF).unwrap().as_bytes(),
    )
    .unwrap();
    std::fs::set_permissions(&rsa_file, std::fs::Permissions::from_mode(0o600)).unwrap();
    std::fs::write(
        &config,
        format!(
            "[[jwt.keys]]\nid = \"rs\"\nalgorithm = \"RS256\"\nprivate_key_file = \"{}\"\n",
            rsa_file.display()
        ),
    )
    .unwrap();
    one_line_exit_2(
        &check(),
        &["jwt.keys[0].private_key_file", "1024 bits", "at least 2048"],
    );
}
