//! Private Redis deployments for tests of production set-ups (never the
//! shared Redis): a TLS-only server, a three-master Cluster, a master with
//! a replica watched by Sentinels. Every process is killed when its value
//! is dropped.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::free_port;
use super::tls::TestCa;

/// Whether redis-server and redis-cli are here; when required and missing, panics.
pub fn available(test: &str) -> bool {
    let found = ["redis-server", "redis-cli"].iter().all(|tool| {
        Command::new(tool)
            .arg("--version")
            .stdout(Stdio::null())
            .status()
            .is_ok()
    });
    if !found {
        if std::env::var("AUTHD_TEST_REQUIRE_SERVICES").as_deref() == Ok("1") {
            panic!("{test}: AUTHD_TEST_REQUIRE_SERVICES=1 but redis-server/redis-cli are not installed (Debian: redis-server, redis-tools)");
        }
        eprintln!("SKIPPED {test}: redis-server/redis-cli are not installed");
    }
    found
}

/// One redis-server process (restartable with the same arguments).
pub struct Node {
    pub port: u16,
    args: Vec<String>,
    dir: PathBuf,
    child: Option<Child>,
}

impl Node {
    /// Starts `redis-server` with `args` in `dir`, listening on `port`
    /// (checked with a TCP connection to `ready_port`).
    pub fn start(dir: &Path, port: u16, args: Vec<String>) -> Node {
        let mut node = Node {
            port,
            args,
            dir: dir.to_path_buf(),
            child: None,
        };
        node.restart();
        node
    }

    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    pub fn restart(&mut self) {
        self.kill();
        let child = Command::new(&self.args[0])
            .args(&self.args[1..])
            .current_dir(&self.dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start redis-server");
        self.child = Some(child);
        wait_for_port(self.port);
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        self.kill();
    }
}

fn wait_for_port(port: u16) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    panic!("redis on port {port} did not start");
}

