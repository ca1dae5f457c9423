//! `deploy/authd.service`: systemd itself parses it (`systemd-analyze
//! verify`: any unknown key or unparsable value is a failure, not just a
//! warning), rates its sandbox (`systemd-analyze security`: exposure at
//! most 2.0 of 10, systemd's "OK"), and its stop timeout leaves authd's
//! graceful drain room. systemd is not PID 1 here, so the unit is never
//! started: what it does at run time is authd's own behaviour, tested
//! elsewhere (SIGTERM in tests/it/serve_process.rs).

use crate::common;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use authd::config::Config;
use common::{stderr, stdout};

const INSTALLED_BINARY: &str = "/usr/local/bin/authd";

fn unit_text() -> String {
    std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/authd.service"))
        .expect("read deploy/authd.service")
}

/// Every value of `key` in the unit, in order.
fn values(unit: &str, key: &str) -> Vec<String> {
    unit.lines()
        .filter_map(|line| line.strip_prefix(key)?.strip_prefix('='))
        .map(str::to_string)
        .collect()
}

/// The unit in a temporary directory, its binary the one just built (verify
/// checks that ExecStart's command exists and is executable).
fn unit_file(dir: &Path) -> std::path::PathBuf {
    let path = dir.join("authd.service");
    let text = unit_text().replace(INSTALLED_BINARY, env!("CARGO_BIN_EXE_authd"));
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn the_unit_is_hardened_and_stops_gracefully() {
    let unit = unit_text();
    let one = |key: &str| {
        let found = values(&unit, key);
        assert_eq!(found.len(), 1, "{key}: {found:?}");
        found[0].clone()
    };
    assert_eq!(one("ExecStart"), format!("{INSTALLED_BINARY} serve"));
    assert_eq!(one("DynamicUser"), "yes");
    assert_eq!(one("StateDirectory"), "authd");
    assert_eq!(one("ProtectSystem"), "strict");
    assert_eq!(one("ProtectHome"), "yes");
    assert_eq!(one("NoNewPrivileges"), "yes");
    assert_eq!(one("PrivateTmp"), "yes");
    assert_eq!(one("CapabilityBoundingSet"), "");
    assert_eq!(one("KillSignal"), "SIGTERM");
    assert!(values(&unit, "SystemCallFilter").contains(&"@system-service".to_string()));
    assert_eq!(one("EnvironmentFile"), "/etc/authd/authd.env");
    // The database and outbox live in the one writable place.
    let env = values(&unit, "Environment");
    assert!(env.contains(&"DATABASE_URL=sqlite:///var/lib/authd/authd.db".to_string()));
    assert!(env.contains(&"AUTHD_MAIL__OUTBOX_DIR=/var/lib/authd/outbox".to_string()));

    let stop = humantime::parse_duration(&one("TimeoutStopSec")).unwrap();
    let grace = *Config::default().http.shutdown_grace;
    assert!(
        stop >= grace + Duration::from_secs(10),
        "TimeoutStopSec {stop:?} must exceed http.shutdown_grace {grace:?}"
    );
}

#[test]
fn systemd_analyze_verifies_the_unit_without_a_warning() {
    let test = "deploy_systemd::systemd_analyze_verifies_the_unit_without_a_warning";
    let Some(analyze) = common::service_url("AUTHD_TEST_SYSTEMD_ANALYZE", test) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let unit = unit_file(dir.path());
    // --man=no: the man pages of Documentation= need not be installed here.
    let output = Command::new(&analyze)
        .args(["verify", "--man=no"])
        .arg(&unit)
        .output()
        .expect("run systemd-analyze");
    assert!(output.status.success(), "{}", stderr(&output));
    // A key systemd does not know, or cannot parse, is only logged.
    assert_eq!(
        stderr(&output).trim(),
        "",
        "systemd-analyze verify complained"
    );
}

#[test]
fn systemd_rates_the_sandbox_ok() {
    let test = "deploy_systemd::systemd_rates_the_sandbox_ok";
    let Some(analyze) = common::service_url("AUTHD_TEST_SYSTEMD_ANALYZE", test) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let unit = unit_file(dir.path());
    // The threshold is on a 0-100 scale: 20 is an exposure of 2.0.
    let output = Command::new(&analyze)
        .args(["security", "--offline=true", "--threshold=20", "--no-pager"])
        .arg(&unit)
        .output()
        .expect("run systemd-analyze");
    assert!(
        output.status.success(),
        "{}{}",
        stdout(&output),
        stderr(&output)
    );
}
