//! The API as a consumer meets it: a client generated from the served
//! `/api/schema/` by a real generator (openapi-python-client, from PyPI)
//! registers, logs in, reads `/me`, refreshes, logs out, and sees the
//! documented errors, all through the generated code
//! (`tests/generated_client.py`). CI installs the generator into its venv
//! (`.ci/run`, `.ci/requirements.txt`) and points
//! `AUTHD_TEST_OPENAPI_PYTHON_CLIENT` at it; the venv's `python` beside it
//! runs the script.

use crate::common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::server::TestServer;
use common::{service_url, stderr, stdout, TestDb};

/// The Python of the venv the generator is installed in (the generated
/// client needs the generator's own dependencies: httpx, attrs).
fn python_beside(tool: &Path) -> PathBuf {
    let dir = tool.parent().expect("the tool's directory");
    ["python3", "python"]
        .iter()
        .map(|name| dir.join(name))
        .find(|path| path.exists())
        .unwrap_or_else(|| PathBuf::from("python3"))
}

#[test]
fn a_client_generated_from_the_served_schema_drives_the_token_flow() {
    let test = "a_client_generated_from_the_served_schema_drives_the_token_flow";
    let Some(generator) = service_url("AUTHD_TEST_OPENAPI_PYTHON_CLIENT", test) else {
        return;
    };
    let generator = PathBuf::from(generator);
    let db = TestDb::sqlite();
    let runtime = common::server::runtime();
    let server = runtime.block_on(TestServer::start(&db, |_| {}));
    let schema = runtime.block_on(async {
        let reply = server
            .client
            .get(server.url("/api/schema/"))
            .send()
            .await
            .unwrap();
        assert_eq!(reply.status(), 200);
        reply.bytes().await.unwrap()
    });
    let work = db.dir();
    std::fs::write(work.join("schema.json"), &schema).unwrap();
    // No formatting hooks: the generated code is run, not read. The
    // generator reads no YAML bodies (the documents' YAML forms): it is told
    // to take them as bytes (`content_type_overrides`).
    std::fs::write(
        work.join("generator.yaml"),
        "post_hooks: []\ncontent_type_overrides:\n  application/yaml: application/octet-stream\n",
    )
    .unwrap();

    let generated = Command::new(&generator)
        .arg("generate")
        .arg("--path")
        .arg(work.join("schema.json"))
        .arg("--config")
        .arg(work.join("generator.yaml"))
        .args(["--meta", "none"])
        .arg("--output-path")
        .arg(work.join("authd_client"))
        .current_dir(work)
        .output()
        .unwrap();
    let report = format!("{}{}", stdout(&generated), stderr(&generated));
    assert!(generated.status.success(), "generation failed:\n{report}");
    // Every operation made it into the client: the generator warns (and
    // leaves an operation out) when it cannot read part of the document.
    assert!(!report.contains("Warning"), "generator warnings:\n{report}");

    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/generated_client.py");
    let run = Command::new(python_beside(&generator))
        .arg(script)
        .arg(server.url(""))
        .arg(work)
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .output()
        .unwrap();
    assert!(
        run.status.success(),
        "the generated client failed:\n{}{}",
        stdout(&run),
        stderr(&run)
    );
    let steps = stdout(&run);
    for step in [
        "register: 201",
        "login: 200",
        "me: 200",
        "refresh: 200",
        "logout: 200",
    ] {
        assert!(steps.contains(step), "{step} in:\n{steps}");
    }
    drop(server);
}