fn base(dir: &Path, port: u16) -> Vec<String> {
    [
        "redis-server",
        "--bind",
        "127.0.0.1",
        "--save",
        "",
        "--appendonly",
        "no",
        "--dir",
        dir.to_str().unwrap(),
        "--port",
        &port.to_string(),
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

/// A redis-server that speaks TLS only, with a certificate for `localhost`
/// from a CA made by the test.
pub struct TlsRedis {
    pub node: Node,
    pub ca: TestCa,
    /// Holds the node's files and certificates until the server is dropped.
    _dir: tempfile::TempDir,
}

impl TlsRedis {
    pub fn start() -> TlsRedis {
        let dir = tempfile::tempdir().unwrap();
        let ca = TestCa::new(dir.path(), "ca");
        let cert = ca.issue(dir.path(), "redis", &["localhost"]);
        let port = free_port();
        let mut args = base(dir.path(), 0);
        args.extend(
            [
                "--tls-port",
                &port.to_string(),
                "--tls-cert-file",
                cert.cert.to_str().unwrap(),
                "--tls-key-file",
                cert.key.to_str().unwrap(),
                "--tls-ca-cert-file",
                ca.cert.to_str().unwrap(),
                "--tls-auth-clients",
                "no",
            ]
            .iter()
            .map(|s| s.to_string()),
        );
        let node = Node::start(dir.path(), port, args);
        TlsRedis {
            node,
            ca,
            _dir: dir,
        }
    }

    pub fn url(&self, host: &str) -> String {
        format!("rediss://{host}:{}/0", self.node.port)
    }
}

/// Three masters, no replicas, slots spread by `redis-cli --cluster create`.
pub struct Cluster {
    pub nodes: Vec<Node>,
    _dirs: Vec<tempfile::TempDir>,
}

impl Cluster {
    pub fn start() -> Cluster {
        let mut nodes = Vec::new();
        let mut dirs = Vec::new();
        for _ in 0..3 {
            let dir = tempfile::tempdir().unwrap();
            let port = free_port();
            let mut args = base(dir.path(), port);
            args.extend(
                [
                    "--cluster-enabled",
                    "yes",
                    "--cluster-config-file",
                    "nodes.conf",
                    "--cluster-node-timeout",
                    "2000",
                    "--cluster-require-full-coverage",
                    "no",
                ]
                .iter()
                .map(|s| s.to_string()),
            );
            nodes.push(Node::start(dir.path(), port, args));
            dirs.push(dir);
        }
        let mut create = Command::new("redis-cli");
        create.args(["--cluster", "create"]);
        for node in &nodes {
            create.arg(format!("127.0.0.1:{}", node.port));
        }
        let output = create
            .args(["--cluster-replicas", "0", "--cluster-yes"])
            .stdin(Stdio::null())
            .output()
            .expect("redis-cli --cluster create");
        assert!(
            output.status.success(),
            "cluster create: {}",
            String::from_utf8_lossy(&output.stdout)
        );
        let cluster = Cluster { nodes, _dirs: dirs };
        cluster.wait_ok();
        cluster
    }

    /// Waits until every node says `cluster_state:ok`.
    pub fn wait_ok(&self) {
        let deadline = Instant::now() + Duration::from_secs(20);
        'outer: while Instant::now() < deadline {
            for node in &self.nodes {
                let out = cli(node.port, &["cluster", "info"]);
                if !out.contains("cluster_state:ok") {
                    std::thread::sleep(Duration::from_millis(100));
                    continue 'outer;
                }
            }
            return;
        }
        panic!("the cluster did not become ok");
    }

    pub fn url(&self) -> String {
        let hosts: Vec<String> = self
            .nodes
            .iter()
            .map(|n| format!("127.0.0.1:{}", n.port))
            .collect();
        format!("redis+cluster://{}/", hosts.join(","))
    }
}

/// A master, one replica, and three Sentinels watching them as `mymaster`.
pub struct SentinelSet {
    pub master: Node,
    pub replica: Node,
    pub sentinels: Vec<Node>,
    _dir: tempfile::TempDir,
}

impl SentinelSet {
    pub fn start() -> SentinelSet {
        let dir = tempfile::tempdir().unwrap();
        let master_port = free_port();
        let master = Node::start(dir.path(), master_port, {
            let mut a = base(dir.path(), master_port);
            a.extend(["--dbfilename".into(), "master.rdb".into()]);
            a
        });
        let replica_port = free_port();
        let replica = Node::start(dir.path(), replica_port, {
            let mut a = base(dir.path(), replica_port);
            a.extend(
                [
                    "--dbfilename",
                    "replica.rdb",
                    "--replicaof",
                    "127.0.0.1",
                    &master_port.to_string(),
                ]
                .iter()
                .map(|s| s.to_string()),
            );
            a
        });
        let mut sentinels = Vec::new();
        for i in 0..3 {
            let port = free_port();
            let conf = dir.path().join(format!("sentinel{i}.conf"));
            std::fs::write(
                &conf,
                format!(
                    "port {port}\nbind 127.0.0.1\ndir {}\nsentinel monitor mymaster 127.0.0.1 {master_port} 2\nsentinel down-after-milliseconds mymaster 1000\nsentinel failover-timeout mymaster 5000\nsentinel parallel-syncs mymaster 1\n",
                    dir.path().display()
                ),
            )
            .unwrap();
            sentinels.push(Node::start(
                dir.path(),
                port,
                vec![
                    "redis-server".into(),
                    conf.to_str().unwrap().into(),
                    "--sentinel".into(),
                ],
            ));
        }
        SentinelSet {
            master,
            replica,
            sentinels,
            _dir: dir,
        }
    }

    pub fn url(&self) -> String {
        let hosts: Vec<String> = self
            .sentinels
            .iter()
            .map(|n| format!("127.0.0.1:{}", n.port))
            .collect();
        format!("redis+sentinel://{}/mymaster", hosts.join(","))
    }

    /// The master's port as the Sentinels report it.
    pub fn master_port(&self) -> Option<u16> {
        let out = cli(
            self.sentinels[0].port,
            &["sentinel", "get-master-addr-by-name", "mymaster"],
        );
        out.lines().nth(1).and_then(|p| p.trim().parse().ok())
    }
}

/// `redis-cli -p PORT ARGS...`'s output.
pub fn cli(port: u16, args: &[&str]) -> String {
    let output = Command::new("redis-cli")
        .args(["-h", "127.0.0.1", "-p", &port.to_string()])
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("redis-cli");
    String::from_utf8_lossy(&output.stdout).into_owned()
}
