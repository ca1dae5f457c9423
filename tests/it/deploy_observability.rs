//! `deploy/grafana/authd.json` and `deploy/prometheus/alerts.yml` query
//! only what authd exports: a server (with Redis, so its series exist) is
//! exercised, scraped, and every `authd_*` name in the dashboard's and the
//! rules' PromQL must be a series of the scrape. promtool checks the rules
//! and runs their unit tests (`alerts_test.yml`). And the metrics added
//! for them mean what the alerts assume: `authd_ready` is the latest
//! readiness answer, `authd_hashing_refused_total` counts the 503s.

use crate::common;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use authd::config::{ConnectionUrl, ThrottleFallback};
use common::server::{all_at_once, TestServer, PASSWORD};
use common::{redis_url, stderr, stdout, unique_prefix, TestDb};
use serde_json::{json, Value};

fn deploy_file(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("deploy")
        .join(name)
}

/// Every series name of the exposition (histograms as their `_bucket`,
/// `_sum` and `_count` series).
async fn exported(server: &TestServer) -> BTreeSet<String> {
    let reply = server
        .client
        .get(server.url("/metrics"))
        .send()
        .await
        .unwrap();
    assert_eq!(reply.status(), 200);
    let text = reply.text().await.unwrap();
    text.lines()
        .filter(|line| !line.starts_with('#') && !line.is_empty())
        .map(|line| {
            let end = line.find(['{', ' ']).unwrap_or(line.len());
            line[..end].to_string()
        })
        .collect()
}

/// The `authd_*` metric names a PromQL expression reads (label values and
/// other strings left out).
fn metric_names(expression: &str, names: &mut BTreeSet<String>) {
    let mut code = String::new();
    let mut in_string = None;
    for c in expression.chars() {
        match in_string {
            Some(quote) if c == quote => in_string = None,
            Some(_) => {}
            None if c == '"' || c == '\'' || c == '`' => in_string = Some(c),
            None => code.push(c),
        }
    }
    let identifier = |c: char| c.is_ascii_alphanumeric() || c == '_' || c == ':';
    let mut rest = code.as_str();
    while let Some(start) = rest.find("authd_") {
        let at_boundary = rest[..start].chars().last().is_none_or(|c| !identifier(c));
        let name: String = rest[start..]
            .chars()
            .take_while(|&c| identifier(c))
            .collect();
        if at_boundary {
            names.insert(name.clone());
        }
        rest = &rest[start + name.len()..];
    }
}

/// Every PromQL expression of the dashboard: panel targets and template
/// variable queries.
fn dashboard_expressions(value: &Value, found: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            for (key, inner) in map {
                match (key.as_str(), inner) {
                    ("expr" | "definition", Value::String(text)) => found.push(text.clone()),
                    ("query", Value::Object(query)) => {
                        if let Some(Value::String(text)) = query.get("query") {
                            found.push(text.clone());
                        }
                    }
                    _ => dashboard_expressions(inner, found),
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|i| dashboard_expressions(i, found)),
        _ => {}
    }
}

