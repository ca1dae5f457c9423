//! Swagger UI in a real browser: headless Chromium (Debian's package) loads
//! `/swagger/`, runs its scripts and renders every operation of the
//! document, and every request the page makes stays on the server's own
//! loopback origin (read from Chromium's network log). CI installs Chromium
//! and sets `AUTHD_TEST_CHROMIUM`. The screenshot in `docs/swagger.png` is
//! this page (`--screenshot` with the same flags).

use crate::common;

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;

use common::server::TestServer;
use common::{service_url, stderr, TestDb};
use serde_json::Value;

/// Flags that keep Chromium's own background traffic (updates, sign-in,
/// autofill) off, so the network log holds the page's requests.
const QUIET: &[&str] = &[
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-features=AutofillServerCommunication",
    "--hide-scrollbars",
];

/// Every URL the page asked for: the navigation, and each request whose
/// initiator is the page's origin.
fn page_requests(netlog: &Path, origin: &str) -> Vec<String> {
    let log: Value = serde_json::from_slice(&std::fs::read(netlog).unwrap()).expect("a netlog");
    let start_job = log["constants"]["logEventTypes"]["URL_REQUEST_START_JOB"]
        .as_u64()
        .expect("the event type");
    log["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|event| event["type"].as_u64() == Some(start_job))
        .map(|event| &event["params"])
        .filter(|params| params["initiator"] == origin || params["request_type"] == "main frame")
        .map(|params| params["url"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn swagger_ui_renders_every_operation_without_leaving_loopback() {
    let test = "swagger_ui_renders_every_operation_without_leaving_loopback";
    let Some(chromium) = service_url("AUTHD_TEST_CHROMIUM", test) else {
        return;
    };
    let db = TestDb::sqlite();
    let runtime = common::server::runtime();
    let server = runtime.block_on(TestServer::start(&db, |_| {}));
    let schema: Value = runtime.block_on(async {
        let reply = server
            .client
            .get(server.url("/api/schema/"))
            .send()
            .await
            .unwrap();
        reply.json().await.unwrap()
    });

    let profile = db.dir().join("chromium-profile");
    let netlog = db.dir().join("netlog.json");
    let page = Command::new(chromium)
        .args(QUIET)
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg(format!("--log-net-log={}", netlog.display()))
        // Lets the page's scripts run and fetch the schema before the dump.
        .arg("--virtual-time-budget=15000")
        .arg("--dump-dom")
        .arg(server.url("/swagger/"))
        .output()
        .unwrap();
    assert!(page.status.success(), "chromium: {}", stderr(&page));
    let dom = String::from_utf8_lossy(&page.stdout);

    // Every path of the document is rendered as an operation block.
    let paths: BTreeSet<&str> = schema["paths"]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(paths.len(), 22);
    for path in &paths {
        assert!(
            dom.contains(&format!("data-path=\"{path}\"")),
            "{path} is rendered"
        );
    }
    assert!(
        dom.contains("opblock-post")
            && dom.contains("opblock-get")
            && dom.contains("opblock-delete")
    );
    assert!(
        dom.contains("Authorize"),
        "the Bearer scheme offers Authorize"
    );

    let requests = page_requests(&netlog, &server.base);
    for wanted in [
        "/swagger/",
        "/swagger/swagger-ui-bundle.js",
        "/swagger/swagger-ui.css",
        "/api/schema/",
    ] {
        assert!(
            requests.contains(&server.url(wanted)),
            "the page loaded {wanted}: {requests:?}"
        );
    }
    let elsewhere: Vec<_> = requests
        .iter()
        .filter(|url| !url.starts_with(&format!("{}/", server.base)))
        .collect();
    assert!(elsewhere.is_empty(), "requests off loopback: {elsewhere:?}");
}
