//! `authd healthcheck`: ask a running server's `/readyz` and exit 0 when it
//! answers 200, 1 otherwise, with the reason on one line. For container
//! `HEALTHCHECK`s and probes in images that carry no curl.
//!
//! Without `--url` it asks the address `serve` would listen on with the
//! same configuration (`http.bind`, `$PORT` honoured): a wildcard address
//! (`0.0.0.0`, `::`) is asked on loopback, the one address of it that is
//! sure to reach this host's server.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use clap::Args;
use reqwest::Url;

use super::{CliError, Context};

/// Longest `--timeout` accepted: a probe that waits longer is stuck.
const MAX_TIMEOUT: Duration = Duration::from_secs(300);

#[derive(Debug, Args)]
pub struct HealthcheckArgs {
    /// The readiness URL to ask. Default: /readyz on http.bind's address
    /// ($PORT honoured as by serve; 0.0.0.0 and :: asked on loopback).
    #[arg(long, value_name = "URL")]
    pub url: Option<String>,

    /// How long to wait for the whole answer, e.g. 3s or 500ms.
    #[arg(long, value_name = "DURATION", default_value = "3s", value_parser = humantime::parse_duration)]
    pub timeout: Duration,
}

pub fn run(args: HealthcheckArgs, context: &Context) -> Result<(), CliError> {
    let url = match &args.url {
        Some(text) => parse_url(text)?,
        None => default_url(context.config.http.bind),
    };
    if args.timeout.is_zero() || args.timeout > MAX_TIMEOUT {
        return Err(CliError::Usage(format!(
            "--timeout: expected more than 0s and at most {}",
            humantime::format_duration(MAX_TIMEOUT)
        )));
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(ask(url, args.timeout))
}

/// An http(s) URL with a host; anything else is a usage error.
fn parse_url(text: &str) -> Result<Url, CliError> {
    let url = Url::parse(text).map_err(|e| CliError::Usage(format!("--url {text:?}: {e}")))?;
    if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
        return Err(CliError::Usage(format!(
            "--url {text:?}: expected an http:// or https:// URL"
        )));
    }
    Ok(url)
}

/// `http://ADDR/readyz` for the address `serve` binds.
fn default_url(bind: SocketAddr) -> Url {
    let ip = match bind.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(ip) if ip.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
        ip => ip,
    };
    let address = SocketAddr::new(ip, bind.port());
    Url::parse(&format!("http://{address}/readyz")).expect("a socket address makes a valid URL")
}

async fn ask(url: Url, timeout: Duration) -> Result<(), CliError> {
    let client = reqwest::Client::builder()
        .timeout(timeout)
        // A probe judges the answer of the URL it was given.
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .map_err(|e| CliError::Failed(format!("cannot make an HTTP client: {e}")))?;
    let failed = |reason: String| CliError::Failed(format!("{url}: {reason}"));
    let response = client
        .get(url.clone())
        .send()
        .await
        .map_err(|e| failed(error_chain(e)))?;
    let status = response.status();
    if status == reqwest::StatusCode::OK {
        println!("{url}: ready");
        return Ok(());
    }
    // The problem's `detail` says why (database unavailable, Redis down);
    // a body that is not authd's problem+json is not echoed.
    let body = response.bytes().await.unwrap_or_default();
    let detail = serde_json::from_slice::<serde_json::Value>(&body)
        .ok()
        .and_then(|problem| problem["detail"].as_str().map(str::to_string));
    Err(failed(match detail {
        Some(detail) => format!("not ready: {status}: {detail}"),
        None => format!("not ready: {status}"),
    }))
}

/// reqwest's error and its causes on one line ("error sending request:
/// ... Connection refused"), without the URL the line already starts with.
fn error_chain(error: reqwest::Error) -> String {
    if error.is_timeout() {
        return "no answer within the timeout".into();
    }
    crate::error_chain::Chain(&error.without_url()).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_wildcard_bind_is_asked_on_loopback() {
        let url = |bind: &str| default_url(bind.parse().unwrap()).to_string();
        assert_eq!(url("0.0.0.0:8000"), "http://127.0.0.1:8000/readyz");
        assert_eq!(url("[::]:8080"), "http://[::1]:8080/readyz");
        assert_eq!(url("10.0.0.5:9000"), "http://10.0.0.5:9000/readyz");
    }

    #[test]
    fn only_http_urls_are_accepted() {
        assert!(parse_url("http://127.0.0.1:8000/readyz").is_ok());
        assert!(parse_url("https://auth.example.com/readyz").is_ok());
        for bad in ["ftp://host/readyz", "not a url", "127.0.0.1:8000/readyz"] {
            assert!(matches!(parse_url(bad), Err(CliError::Usage(_))), "{bad}");
        }
    }
}
