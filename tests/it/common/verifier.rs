//! Outside JWT libraries verifying authd's tokens from its JWKS, as a
//! resource server would: PyJWT's `PyJWKClient` (tests/jwks/pyjwt_verify.py,
//! with the Python of `AUTHD_TEST_PYJWT_PYTHON`) and npm `jose`'s
//! `createRemoteJWKSet` + `jwtVerify` (tests/jose/verify.cjs, with jose
//! installed under `AUTHD_TEST_JOSE_DIR`). Each runs as one long-lived
//! process, so its JWKS cache lives across the tokens a test sends it.

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// Where the verifiers come from, or `None` (skipped, said on stderr) when
/// the tools are not installed; CI fails instead.
pub struct Tools {
    python: String,
    jose_dir: String,
}

impl Tools {
    pub fn find(test: &str) -> Option<Tools> {
        let python = super::service_url("AUTHD_TEST_PYJWT_PYTHON", test)?;
        let jose_dir = super::service_url("AUTHD_TEST_JOSE_DIR", test)?;
        Some(Tools { python, jose_dir })
    }

    /// Both verifiers, trusting the JWKS at `jwks_url` for `issuer`.
    pub fn start(&self, jwks_url: &str, issuer: &str) -> [Verifier; 2] {
        let root = env!("CARGO_MANIFEST_DIR");
        let mut python = Command::new(&self.python);
        python.args([
            &format!("{root}/tests/jwks/pyjwt_verify.py"),
            jwks_url,
            issuer,
        ]);
        let mut node = Command::new("node");
        node.args([
            &format!("{root}/tests/jose/verify.cjs"),
            &self.jose_dir,
            jwks_url,
            issuer,
        ]);
        [
            Verifier::start("PyJWT", python),
            Verifier::start("jose", node),
        ]
    }
}

/// One verifier process: a token in, "ok SUB KID" or "fail REASON" out.
pub struct Verifier {
    pub name: &'static str,
    child: Child,
    stdin: ChildStdin,
    lines: mpsc::Receiver<String>,
}

impl Verifier {
    fn start(name: &'static str, mut command: Command) -> Verifier {
        command
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        let mut child = command
            .spawn()
            .unwrap_or_else(|e| panic!("start the {name} verifier: {e}"));
        let stdin = child.stdin.take().unwrap();
        let stdout = child.stdout.take().unwrap();
        let (sender, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let _ = sender.send(line);
            }
        });
        Verifier {
            name,
            child,
            stdin,
            lines,
        }
    }

    /// The verifier's answer for `token`.
    pub fn check(&mut self, token: &str) -> String {
        writeln!(self.stdin, "{token}").expect("write to the verifier");
        self.stdin.flush().unwrap();
        self.lines
            .recv_timeout(Duration::from_secs(60))
            .unwrap_or_else(|_| panic!("the {} verifier did not answer", self.name))
    }

    /// Asserts the token verifies, signed by key `kid`, for user `sub`.
    pub fn accepts(&mut self, token: &str, sub: &str, kid: &str) {
        let answer = self.check(token);
        assert_eq!(answer, format!("ok {sub} {kid}"), "{}", self.name);
    }

    /// Asserts the token is refused.
    pub fn refuses(&mut self, token: &str) {
        let answer = self.check(token);
        assert!(answer.starts_with("fail "), "{}: {answer}", self.name);
    }
}

impl Drop for Verifier {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
