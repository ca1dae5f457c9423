//! `deploy/nginx/authd.conf`: nginx accepts it (`nginx -t`, with a
//! certificate made here in place of the Let's Encrypt paths), and its
//! timeouts fit authd's: the upstream keep-alive ends before authd's
//! `http.idle_timeout` closes an idle connection, and nginx waits longer
//! than `http.request_timeout`, so authd answers a slow request itself.

use crate::common;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use authd::config::Config;
use common::stderr;
use common::tls::TestCa;

fn conf_text() -> String {
    std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/nginx/authd.conf"))
        .expect("read deploy/nginx/authd.conf")
}

/// The value of the one `directive` in the file, as a duration.
fn duration(conf: &str, directive: &str) -> Duration {
    let found: Vec<&str> = conf
        .lines()
        .filter_map(|line| line.trim().strip_prefix(directive)?.strip_prefix(' '))
        .collect();
    assert_eq!(found.len(), 1, "{directive}: {found:?}");
    humantime::parse_duration(found[0].trim_end_matches(';')).unwrap()
}

#[test]
fn nginx_timeouts_fit_authds() {
    let conf = conf_text();
    let http = Config::default().http;
    assert!(duration(&conf, "keepalive_timeout") < *http.idle_timeout);
    assert!(duration(&conf, "proxy_read_timeout") > *http.request_timeout);
    assert!(duration(&conf, "proxy_send_timeout") > *http.request_timeout);
    for header in [
        "proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;",
        "proxy_set_header X-Forwarded-Proto $scheme;",
        "proxy_set_header Host $host;",
    ] {
        assert!(conf.contains(header), "{header}");
    }
}

#[test]
fn nginx_accepts_the_configuration() {
    let test = "deploy_proxy::nginx_accepts_the_configuration";
    let Some(nginx) = common::service_url("AUTHD_TEST_NGINX", test) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let ca = TestCa::new(dir.path(), "ca");
    let issued = ca.issue(dir.path(), "auth", &["auth.example.com"]);
    let conf = conf_text()
        .replace(
            "/etc/letsencrypt/live/auth.example.com/fullchain.pem",
            issued.cert.to_str().unwrap(),
        )
        .replace(
            "/etc/letsencrypt/live/auth.example.com/privkey.pem",
            issued.key.to_str().unwrap(),
        );
    std::fs::write(dir.path().join("authd.conf"), conf).unwrap();
    let prefix = dir.path().display();
    let main = format!(
        "pid {prefix}/nginx.pid;\nerror_log {prefix}/error.log;\nevents {{}}\nhttp {{\n  access_log {prefix}/access.log;\n  include {prefix}/authd.conf;\n}}\n"
    );
    std::fs::write(dir.path().join("nginx.conf"), main).unwrap();
    let output = Command::new(nginx)
        .arg("-t")
        .arg("-p")
        .arg(dir.path())
        .arg("-e")
        .arg(dir.path().join("error.log"))
        .arg("-c")
        .arg(dir.path().join("nginx.conf"))
        .output()
        .expect("run nginx -t");
    assert!(output.status.success(), "{}", stderr(&output));
}
