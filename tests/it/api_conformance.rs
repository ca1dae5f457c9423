//! The live server against its own OpenAPI document, with the reference
//! tools from PyPI: openapi-spec-validator checks the document against the
//! OpenAPI 3.1 specification (and its 3.0 and Swagger 2.0 forms against
//! theirs), and schemathesis calls every operation with
//! generated requests (examples, boundary values, fuzzing) and fails on any
//! 5xx or any response the document does not allow (status, content type,
//! headers, body schema). CI installs both (`.ci/run`) and points
//! `AUTHD_TEST_OPENAPI_VALIDATOR` and `AUTHD_TEST_SCHEMATHESIS` at them.

use crate::common;

use std::process::Command;

use common::server::{access, TestServer};
use common::{service_url, stderr, stdout, TestDb};

#[test]
fn the_document_passes_openapi_spec_validator() {
    let Some(validator) = service_url(
        "AUTHD_TEST_OPENAPI_VALIDATOR",
        "the_document_passes_openapi_spec_validator",
    ) else {
        return;
    };
    let db = TestDb::sqlite();
    let file = db.dir().join("openapi.json");
    let printed = db
        .authd()
        .arg("openapi")
        .arg("--out")
        .arg(&file)
        .output()
        .unwrap();
    assert!(printed.status.success(), "{}", stderr(&printed));
    let checked = Command::new(validator).arg(&file).output().unwrap();
    assert!(
        checked.status.success(),
        "openapi-spec-validator: {}{}",
        stdout(&checked),
        stderr(&checked)
    );
}

#[test]
fn every_served_form_of_the_document_passes_openapi_spec_validator() {
    let test = "every_served_form_of_the_document_passes_openapi_spec_validator";
    let Some(validator) = service_url("AUTHD_TEST_OPENAPI_VALIDATOR", test) else {
        return;
    };
    let db = TestDb::sqlite();
    let runtime = common::server::runtime();
    let server = runtime.block_on(TestServer::start(&db, |_| {}));
    // openapi-spec-validator reads JSON and YAML, and tells 2.0, 3.0 and
    // 3.1 apart by the document's own version member.
    for (path, file) in [
        ("/swagger.json", "swagger.json"),
        ("/swagger.yaml", "swagger.yaml"),
        ("/api/schema/?format=yaml", "openapi.yaml"),
        ("/api/schema/?version=3.0", "openapi30.json"),
        ("/api/schema/?version=3.0&format=yaml", "openapi30.yaml"),
    ] {
        let body = runtime.block_on(async {
            let reply = server.client.get(server.url(path)).send().await.unwrap();
            assert_eq!(reply.status(), 200, "{path}");
            reply.bytes().await.unwrap()
        });
        let file = db.dir().join(file);
        std::fs::write(&file, &body).unwrap();
        let checked = Command::new(&validator).arg(&file).output().unwrap();
        assert!(
            checked.status.success(),
            "openapi-spec-validator on {path}: {}{}",
            stdout(&checked),
            stderr(&checked)
        );
    }
    drop(server);
}

/// `positive_data_acceptance` is left out on purpose: it expects every
/// request the schema allows to succeed, but the password policy (common
/// passwords, similarity to the email) and email uniqueness are not
/// expressible in JSON Schema. `negative_data_rejection` is left out because
/// the refresh and logout bodies may be empty (the cookie carries the token)
/// and unknown members are ignored, as DRF does.
#[test]
fn schemathesis_finds_no_server_error_and_no_response_outside_the_document() {
    let test = "schemathesis_finds_no_server_error_and_no_response_outside_the_document";
    let Some(schemathesis) = service_url("AUTHD_TEST_SCHEMATHESIS", test) else {
        return;
    };
    let db = TestDb::sqlite();
    let runtime = common::server::runtime();
    let (server, token) = runtime.block_on(async {
        let server = TestServer::start(&db, |_| {}).await;
        server.register("schemathesis@example.com").await;
        let token = access(&server.login("schemathesis@example.com").await);
        (server, token)
    });
    let schema_url = server.url("/api/schema/");
    let run = Command::new(schemathesis)
        .args(["run", &schema_url])
        .args(["--checks", "all"])
        .args([
            "--exclude-checks",
            "positive_data_acceptance,negative_data_rejection",
        ])
        .args(["--header", &format!("Authorization: Bearer {token}")])
        .args(["--max-examples", "100", "--workers", "1"])
        .args(["--seed", "20261124"])
        .current_dir(db.dir())
        .env("NO_COLOR", "1")
        .env("SCHEMATHESIS_TELEMETRY", "false")
        .output()
        .unwrap();
    let report = stdout(&run);
    assert!(
        run.status.success(),
        "schemathesis failed:\n{report}\n{}",
        stderr(&run)
    );
    // It really ran every operation the router serves (HEAD comes with GET),
    // but `GET /api/schema/`, which schemathesis leaves out because it is
    // where it read the document from.
    let operations: usize = authd::http::router::Route::all_paths()
        .map(|(_, route)| route.methods().iter().filter(|m| **m != "HEAD").count())
        .sum();
    assert!(
        report.contains(&format!("Tested: {}", operations - 1)),
        "{report}"
    );
    drop(server);
}
