//! The status listener: Prometheus metrics that `promtool` accepts, and the health endpoints as
//! the README and architecture notes describe them.

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::support::body::empty;
use crate::support::client::TestClient;
use crate::support::{
    closed_port, fetch, http1_client, request, start_proxy, wait_for, ProxyExt, Reply, TestUpstream,
};

const CONFIG: &str = r#"
    upstreams:
      - name: echo
        targets: [{url: "${echo}"}]
      - name: gone
        targets: [{url: "http://127.0.0.1:${closed}"}]
        health_check:
          path: /health
          interval: 100ms
          timeout: 50ms
          unhealthy_threshold: 1
          healthy_threshold: 1
    routes:
      - {name: users, match: {path: /users/*}, upstream: echo}
      - {name: orders, match: {path: /orders/*, methods: [GET]}, upstream: echo}
      - {name: legacy, match: {path: /legacy/*}, upstream: gone}
"#;

/// Runs `promtool check metrics` on `text`; panics with its report when it objects.
fn promtool_check(text: &str) {
    let mut child = match Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
    {
        Ok(child) => child,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => panic!(
            "`promtool` is not on PATH; install Debian's `prometheus` package \
             (apt-get install prometheus) to run this test"
        ),
        Err(e) => panic!("cannot run promtool: {e}"),
    };
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(
        output.status.success(),
        "promtool check metrics failed:\n{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

async fn get(client: &TestClient, url: &str) -> Reply {
    fetch(client, request("GET", url).body(empty()).unwrap()).await
}

/// The value of the series `series` (name and labels exactly as exposed), if present.
fn sample(metrics: &str, series: &str) -> Option<f64> {
    metrics
        .lines()
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' '))
        .and_then(|value| value.trim().parse().ok())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_pass_promtool_and_count_requests_per_route() {
    let echo = TestUpstream::start("echo").await;
    let proxy = start_proxy(
        CONFIG,
        &[("echo", echo.url()), ("closed", closed_port().to_string())],
    )
    .await;
    let client = http1_client();
    for _ in 0..3 {
        assert_eq!(get(&client, &proxy.url("/users/1")).await.status, 200);
    }
    assert_eq!(get(&client, &proxy.url("/orders/1")).await.status, 200);
    let reply = fetch(
        &client,
        request("POST", &proxy.url("/orders/1"))
            .body(empty())
            .unwrap(),
    )
    .await;
    assert_eq!(reply.status, 405);
    assert_eq!(get(&client, &proxy.url("/nowhere")).await.status, 404);

    let expectations = [
        (
            r#"flexgate_http_requests_total{route="users",upstream="echo",status_class="2xx"}"#,
            3.0,
        ),
        (
            r#"flexgate_http_requests_total{route="orders",upstream="echo",status_class="2xx"}"#,
            1.0,
        ),
        (
            r#"flexgate_http_requests_total{route="none",upstream="none",status_class="4xx"}"#,
            2.0,
        ),
        (
            r#"flexgate_gateway_errors_total{code="method_not_allowed"}"#,
            1.0,
        ),
        (
            r#"flexgate_gateway_errors_total{code="route_not_found"}"#,
            1.0,
        ),
        (
            r#"flexgate_upstream_requests_total{upstream="echo",status_class="2xx"}"#,
            4.0,
        ),
        (r#"flexgate_config_reloads_total{result="success"}"#, 1.0),
    ];
    // Requests are counted when their response ends on the proxy's side, which can trail the
    // client's read by a moment.
    let metrics = wait_for("the requests to be counted", Duration::from_secs(5), || {
        let (client, url) = (&client, proxy.status_url("/metrics"));
        async move {
            let reply = get(client, &url).await;
            assert_eq!(reply.status, 200);
            assert!(reply
                .header("content-type")
                .starts_with("text/plain; version=0.0.4"));
            let metrics = String::from_utf8(reply.body.to_vec()).unwrap();
            if expectations
                .iter()
                .all(|(series, value)| sample(&metrics, series) == Some(*value))
            {
                Ok(metrics)
            } else {
                Err(metrics)
            }
        }
    })
    .await;
    for (series, value) in expectations {
        assert_eq!(sample(&metrics, series), Some(value), "{series}\n{metrics}");
    }
    // The route that saw no traffic has its series at zero already.
    assert_eq!(
        sample(
            &metrics,
            r#"flexgate_http_requests_total{route="legacy",upstream="gone",status_class="5xx"}"#
        ),
        Some(0.0)
    );
    promtool_check(&metrics);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_endpoints_report_liveness_readiness_and_upstream_health() {
    let echo = TestUpstream::start("echo").await;
    let proxy = start_proxy(
        CONFIG,
        &[("echo", echo.url()), ("closed", closed_port().to_string())],
    )
    .await;
    let client = http1_client();
    let version = proxy.shared().snapshot().unwrap().version.clone();

    let health = get(&client, &proxy.status_url("/health")).await;
    assert_eq!(health.status, 200);
    let body = health.json();
    assert_eq!(body["status"], "ok");
    assert_eq!(body["config"]["version"], version.version.as_str());
    assert_eq!(body["config"]["hash"], version.hash.as_str());

    let live = get(&client, &proxy.status_url("/health/live")).await;
    assert_eq!(
        (live.status.as_u16(), live.json()["status"].clone()),
        (200, "ok".into())
    );
    let ready = get(&client, &proxy.status_url("/health/ready")).await;
    assert_eq!(
        (ready.status.as_u16(), ready.json()["status"].clone()),
        (200, "ready".into())
    );

    // The health check finds the closed port within a few intervals.
    let deep = wait_for(
        "the dead target to be marked down",
        Duration::from_secs(5),
        || {
            let (client, url) = (&client, proxy.status_url("/health/deep"));
            async move {
                let deep = get(client, &url).await.json();
                if deep["status"] == "degraded" {
                    Ok(deep)
                } else {
                    Err(deep.to_string())
                }
            }
        },
    )
    .await;
    let upstreams = deep["upstreams"].as_array().unwrap();
    let by_name = |name: &str| {
        upstreams
            .iter()
            .find(|u| u["name"] == name)
            .unwrap()
            .clone()
    };
    let gone = by_name("gone");
    assert_eq!(gone["status"], "down", "{deep}");
    assert_eq!(gone["healthy_targets"], 0);
    assert_eq!(gone["targets"][0]["healthy"], false);
    assert!(gone["targets"][0]["url"]
        .as_str()
        .unwrap()
        .starts_with("http://127.0.0.1:"));
    let up = by_name("echo");
    assert_eq!(up["status"], "up", "{deep}");
    assert_eq!(up["targets"][0]["healthy"], true);
    assert_eq!(deep["last_reload"]["success"], true);
    assert_eq!(deep["config"]["version"], version.version.as_str());

    // Traffic to the dead upstream is refused without trying it.
    let reply = get(&client, &proxy.url("/legacy/x")).await;
    assert_eq!(reply.status, 503);
    assert_eq!(reply.json()["error"]["code"], "no_healthy_upstream");
    assert_eq!(reply.header("retry-after"), "1");

    // A degraded upstream does not make the gateway unready: other routes still work.
    let ready = get(&client, &proxy.status_url("/health/ready")).await;
    assert_eq!(ready.status, 200);
    let unknown = get(&client, &proxy.status_url("/nope")).await;
    assert_eq!(unknown.status, 404);
}
