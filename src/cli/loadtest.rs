//! `authd loadtest ratelimit`: the CI check that throttling holds. It sends
//! a scope's request to one or more instances (`--url`, repeatable) and
//! exits 0 when exactly the expected number (`--expect`, else the limit the
//! server announces) passed within one window, every 429 had `Retry-After`
//! and the rate-limit headers agreed; 1 when the limit did not hold; 2 when
//! it could not run (nothing answered, no limit to expect, or the client's
//! window was already partly spent). `--duration` makes it a throughput run
//! instead.

use std::io::IsTerminal;
use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use clap::{Args, Subcommand};
use indicatif::{ProgressBar, ProgressDrawTarget};

use super::output::{self, OutputFormat};
use super::{CliError, Context};
use crate::loadtest::{self, Plan, SpentWindow, Summary, MAX_DURATION, MAX_REQUESTS};
use crate::throttle::Scope;

#[derive(Debug, Subcommand)]
pub enum LoadtestCommand {
    /// Check that a throttle scope lets exactly the expected number of requests through.
    Ratelimit(RatelimitArgs),
}

#[derive(Debug, Args)]
pub struct RatelimitArgs {
    /// Base URL of an authd instance, e.g. http://127.0.0.1:8000 (repeat to spread requests over several).
    #[arg(long = "url", value_name = "URL", required = true)]
    urls: Vec<String>,
    /// The throttle scope to check (password_change needs an account and cannot be checked).
    #[arg(long, default_value = "login", value_parser = super::scope_arg::parser())]
    scope: Scope,
    /// Requests to send (all within one window of the rule).
    #[arg(long, value_name = "N", default_value_t = 100, value_parser = clap::value_parser!(u64).range(1..=MAX_REQUESTS))]
    requests: u64,
    /// Requests in flight at once.
    #[arg(long, value_name = "C", default_value_t = 16, value_parser = clap::value_parser!(u64).range(1..=1024))]
    concurrency: u64,
    /// How many must pass; default: the limit the server announces for the scope (RateLimit-Policy).
    #[arg(long, value_name = "N")]
    expect: Option<u64>,
    /// The email login and password_reset requests use; default: a fresh one per run.
    #[arg(long, value_name = "EMAIL")]
    email: Option<String>,
    /// Send X-Forwarded-For with this client address (to test behind a trusted proxy).
    #[arg(long, value_name = "IP")]
    forwarded_for: Option<IpAddr>,
    /// Connect from this local address; default on loopback: a fresh one in 127.0.0.0/8 per run,
    /// so the run spends neither your own quota nor an earlier run's.
    #[arg(long, value_name = "IP")]
    source_ip: Option<IpAddr>,
    /// Run for this long (e.g. 10s) to measure throughput, instead of checking the limit.
    #[arg(long, value_parser = parse_duration)]
    duration: Option<Duration>,
}

fn parse_duration(text: &str) -> Result<Duration, String> {
    let duration = humantime::parse_duration(text).map_err(|e| e.to_string())?;
    if duration.is_zero() || duration > MAX_DURATION {
        return Err(format!(
            "between 1ms and {}",
            humantime::format_duration(MAX_DURATION)
        ));
    }
    Ok(duration)
}

pub fn run(command: LoadtestCommand, context: &Context) -> Result<(), CliError> {
    let LoadtestCommand::Ratelimit(args) = command;
    for url in &args.urls {
        let valid = reqwest::Url::parse(url)
            .is_ok_and(|u| matches!(u.scheme(), "http" | "https") && u.host().is_some());
        if !valid {
            return Err(CliError::Usage(format!(
                "--url {url:?} is not an http(s) URL such as http://127.0.0.1:8000"
            )));
        }
    }
    let check = match args.duration {
        Some(_) => None,
        None => Some(args.expect),
    };
    let plan = Plan {
        urls: args.urls.clone(),
        scope: args.scope,
        requests: args.requests,
        duration: args.duration,
        concurrency: args.concurrency as usize,
        email: args.email.clone().unwrap_or_else(|| {
            format!("loadtest-{}@example.com", &crate::auth::jwt::new_id()[..12])
        }),
        forwarded_for: args.forwarded_for,
        source: args.source_ip.or_else(|| fresh_loopback_source(&args.urls)),
    };
    let Some((_, _, passed_status)) = plan.request_for() else {
        return Err(CliError::Usage(format!(
            "scope {} needs an account's access token: loadtest cannot check it",
            plan.scope
        )));
    };
    let bar = progress_bar(&plan);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let outcome = runtime.block_on(loadtest::run(&plan, {
        let bar = bar.clone();
        move || bar.inc(1)
    }));
    bar.finish_and_clear();
    let summary = Summary::new(&outcome.samples, outcome.elapsed, passed_status, check);
    if summary.could_not_run() {
        return Err(CliError::Usage(format!(
            "could not reach {}: every request failed to connect or timed out",
            args.urls.join(", ")
        )));
    }
    if let Some(spent) = outcome.spent {
        return Err(CliError::Usage(spent_message(plan.scope, spent)));
    }
    render(context.output, &summary, plan.source)?;
    if summary.nothing_to_expect() {
        return Err(CliError::Usage(format!(
            "the server announced no limit for scope {} (RateLimit-Policy); pass --expect N",
            plan.scope
        )));
    }
    if !summary.holds() {
        return Err(CliError::Failed(match summary.checks.expected {
            Some(n) if summary.passed != n => format!(
                "the limit did not hold: {} passed, {n} expected",
                summary.passed
            ),
            _ => "the rate-limit answers were inconsistent (see the checks above)".into(),
        }));
    }
    if summary.checks.within_one_window == Some(false) {
        return Err(CliError::Usage(
            "the run took longer than one window of the rule; send fewer requests or more at once"
                .into(),
        ));
    }
    Ok(())
}

