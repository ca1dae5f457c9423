//! The checked-in completions and man pages are what the clap definitions
//! generate now, and install.sh installs them (shellcheck-clean).

use crate::common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

fn files(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| {
            let path = entry.unwrap().path();
            (
                path.file_name().unwrap().to_string_lossy().into_owned(),
                std::fs::read(&path).unwrap(),
            )
        })
        .collect()
}

#[test]
fn completions_and_man_pages_are_up_to_date() {
    let fresh = tempfile::tempdir().unwrap();
    authd::cli::assets::write_assets(fresh.path()).unwrap();
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    for folder in ["completions", "man"] {
        let (checked_in, generated) =
            (files(&repo.join(folder)), files(&fresh.path().join(folder)));
        assert_eq!(
            checked_in.keys().collect::<Vec<_>>(),
            generated.keys().collect::<Vec<_>>(),
            "{folder}/ is stale: run `cargo run --example generate_assets -- .`"
        );
        for (name, content) in &generated {
            assert!(
                checked_in[name] == *content,
                "{folder}/{name} is stale: run `cargo run --example generate_assets -- .`"
            );
        }
    }
    assert!(files(&repo.join("man")).contains_key("authd-user-create.1"));
}

#[test]
fn man_pages_have_the_sections_a_reader_looks_for() {
    let man = files(&Path::new(env!("CARGO_MANIFEST_DIR")).join("man"));
    for (name, page) in &man {
        let page = String::from_utf8_lossy(page);
        assert!(
            page.contains(".SH \"EXIT STATUS\""),
            "{name} has EXIT STATUS"
        );
        assert!(!page.contains(".SH EXTRA"), "{name}");
    }
    let main = String::from_utf8_lossy(&man["authd.1"]);
    for section in ["ENVIRONMENT", "FILES", "EXAMPLES"] {
        assert!(
            main.contains(&format!(".SH {section}")),
            "authd.1 has {section}"
        );
    }
    for page in [
        "authd-user-create.1",
        "authd-token-revoke.1",
        "authd-loadtest-ratelimit.1",
    ] {
        assert!(
            String::from_utf8_lossy(&man[page]).contains(".SH EXAMPLES"),
            "{page}"
        );
    }
    let create = String::from_utf8_lossy(&man["authd-user-create.1"]);
    assert!(create.contains("email address"), "--email is described");
}

#[test]
fn bash_completion_offers_scope_names_and_no_hidden_command() {
    let bash = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("completions/authd.bash"),
    )
    .unwrap();
    assert!(!bash.contains("generate-assets"));
    let scope = bash.find("--scope)").expect("a --scope case");
    let offered = &bash[scope..scope + 200];
    assert!(
        offered.contains("login password_reset") && !offered.contains("compgen -f"),
        "{offered}"
    );
}

fn install_sh() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("install.sh")
}

#[test]
fn install_sh_installs_and_uninstalls_idempotently() {
    let prefix = tempfile::tempdir().unwrap();
    let run = |args: &[&str]| {
        let output = Command::new("bash")
            .arg(install_sh())
            .args([
                "--prefix",
                prefix.path().to_str().unwrap(),
                "--binary",
                env!("CARGO_BIN_EXE_authd"),
            ])
            .args(args)
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "install.sh {args:?}: {}",
            common::stderr(&output)
        );
        common::stdout(&output)
    };
    run(&[]);
    run(&[]);
    let p = prefix.path();
    for file in [
        "bin/authd",
        "share/man/man1/authd.1",
        "share/man/man1/authd-user-create.1",
        "share/bash-completion/completions/authd",
        "share/zsh/site-functions/_authd",
        "share/fish/vendor_completions.d/authd.fish",
    ] {
        assert!(p.join(file).exists(), "{file} installed");
    }
    let version = Command::new(p.join("bin/authd"))
        .arg("--version")
        .output()
        .unwrap();
    assert!(common::stdout(&version).starts_with("authd "));
    let completion = Command::new("bash")
        .arg("-c")
        .arg(format!(
            "source {} && complete -p authd",
            p.join("share/bash-completion/completions/authd").display()
        ))
        .output()
        .unwrap();
    assert!(
        common::stdout(&completion).contains("authd"),
        "{}",
        common::stderr(&completion)
    );

    let said = run(&["--uninstall"]);
    assert!(said.contains("Removed"), "{said}");
    assert!(!p.join("bin/authd").exists() && !p.join("share/man/man1/authd.1").exists());
    run(&["--uninstall"]);
}

#[test]
fn install_sh_is_shellcheck_clean() {
    match Command::new("shellcheck")
        .arg(install_sh())
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join(".ci/run"))
        .output()
    {
        Ok(output) => assert!(output.status.success(), "{}", common::stdout(&output)),
        Err(_) if std::env::var("AUTHD_TEST_REQUIRE_SERVICES").as_deref() == Ok("1") => {
            panic!("shellcheck is not installed (CI installs it)")
        }
        Err(_) => {
            use std::io::Write;
            let _ = writeln!(
                std::io::stderr(),
                "SKIPPED assets::install_sh_is_shellcheck_clean: shellcheck is not installed"
            );
        }
    }
}
