//! The container image's entry contract, without Docker (neither its daemon
//! nor base images can be reached from CI): the runtime stage of
//! `Dockerfile` and the `authd` service of `compose.yaml` are read as they
//! are, and the built binary is run the way the image would run it: as the
//! image's non-root user, with exactly the image's `ENV` and the compose
//! service's `environment`, in a data directory only that user owns, with
//! its `ENTRYPOINT` + `CMD`. It must become healthy through the image's own
//! `HEALTHCHECK` command. The only changes: the binary's path, `/data`
//! (a temporary directory), `PORT` (a free port), and the database and
//! Redis addresses (the test's Postgres schema and Redis key prefix).

use crate::common;

use std::collections::BTreeMap;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use common::process::ServeProcess;
use common::server::TEST_SECRET;
use common::{free_port, stderr, unique_prefix, TestDb};

/// The runtime stage of the Dockerfile: what `docker run` uses.
#[derive(Debug, Default)]
struct Image {
    env: Vec<(String, String)>,
    user: String,
    workdir: String,
    volumes: Vec<String>,
    expose: Vec<String>,
    entrypoint: Vec<String>,
    cmd: Vec<String>,
    healthcheck: Vec<String>,
    stopsignal: String,
}

fn repo_file(name: &str) -> String {
    std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(name))
        .unwrap_or_else(|e| panic!("read {name}: {e}"))
}

/// Instructions of the last stage, continuation lines joined, comments dropped.
fn last_stage(dockerfile: &str) -> Vec<(String, String)> {
    let mut instructions = Vec::new();
    let mut pending = String::new();
    for line in dockerfile.lines() {
        let trimmed = line.trim();
        if trimmed.starts_with('#') || (trimmed.is_empty() && pending.is_empty()) {
            continue;
        }
        match trimmed.strip_suffix('\\') {
            Some(head) => pending.push_str(head),
            None => {
                pending.push_str(trimmed);
                let (keyword, rest) = pending.split_once(' ').unwrap_or((&pending, ""));
                instructions.push((keyword.to_ascii_uppercase(), rest.trim().to_string()));
                pending.clear();
            }
        }
    }
    let from = instructions
        .iter()
        .rposition(|(keyword, _)| keyword == "FROM")
        .expect("a FROM");
    instructions.split_off(from)
}

fn exec_form(text: &str) -> Vec<String> {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("not an exec-form array {text}: {e}"))
}

fn image() -> Image {
    let mut image = Image::default();
    for (keyword, rest) in last_stage(&repo_file("Dockerfile")) {
        match keyword.as_str() {
            "ENV" => {
                for pair in rest.split_whitespace() {
                    let (key, value) = pair.split_once('=').expect("ENV KEY=VALUE");
                    image.env.push((key.into(), value.trim_matches('"').into()));
                }
            }
            "USER" => image.user = rest,
            "WORKDIR" => image.workdir = rest,
            "VOLUME" => image.volumes = exec_form(&rest),
            "EXPOSE" => image.expose = rest.split_whitespace().map(String::from).collect(),
            "ENTRYPOINT" => image.entrypoint = exec_form(&rest),
            "CMD" => image.cmd = exec_form(&rest),
            "STOPSIGNAL" => image.stopsignal = rest,
            "HEALTHCHECK" => {
                let (_, command) = rest.split_once("CMD ").expect("HEALTHCHECK ... CMD [...]");
                image.healthcheck = exec_form(command.trim());
            }
            _ => {}
        }
    }
    image
}

/// `(uid, gid)` of the image's `USER uid:gid`.
fn user_ids(image: &Image) -> (u32, u32) {
    let (uid, gid) = image.user.split_once(':').expect("USER uid:gid");
    (
        uid.parse().expect("numeric uid"),
        gid.parse().expect("numeric gid"),
    )
}

fn compose() -> serde_norway::Value {
    serde_norway::from_str(&repo_file("compose.yaml")).expect("compose.yaml parses")
}

/// Compose's `${NAME}`, `${NAME:-default}` and `${NAME:?error}`, from `vars`.
fn interpolate(text: &str, vars: &BTreeMap<&str, String>) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let end = rest[start..].find('}').expect("a closing brace") + start;
        let expression = &rest[start + 2..end];
        let (name, default) = match expression.split_once(":-") {
            Some((name, default)) => (name, Some(default)),
            None => (expression.split(":?").next().unwrap(), None),
        };
        match (vars.get(name), default) {
            (Some(value), _) => out.push_str(value),
            (None, Some(default)) => out.push_str(default),
            (None, None) => panic!("compose.yaml needs ${{{name}}}, which this test does not give"),
        }
        rest = &rest[end + 1..];
    }
    out.push_str(rest);
    out
}

/// A compose service's `environment` mapping, interpolated.
fn service_env(
    service: &serde_norway::Value,
    vars: &BTreeMap<&str, String>,
) -> Vec<(String, String)> {
    let mapping = service["environment"]
        .as_mapping()
        .expect("environment is a mapping");
    mapping
        .iter()
        .map(|(key, value)| {
            let value = match value {
                serde_norway::Value::String(text) => text.clone(),
                other => serde_norway::to_string(other).unwrap().trim().to_string(),
            };
            (key.as_str().unwrap().to_string(), interpolate(&value, vars))
        })
        .collect()
}