/// On loopback, a random address of 127.0.0.0/8 other than 127.0.0.x (Linux
/// routes the whole block to `lo`): a client of its own for the server's
/// per-address scopes.
fn fresh_loopback_source(urls: &[String]) -> Option<IpAddr> {
    let loopback = urls.iter().all(|url| {
        reqwest::Url::parse(url).is_ok_and(|u| match u.host_str() {
            Some("localhost") => true,
            Some(host) => host.parse::<Ipv4Addr>().is_ok_and(|ip| ip.is_loopback()),
            None => false,
        })
    });
    loopback.then(|| {
        use rand::Rng;
        let mut rng = rand::thread_rng();
        IpAddr::V4(Ipv4Addr::new(
            127,
            rng.gen_range(1..=254),
            rng.gen(),
            rng.gen_range(1..=254),
        ))
    })
}

fn spent_message(scope: Scope, spent: SpentWindow) -> String {
    let frees = spent
        .frees_in
        .map_or(String::new(), |s| format!("; a slot frees in {s} s"));
    format!(
        "this client's {scope} window is already partly spent ({} of {} left{frees}), so exactly {} cannot pass: wait for the window, clear it (authd throttle clear --scope {scope} ...), or run from a fresh client (--source-ip, --forwarded-for, --email)",
        spent.left, spent.limit, spent.limit
    )
}

fn progress_bar(plan: &Plan) -> ProgressBar {
    if !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    match plan.duration {
        Some(_) => ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr()),
        None => ProgressBar::with_draw_target(Some(plan.requests), ProgressDrawTarget::stderr()),
    }
}

fn render(format: OutputFormat, summary: &Summary, source: Option<IpAddr>) -> Result<(), CliError> {
    if format == OutputFormat::Json {
        return output::print_json(summary);
    }
    let yes_no = |b: bool| if b { "yes" } else { "NO" }.to_string();
    let other = summary
        .other
        .iter()
        .map(|(status, n)| format!("{status}: {n}"))
        .collect::<Vec<_>>()
        .join(", ");
    let mut rows = vec![
        ("sent", summary.sent.to_string()),
        ("passed", summary.passed.to_string()),
        ("throttled (429)", summary.throttled.to_string()),
        (
            "other statuses",
            if other.is_empty() {
                "none".into()
            } else {
                other
            },
        ),
        ("transport errors", summary.transport_errors.to_string()),
        (
            "client address",
            source.map_or("the system's choice".into(), |ip| ip.to_string()),
        ),
        ("requests/s", format!("{:.0}", summary.requests_per_second)),
        (
            "latency p50 / p95 / p99",
            format!(
                "{:.2} / {:.2} / {:.2} ms",
                summary.latency_ms.p50, summary.latency_ms.p95, summary.latency_ms.p99
            ),
        ),
        (
            "policy announced",
            summary
                .policy_limit
                .zip(summary.policy_window_seconds)
                .map_or("none".into(), |(q, w)| format!("{q} per {w} s")),
        ),
        (
            "every 429 had Retry-After",
            if summary.throttled == 0 {
                "no 429".into()
            } else {
                yes_no(summary.checks.every_429_had_retry_after)
            },
        ),
        (
            "rate-limit headers consistent",
            yes_no(summary.checks.headers_consistent),
        ),
    ];
    if let (Some(expected), Some(held)) = (summary.checks.expected, summary.checks.limit_held) {
        rows.push(("expected to pass", expected.to_string()));
        rows.push(("limit held", yes_no(held)));
    }
    if let Some(within) = summary.checks.within_one_window {
        rows.push(("within one window", yes_no(within)));
    }
    output::print(output::record(&rows))
}
