//! `authd serve` as a real process, for tests that need one: SIGTERM, the
//! server's own memory (`/proc/PID/status`), or the whole stderr log of a
//! run. Every line the server logs is kept, so a test can read them all at
//! the end. Killed when dropped, so a failing test leaves no server behind.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::{mpsc, Arc, Mutex};
use std::time::Duration;

pub struct ServeProcess {
    child: Child,
    /// `http://127.0.0.1:PORT`.
    pub base: String,
    lines: mpsc::Receiver<String>,
    /// Every line read from stderr so far (the reader thread appends).
    all: Arc<Mutex<Vec<String>>>,
}

impl Drop for ServeProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl ServeProcess {
    /// Starts `command` (already `authd serve ...`, logging at info or more)
    /// and waits for its listening line.
    pub fn start(command: Command) -> ServeProcess {
        Self::try_start(command).unwrap_or_else(|seen| panic!("no listening line in {seen:?}"))
    }

    /// Starts a server on a port chosen before it runs (`$PORT`), made by
    /// `command_for(port)`. Between choosing a free port and the server
    /// binding it, another socket (an outgoing connection, another test)
    /// may take it: then another port is tried, a few times.
    pub fn start_on_a_free_port(
        mut command_for: impl FnMut(u16) -> Command,
    ) -> (ServeProcess, u16) {
        let mut last = Vec::new();
        for _ in 0..5 {
            let port = super::free_port();
            match Self::try_start(command_for(port)) {
                Ok(server) => return (server, port),
                Err(seen) if seen.iter().any(|l| l.contains("Address already in use")) => {
                    last = seen;
                }
                Err(seen) => panic!("no listening line in {seen:?}"),
            }
        }
        panic!("five free ports were taken before authd could bind them: {last:?}")
    }

    /// Like [`ServeProcess::start`], but gives back what the process said
    /// when it exits (or stays silent for 20 s) without listening.
    pub fn try_start(mut command: Command) -> Result<ServeProcess, Vec<String>> {
        command.stderr(Stdio::piped()).stdout(Stdio::null());
        let (sender, lines) = mpsc::channel();
        let all = Arc::new(Mutex::new(Vec::new()));
        let mut process = ServeProcess {
            child: command.spawn().expect("spawn authd serve"),
            base: String::new(),
            lines,
            all: Arc::clone(&all),
        };
        let stderr = process.child.stderr.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                all.lock().unwrap().push(line.clone());
                let _ = sender.send(line);
            }
        });
        let mut seen = Vec::new();
        while process.base.is_empty() {
            let Ok(line) = process.lines.recv_timeout(Duration::from_secs(20)) else {
                return Err(seen);
            };
            if let Some(address) = listening_address(&line) {
                process.base = format!("http://{address}");
            }
            seen.push(line);
        }
        Ok(process)
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// The `host:port` the server listens on.
    pub fn address(&self) -> &str {
        self.base.trim_start_matches("http://")
    }

    /// Sends SIGTERM.
    pub fn terminate(&self) {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
    }

    /// Waits for the process to exit; callable from an async test.
    pub fn exit_code(&mut self) -> Option<i32> {
        let child = &mut self.child;
        let mut wait = || child.wait().unwrap().code();
        match tokio::runtime::Handle::try_current() {
            Ok(_) => tokio::task::block_in_place(wait),
            Err(_) => wait(),
        }
    }

    /// Every line logged so far; waits a moment for the reader to catch up
    /// when the process has exited.
    pub fn logs(&self) -> Vec<String> {
        std::thread::sleep(Duration::from_millis(100));
        self.all.lock().unwrap().clone()
    }

    /// `VmRSS` and `VmHWM` (peak) of the process, in KiB.
    pub fn memory_kib(&self) -> (u64, u64) {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid()))
            .expect("read /proc/PID/status");
        let field = |name: &str| {
            status
                .lines()
                .find_map(|l| l.strip_prefix(name))
                .and_then(|rest| rest.split_whitespace().next())
                .and_then(|kib| kib.parse().ok())
                .unwrap_or_else(|| panic!("no {name} in /proc/PID/status"))
        };
        (field("VmRSS:"), field("VmHWM:"))
    }
}

/// `authd serve` on a free port of 127.0.0.1 for `db`: the test secret,
/// request logging (info), `http.request_timeout` of
/// [`REQUEST_TIMEOUT`], and throttle rates no load test reaches (suites
/// about throttling set their own).
/// The address of a "listening on" line, in the pretty or the JSON format.
fn listening_address(line: &str) -> Option<String> {
    if let Ok(event) = serde_json::from_str::<serde_json::Value>(line) {
        return event["address"].as_str().map(str::to_string);
    }
    let address = line.split("address=").nth(1)?;
    address.split_whitespace().next().map(str::to_string)
}

pub fn serve_command(db: &super::TestDb) -> Command {
    let mut command = db.authd();
    command
        .env("AUTHD_LOG__LEVEL", "info")
        .env("SECRET_KEY", super::server::TEST_SECRET)
        .env(
            "AUTHD_HTTP__REQUEST_TIMEOUT",
            format!("{}s", REQUEST_TIMEOUT.as_secs()),
        )
        .args(["serve", "--bind", "127.0.0.1:0"]);
    for scope in [
        "LOGIN",
        "REGISTRATION",
        "PASSWORD_RESET",
        "PASSWORD_RESET_COMPLETION",
        "LOGIN_IP",
        "PASSWORD_RESET_IP",
        "PASSWORD_CHANGE",
    ] {
        command.env(format!("AUTHD_THROTTLE__RATES__{scope}"), "100000/minute");
    }
    command
}

/// The server's `http.request_timeout` in these suites.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// A client that gives up REQUEST_TIMEOUT + 3 s after sending: an answer
/// later than that is a hang, and shows up as "no answer".
pub fn bounded_client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(REQUEST_TIMEOUT + Duration::from_secs(3))
        .build()
        .unwrap()
}