fn strings(value: &serde_norway::Value) -> Vec<String> {
    value
        .as_sequence()
        .expect("a list")
        .iter()
        .map(|item| item.as_str().expect("a string").to_string())
        .collect()
}

/// The image's filesystem as far as authd sees it: the binary and `/data`,
/// owned by the image's user and reachable by it.
struct Rootfs {
    /// Removed with the value.
    _dir: tempfile::TempDir,
    binary: PathBuf,
    data: PathBuf,
    uid: u32,
    gid: u32,
}

impl Rootfs {
    fn new(image: &Image) -> Rootfs {
        let (uid, gid) = user_ids(image);
        let dir = tempfile::tempdir().unwrap();
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        // The build's target directory may be under a home the image's
        // user cannot enter: link (or copy) the binary out of it.
        let binary = dir.path().join("authd");
        if std::fs::hard_link(env!("CARGO_BIN_EXE_authd"), &binary).is_err() {
            std::fs::copy(env!("CARGO_BIN_EXE_authd"), &binary).unwrap();
        }
        let data = dir.path().join("data");
        std::fs::create_dir(&data).unwrap();
        std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o700)).unwrap();
        if running_as_root() {
            std::os::unix::fs::chown(&data, Some(uid), Some(gid)).unwrap();
        }
        Rootfs {
            _dir: dir,
            binary,
            data,
            uid,
            gid,
        }
    }

    /// A path of the image, mapped into this tree.
    fn map(&self, image: &Image, value: &str) -> String {
        let workdir = &image.workdir;
        let mapped = value.replace(workdir.as_str(), self.data.to_str().unwrap());
        if mapped == image.entrypoint[0] {
            return self.binary.display().to_string();
        }
        mapped
    }

    /// `argv` run as the image's user, with exactly `env`, in its WORKDIR.
    fn command(&self, image: &Image, argv: &[String], env: &[(String, String)]) -> Command {
        let argv: Vec<String> = argv.iter().map(|a| self.map(image, a)).collect();
        let mut command = if running_as_root() {
            let mut setpriv = Command::new("setpriv");
            setpriv.args([
                format!("--reuid={}", self.uid),
                format!("--regid={}", self.gid),
                "--clear-groups".into(),
            ]);
            setpriv.args(&argv);
            setpriv
        } else {
            // Already not root: run as this user.
            let mut command = Command::new(&argv[0]);
            command.args(&argv[1..]);
            command
        };
        command.env_clear().current_dir(&self.data);
        for (key, value) in env {
            command.env(key, self.map(image, value));
        }
        command
    }
}

fn effective_uid() -> u32 {
    // SAFETY: geteuid(2) only reads the process's effective uid.
    unsafe { libc::geteuid() }
}

fn running_as_root() -> bool {
    effective_uid() == 0
}

/// `later` over `earlier`, key by key: a container's environment.
fn layered(earlier: &[(String, String)], later: &[(String, String)]) -> Vec<(String, String)> {
    let mut merged: BTreeMap<String, String> = earlier.iter().cloned().collect();
    merged.extend(later.iter().cloned());
    merged.into_iter().collect()
}

fn set(env: &mut Vec<(String, String)>, key: &str, value: String) {
    env.retain(|(k, _)| k != key);
    env.push((key.into(), value));
}