fn alert_expressions() -> Vec<String> {
    let text = std::fs::read_to_string(deploy_file("prometheus/alerts.yml")).unwrap();
    let rules: serde_norway::Value = serde_norway::from_str(&text).expect("alerts.yml parses");
    let mut found = Vec::new();
    for group in rules["groups"].as_sequence().expect("groups") {
        for rule in group["rules"].as_sequence().expect("rules") {
            found.push(rule["expr"].as_str().expect("an expr").to_string());
        }
    }
    found
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_metric_the_dashboard_and_the_alerts_query_is_exported() {
    let test = "deploy_observability::every_metric_the_dashboard_and_the_alerts_query_is_exported";
    let Some(redis) = redis_url(test) else {
        return;
    };
    let db = TestDb::sqlite();
    let server = TestServer::start(&db, |config| {
        config.redis.url = Some(ConnectionUrl::new(redis));
        config.redis.key_prefix = unique_prefix();
    })
    .await;
    // Enough traffic that every family has a series: logins that pass and
    // fail (throttle decisions, hashing), a reset request, a readiness check.
    server.register("ada@example.com").await;
    server.login("ada@example.com").await;
    let wrong = server
        .post(
            "/api/auth/login/",
            json!({"email": "ada@example.com", "password": "not the password"}),
        )
        .await;
    assert_eq!(wrong.status, 401);
    let reset = server
        .post(
            "/api/auth/password/reset/",
            json!({"email": "ada@example.com"}),
        )
        .await;
    assert_eq!(reset.status, 202);
    let ready = server
        .client
        .get(server.url("/readyz"))
        .send()
        .await
        .unwrap();
    assert_eq!(ready.status(), 200);
    let exported = exported(&server).await;

    let dashboard: Value =
        serde_json::from_str(&std::fs::read_to_string(deploy_file("grafana/authd.json")).unwrap())
            .expect("the dashboard is JSON");
    let mut expressions = Vec::new();
    dashboard_expressions(&dashboard, &mut expressions);
    let dashboard_count = expressions.len();
    expressions.extend(alert_expressions());
    let mut queried = BTreeSet::new();
    for expression in &expressions {
        metric_names(expression, &mut queried);
    }
    assert!(dashboard_count >= 20, "{expressions:#?}");
    assert!(queried.len() >= 20, "{queried:#?}");
    let missing: Vec<&String> = queried.difference(&exported).collect();
    assert!(
        missing.is_empty(),
        "queried but not exported: {missing:?}\nexported: {exported:#?}"
    );
}

#[test]
fn metric_names_are_read_from_promql() {
    let mut names = BTreeSet::new();
    metric_names(
        r#"histogram_quantile(0.99, sum by (route, le) (rate(authd_http_request_duration_seconds_bucket{instance=~"authd_x.*"}[5m]))) / on(job) xauthd_not"#,
        &mut names,
    );
    assert_eq!(
        names.into_iter().collect::<Vec<_>>(),
        ["authd_http_request_duration_seconds_bucket"]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn authd_ready_is_the_latest_readiness_answer() {
    let db = TestDb::sqlite();
    let ready = TestServer::start(&db, |_| {}).await;
    assert!(
        !exported(&ready).await.contains("authd_ready"),
        "absent before any check"
    );
    let answer = ready.client.get(ready.url("/readyz")).send().await.unwrap();
    assert_eq!(answer.status(), 200);
    let text = ready
        .client
        .get(ready.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(text.lines().any(|l| l == "authd_ready 1"), "{text}");

    // Redis unreachable with throttle.on_redis_error = deny: not ready.
    let db = TestDb::sqlite();
    let port = common::free_port();
    let not_ready = TestServer::start(&db, |config| {
        config.redis.url = Some(ConnectionUrl::new(format!("redis://127.0.0.1:{port}")));
        config.throttle.on_redis_error = ThrottleFallback::Deny;
    })
    .await;
    let answer = not_ready
        .client
        .get(not_ready.url("/readyz"))
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 503);
    let text = not_ready
        .client
        .get(not_ready.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(text.lines().any(|l| l == "authd_ready 0"), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_hashes_are_counted_with_the_pool_size() {
    let db = TestDb::sqlite();
    let server = TestServer::start(&db, |config| {
        config.password.hash_workers = 1;
        config.password.hash_queue = 1;
        // Each hash takes long enough that thirty at once overlap.
        config.password.memory_kib = 65536;
        config.password.iterations = 2;
    })
    .await;
    let url = server.url("/api/auth/login/");
    let logins = (0..30).map(|i| {
        server
            .client
            .post(&url)
            .json(&json!({"email": format!("user{i}@example.com"), "password": PASSWORD}))
    });
    let replies = all_at_once(logins).await;
    let refused = replies.iter().filter(|r| r.status == 503).count();
    assert!(
        refused > 0,
        "thirty logins at once on one worker and one queue place"
    );
    let text = server
        .client
        .get(server.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for line in [
        format!("authd_hashing_refused_total {refused}"),
        "authd_hashing_workers 1".to_string(),
        "authd_hashing_queue_capacity 1".to_string(),
    ] {
        assert!(text.lines().any(|l| l == line), "{line}\n{text}");
    }
}

fn promtool(test: &str, args: &[&str]) {
    let Some(promtool) = common::service_url("AUTHD_TEST_PROMTOOL", test) else {
        return;
    };
    let output = Command::new(promtool)
        .args(args)
        .current_dir(deploy_file("prometheus"))
        .output()
        .expect("run promtool");
    assert!(
        output.status.success(),
        "{}{}",
        stdout(&output),
        stderr(&output)
    );
}

#[test]
fn promtool_checks_the_alerting_rules() {
    promtool(
        "deploy_observability::promtool_checks_the_alerting_rules",
        &["check", "rules", "alerts.yml"],
    );
}

#[test]
fn the_alerts_fire_in_promtools_unit_tests() {
    promtool(
        "deploy_observability::the_alerts_fire_in_promtools_unit_tests",
        &["test", "rules", "alerts_test.yml"],
    );
}