/// Runs the HEALTHCHECK command until it exits 0; panics after 30 s.
fn wait_healthy(rootfs: &Rootfs, image: &Image, env: &[(String, String)]) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let output = rootfs
            .command(image, &image.healthcheck, env)
            .output()
            .unwrap();
        if output.status.success() {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "never healthy: {}",
            stderr(&output)
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn the_image_runs_authd_as_a_non_root_user_with_a_data_volume_and_a_healthcheck() {
    let image = image();
    let (uid, gid) = user_ids(&image);
    assert!(uid != 0 && gid != 0, "USER {}", image.user);
    assert_eq!(image.entrypoint, ["/usr/local/bin/authd"]);
    assert_eq!(image.cmd, ["serve"]);
    assert_eq!(
        &image.healthcheck[..2],
        ["/usr/local/bin/authd", "healthcheck"]
    );
    assert_eq!(image.volumes, std::slice::from_ref(&image.workdir));
    assert_eq!(image.expose, ["8000"]);
    assert_eq!(image.stopsignal, "SIGTERM");
    let env: BTreeMap<_, _> = image.env.iter().cloned().collect();
    assert_eq!(env["PORT"], "8000", "serve listens on EXPOSE's port");
    assert!(env["DATABASE_URL"].starts_with(&format!("sqlite://{}/", image.workdir)));
    assert!(env["AUTHD_MAIL__OUTBOX_DIR"].starts_with(&image.workdir));
    assert!(
        !env.contains_key("SECRET_KEY"),
        "no secret baked into the image"
    );
}

#[test]
fn compose_migrates_once_before_authd_and_stops_it_gracefully() {
    let compose = compose();
    let services = &compose["services"];
    let migrate = &services["migrate"];
    let authd = &services["authd"];
    assert_eq!(strings(&migrate["command"]), ["migrate"]);
    assert_eq!(
        authd["depends_on"]["migrate"]["condition"].as_str(),
        Some("service_completed_successfully")
    );
    assert_eq!(
        migrate["image"], authd["image"],
        "the same build migrates and serves"
    );
    assert_eq!(migrate["environment"], authd["environment"]);
    assert_eq!(authd["volumes"][0].as_str(), Some("authd-data:/data"));
    // More than http.shutdown_grace (30 s), so a stop drains in-flight requests.
    let grace = humantime::parse_duration(authd["stop_grace_period"].as_str().unwrap()).unwrap();
    assert!(grace > Duration::from_secs(30), "{grace:?}");
}

#[test]
fn the_compose_authd_service_becomes_healthy_as_the_image_user() {
    let test = "deploy_container::the_compose_authd_service_becomes_healthy_as_the_image_user";
    let Some(db) = TestDb::postgres(test) else {
        return;
    };
    let Some(redis) = common::redis_url(test) else {
        return;
    };
    let image = image();
    let compose = compose();
    let rootfs = Rootfs::new(&image);
    let vars = BTreeMap::from([
        ("POSTGRES_PASSWORD", "unused".to_string()),
        ("SECRET_KEY", TEST_SECRET.to_string()),
    ]);
    let services = &compose["services"];
    let mut env = layered(&image.env, &service_env(&services["authd"], &vars));
    set(&mut env, "DATABASE_URL", db.url());
    set(&mut env, "REDIS_URL", redis);
    set(&mut env, "AUTHD_REDIS__KEY_PREFIX", unique_prefix());
    set(&mut env, "PORT", free_port().to_string());

    // Nothing listens yet: the health check must say so.
    let before = rootfs
        .command(&image, &image.healthcheck, &env)
        .output()
        .unwrap();
    assert_eq!(before.status.code(), Some(1), "{}", stderr(&before));

    // The one-shot `migrate` service, then `authd` with its command.
    let migrate_argv: Vec<String> = image
        .entrypoint
        .iter()
        .cloned()
        .chain(strings(&services["migrate"]["command"]))
        .collect();
    let migrated = rootfs
        .command(&image, &migrate_argv, &env)
        .output()
        .unwrap();
    assert!(migrated.status.success(), "{}", stderr(&migrated));

    let serve_argv: Vec<String> = image
        .entrypoint
        .iter()
        .cloned()
        .chain(strings(&services["authd"]["command"]))
        .collect();
    let (mut server, port) = ServeProcess::start_on_a_free_port(|port| {
        set(&mut env, "PORT", port.to_string());
        rootfs.command(&image, &serve_argv, &env)
    });
    set(&mut env, "PORT", port.to_string());
    wait_healthy(&rootfs, &image, &env);

    let uid = std::fs::read_to_string(format!("/proc/{}/status", server.pid()))
        .unwrap()
        .lines()
        .find_map(|l| {
            l.strip_prefix("Uid:")
                .map(|ids| ids.split_whitespace().next().unwrap().to_string())
        })
        .unwrap();
    let expected_uid = if running_as_root() {
        rootfs.uid
    } else {
        effective_uid()
    };
    assert_eq!(
        uid,
        expected_uid.to_string(),
        "serve runs as the image's user"
    );

    // docker stop: SIGTERM, exit 0.
    server.terminate();
    assert_eq!(server.exit_code(), Some(0));
}

#[test]
fn the_image_alone_keeps_its_sqlite_database_in_the_volume() {
    let image = image();
    let rootfs = Rootfs::new(&image);
    // `docker run -e SECRET_KEY=... authd`: the image's ENV and the secret.
    let mut env = image.env.clone();
    set(&mut env, "SECRET_KEY", TEST_SECRET.to_string());
    let argv: Vec<String> = image.entrypoint.iter().chain(&image.cmd).cloned().collect();
    let (mut server, port) = ServeProcess::start_on_a_free_port(|port| {
        set(&mut env, "PORT", port.to_string());
        rootfs.command(&image, &argv, &env)
    });
    set(&mut env, "PORT", port.to_string());
    wait_healthy(&rootfs, &image, &env);

    let database = std::fs::metadata(rootfs.data.join("authd.db")).expect("authd.db in /data");
    assert_eq!(database.mode() & 0o777, 0o600);
    if running_as_root() {
        assert_eq!((database.uid(), database.gid()), (rootfs.uid, rootfs.gid));
    }
    server.terminate();
    assert_eq!(server.exit_code(), Some(0));
}

#[test]
fn hadolint_passes_the_dockerfile() {
    let test = "deploy_container::hadolint_passes_the_dockerfile";
    let Some(hadolint) = common::service_url("AUTHD_TEST_HADOLINT", test) else {
        return;
    };
    let output = Command::new(hadolint)
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("Dockerfile"))
        .output()
        .expect("run hadolint");
    assert!(
        output.status.success(),
        "{}{}",
        common::stdout(&output),
        stderr(&output)
    );
}
