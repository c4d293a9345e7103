//! Rate limiting end to end: local GCRA buckets per key with the `RateLimit-*` headers and the
//! `429 rate_limited` contract, buckets kept across reloads, and limits shared by two proxies
//! through a real `redis-server`, including Redis going away and coming back.
//!
//! Each Redis test starts its own `redis-server` on an ephemeral loopback port, with persistence
//! off, and kills it (by the process id it started) when done.

use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use flexgate_proxy::ProxyHandle;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::support::body::empty;
use crate::support::client::TestClient;
use crate::support::{
    closed_port, fetch, http1_client, parse_config, request, start_proxy, ProxyExt, Reply,
    TestUpstream,
};

/// A `redis-server` process of this test; killed when dropped.
struct Redis {
    child: Child,
    port: u16,
    /// Working directory (nothing is written with persistence off; this is only a precaution).
    _dir: tempfile::TempDir,
}

impl Drop for Redis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Redis {
    /// Starts a server on a free port.
    async fn start() -> Redis {
        for _ in 0..5 {
            if let Some(redis) = Redis::start_on(closed_port()).await {
                return redis;
            }
        }
        panic!("redis-server did not start on any of five free ports");
    }

    /// Starts a server on `port`; `None` when it exits (the port was taken meanwhile).
    async fn start_on(port: u16) -> Option<Redis> {
        let dir = tempfile::tempdir().unwrap();
        let child = Command::new("redis-server")
            .args(["--port", &port.to_string()])
            .args(["--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .args(["--loglevel", "warning"])
            .arg("--dir")
            .arg(dir.path())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn();
        let child = match child {
            Ok(child) => child,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => panic!(
                "`redis-server` is not on PATH; install Debian's `redis-server` package \
                 (apt-get install redis-server) to run this test"
            ),
            Err(e) => panic!("cannot run redis-server: {e}"),
        };
        let mut redis = Redis {
            child,
            port,
            _dir: dir,
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if redis.child.try_wait().unwrap().is_some() {
                return None;
            }
            if ping(port).await {
                return Some(redis);
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!("redis-server on port {port} did not answer PING within 10s");
    }

    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }
}

/// Whether a Redis answers `PING` on `port`.
async fn ping(port: u16) -> bool {
    let Ok(mut stream) = TcpStream::connect(("127.0.0.1", port)).await else {
        return false;
    };
    if stream.write_all(b"PING\r\n").await.is_err() {
        return false;
    }
    let mut reply = [0u8; 7];
    matches!(
        tokio::time::timeout(Duration::from_secs(1), stream.read_exact(&mut reply)).await,
        Ok(Ok(_)) if &reply == b"+PONG\r\n"
    )
}

/// Polls `check` every 20 ms until it holds; panics naming `what` after `timeout`.
async fn until<F, Fut>(what: &str, timeout: Duration, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + timeout;
    while !check().await {
        assert!(
            Instant::now() < deadline,
            "timed out after {timeout:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn get(client: &TestClient, url: &str, headers: &[(&str, &str)]) -> Reply {
    let mut builder = request("GET", url);
    for (name, value) in headers {
        builder = builder.header(*name, *value);
    }
    fetch(client, builder.body(empty()).unwrap()).await
}

/// Statuses of `n` requests to `url` with `headers`.
async fn statuses(client: &TestClient, url: &str, headers: &[(&str, &str)], n: usize) -> Vec<u16> {
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        out.push(get(client, url, headers).await.status.as_u16());
    }
    out
}

async fn status_json(client: &TestClient, proxy: &ProxyHandle, path: &str) -> serde_json::Value {
    get(client, &proxy.status_url(path), &[]).await.json()
}

async fn metrics(client: &TestClient, proxy: &ProxyHandle) -> String {
    String::from_utf8(
        get(client, &proxy.status_url("/metrics"), &[])
            .await
            .body
            .to_vec(),
    )
    .unwrap()
}

/// The value of the metric line starting with `series ` (exact series text).
fn metric_value(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' '))
        .map(|v| v.parse().unwrap())
}

#[tokio::test]
async fn local_limit_allows_requests_plus_burst_then_answers_429() {
    let echo = TestUpstream::start("echo").await;
    let proxy = start_proxy(
        r#"
        upstreams: [{name: echo, targets: [{url: "${echo}"}]}]
        routes:
          - {name: api, match: {path: /api/*}, upstream: echo, policies: [per-client]}
        policies:
          - {type: rate_limit, name: per-client, requests: 3, window: 60s, burst: 2, message: "slow down"}
        "#,
        &[("echo", echo.url())],
    )
    .await;
    let client = http1_client();
    let url = proxy.url("/api/x");

    // An idle client may send requests + burst = 5 at once; each costs window / requests = 20 s.
    for i in 1..=5u64 {
        let reply = get(&client, &url, &[]).await;
        assert_eq!(reply.status, 200, "request {i}");
        assert_eq!(reply.header("ratelimit-limit"), "5");
        assert_eq!(reply.header("ratelimit-remaining"), (5 - i).to_string());
        assert_eq!(reply.header("ratelimit-reset"), (20 * i).to_string());
    }
    for _ in 0..2 {
        let reply = get(&client, &url, &[]).await;
        assert_eq!(reply.status, 429);
        assert_eq!(reply.header("content-type"), "application/json");
        assert_eq!(reply.header("retry-after"), "20");
        assert_eq!(reply.header("ratelimit-limit"), "5");
        assert_eq!(reply.header("ratelimit-remaining"), "0");
        assert_eq!(reply.header("ratelimit-reset"), "100");
        let body = reply.json();
        assert_eq!(body["error"]["code"], "rate_limited");
        assert_eq!(body["error"]["message"], "slow down");
        assert_eq!(body["correlation_id"], reply.header("x-correlation-id"));
    }
    assert_eq!(
        echo.requests(),
        5,
        "the upstream sees only allowed requests"
    );

    let text = metrics(&client, &proxy).await;
    let series = |result: &str| {
        format!(
            "flexgate_rate_limit_decisions_total{{route=\"api\",policy=\"per-client\",result=\"{result}\"}}"
        )
    };
    assert_eq!(metric_value(&text, &series("allowed")), Some(5.0));
    assert_eq!(metric_value(&text, &series("limited")), Some(2.0));
    assert!(
        !text
            .lines()
            .any(|line| line.starts_with("flexgate_rate_limit_redis_up")),
        "no Redis series without a Redis-mode limit"
    );
}

#[tokio::test]
async fn keys_keep_clients_apart() {
    let echo = TestUpstream::start("echo").await;
    let proxy = start_proxy(
        r#"
        security:
          trusted_proxies: ["127.0.0.1/32"]
          ssrf: {allow_networks: ["127.0.0.0/8"]}
        upstreams: [{name: echo, targets: [{url: "${echo}"}]}]
        routes:
          - {name: by-ip, match: {path: /ip/*}, upstream: echo, policies: [by-ip]}
          - {name: by-tenant, match: {path: /tenant/*}, upstream: echo, policies: [by-tenant]}
          - {name: by-key, match: {path: /key/*}, upstream: echo, policies: [by-key]}
        policies:
          - {type: rate_limit, name: by-ip, requests: 2, window: 60s}
          - {type: rate_limit, name: by-tenant, requests: 2, window: 60s, key: [{header: x-tenant}]}
          - {type: rate_limit, name: by-key, requests: 2, window: 60s, key: [api_key, route]}
        "#,
        &[("echo", echo.url())],
    )
    .await;
    let client = http1_client();

    // Client addresses from X-Forwarded-For, which the trusted loopback peer may set.
    let ip = proxy.url("/ip/x");
    let first = [("x-forwarded-for", "127.0.0.2")];
    let second = [("x-forwarded-for", "127.0.0.3")];
    assert_eq!(statuses(&client, &ip, &first, 3).await, [200, 200, 429]);
    assert_eq!(statuses(&client, &ip, &second, 3).await, [200, 200, 429]);

    // Header values are separate buckets; requests without the header share one.
    let tenant = proxy.url("/tenant/x");
    assert_eq!(
        statuses(&client, &tenant, &[("x-tenant", "a")], 3).await,
        [200, 200, 429]
    );
    assert_eq!(
        statuses(&client, &tenant, &[("x-tenant", "b")], 3).await,
        [200, 200, 429]
    );
    assert_eq!(statuses(&client, &tenant, &[], 3).await, [200, 200, 429]);
    assert_eq!(
        statuses(&client, &tenant, &[("x-tenant", "")], 1).await,
        [200],
        "an empty value is not the same as a missing header"
    );

    // X-API-Key and Authorization: Bearer present the same key.
    let key = proxy.url("/key/x");
    assert_eq!(
        statuses(&client, &key, &[("x-api-key", "k1")], 2).await,
        [200, 200]
    );
    assert_eq!(
        statuses(&client, &key, &[("authorization", "Bearer k1")], 1).await,
        [429]
    );
    assert_eq!(
        statuses(&client, &key, &[("authorization", "Bearer k2")], 1).await,
        [200]
    );
}

#[tokio::test]
async fn buckets_survive_reloads_that_keep_the_policy() {
    let echo = TestUpstream::start("echo").await;
    let yaml = |requests: u32, extra_route: &str| {
        format!(
            r#"
            upstreams: [{{name: echo, targets: [{{url: "${{echo}}"}}]}}]
            routes:
              - {{name: api, match: {{path: /api/*}}, upstream: echo, policies: [limit]}}
              {extra_route}
            policies:
              - {{type: rate_limit, name: limit, requests: {requests}, window: 60s}}
            "#
        )
    };
    let vars = [("echo", echo.url())];
    let proxy = start_proxy(&yaml(2, ""), &vars).await;
    let client = http1_client();
    let url = proxy.url("/api/x");
    assert_eq!(statuses(&client, &url, &[], 3).await, [200, 200, 429]);

    // Another route appears, and uses the same policy: the bucket is the same.
    let extra = "- {name: other, match: {path: /other/*}, upstream: echo, policies: [limit]}";
    proxy.apply(parse_config(&yaml(2, extra), &vars)).unwrap();
    assert_eq!(statuses(&client, &url, &[], 1).await, [429]);
    // The key has no route part, so the new route draws on the same bucket.
    let other = proxy.url("/other/x");
    assert_eq!(statuses(&client, &other, &[], 1).await, [429]);
    let text = metrics(&client, &proxy).await;
    assert_eq!(
        metric_value(
            &text,
            "flexgate_rate_limit_decisions_total{route=\"other\",policy=\"limit\",result=\"limited\"}"
        ),
        Some(1.0),
    );

    // Changed settings make a new policy with fresh buckets.
    proxy.apply(parse_config(&yaml(3, extra), &vars)).unwrap();
    assert_eq!(statuses(&client, &url, &[], 4).await, [200, 200, 200, 429]);
}

/// Two proxies sharing `redis_url` with one limit (keyed by `x-tenant`).
async fn redis_pair(
    echo: &TestUpstream,
    redis_url: &str,
    requests: u32,
    extra: &str,
) -> (Arc<ProxyHandle>, Arc<ProxyHandle>) {
    let yaml = format!(
        r#"
        redis: {{url: "${{redis}}", timeout: 100ms{extra}}}
        upstreams: [{{name: echo, targets: [{{url: "${{echo}}"}}]}}]
        routes:
          - {{name: api, match: {{path: /api/*}}, upstream: echo, policies: [shared]}}
        policies:
          - {{type: rate_limit, name: shared, requests: {requests}, window: 60s, mode: redis, key: [{{header: x-tenant}}]}}
        "#
    );
    let vars = [("echo", echo.url()), ("redis", redis_url.to_owned())];
    (
        start_proxy(&yaml, &vars).await,
        start_proxy(&yaml, &vars).await,
    )
}

/// Waits until `/health/deep` of `proxy` reports the rate-limit Redis as `state`.
async fn wait_redis_state(client: &TestClient, proxy: &ProxyHandle, state: &str) {
    until(
        &format!("rate_limit_redis = {state}"),
        Duration::from_secs(10),
        || async { status_json(client, proxy, "/health/deep").await["rate_limit_redis"] == state },
    )
    .await;
}

/// Sends `n` requests for `tenant`, alternating between `a` and `b`; returns how many each
/// allowed.
async fn alternate(
    client: &TestClient,
    a: &ProxyHandle,
    b: &ProxyHandle,
    tenant: &str,
    n: usize,
) -> (usize, usize) {
    let headers = [("x-tenant", tenant)];
    let (mut allowed_a, mut allowed_b) = (0, 0);
    for i in 0..n {
        let (proxy, allowed) = if i % 2 == 0 {
            (a, &mut allowed_a)
        } else {
            (b, &mut allowed_b)
        };
        let reply = get(client, &proxy.url("/api/x"), &headers).await;
        match reply.status.as_u16() {
            200 => *allowed += 1,
            429 => assert_eq!(reply.json()["error"]["code"], "rate_limited"),
            other => panic!("unexpected status {other}: {:?}", reply.body),
        }
    }
    (allowed_a, allowed_b)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_limit_is_shared_by_two_proxies() {
    let redis = Redis::start().await;
    let echo = TestUpstream::start("echo").await;
    let (a, b) = redis_pair(&echo, &redis.url(), 5, "").await;
    let client = http1_client();
    wait_redis_state(&client, &a, "up").await;
    wait_redis_state(&client, &b, "up").await;

    // The same headers as a local limit: 5 at once, 12 s each.
    let first = get(&client, &a.url("/api/x"), &[("x-tenant", "h")]).await;
    assert_eq!(first.status, 200);
    assert_eq!(first.header("ratelimit-limit"), "5");
    assert_eq!(first.header("ratelimit-remaining"), "4");
    assert_eq!(first.header("ratelimit-reset"), "12");

    let (from_a, from_b) = alternate(&client, &a, &b, "t", 12).await;
    assert_eq!(from_a + from_b, 5, "one limit across both proxies");
    assert!(from_a > 0 && from_b > 0, "both proxies served part of it");
    assert_eq!(echo.requests(), 1 + 5);

    let limited = get(&client, &b.url("/api/x"), &[("x-tenant", "t")]).await;
    assert_eq!(limited.status, 429);
    let retry_after: u64 = limited.header("retry-after").parse().unwrap();
    assert!((1..=12).contains(&retry_after), "Retry-After {retry_after}");
    assert_eq!(limited.header("ratelimit-remaining"), "0");

    let text = metrics(&client, &a).await;
    assert_eq!(
        metric_value(&text, "flexgate_rate_limit_redis_up"),
        Some(1.0)
    );
    assert_eq!(
        metric_value(&text, "flexgate_rate_limit_redis_unavailable_total"),
        Some(0.0)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_outage_falls_back_to_local_limits_and_recovers() {
    let redis = Redis::start().await;
    let port = redis.port;
    let echo = TestUpstream::start("echo").await;
    let (a, b) = redis_pair(&echo, &redis.url(), 3, "").await;
    let client = http1_client();
    wait_redis_state(&client, &a, "up").await;
    wait_redis_state(&client, &b, "up").await;
    let (x, y) = alternate(&client, &a, &b, "before", 8).await;
    assert_eq!(x + y, 3, "shared while Redis is up");

    drop(redis);
    // Every request is still answered, by each proxy's own limit, and none waits for Redis
    // longer than its timeout (100 ms) plus a margin for a busy test machine.
    for proxy in [&a, &b] {
        let mut seen = Vec::new();
        for _ in 0..5 {
            let started = Instant::now();
            let reply = get(&client, &proxy.url("/api/x"), &[("x-tenant", "during")]).await;
            let took = started.elapsed();
            assert!(took < Duration::from_millis(600), "a request took {took:?}");
            seen.push(reply.status.as_u16());
        }
        assert_eq!(seen, [200, 200, 200, 429, 429], "local limit of one proxy");
    }
    let deep = get(&client, &a.status_url("/health/deep"), &[]).await;
    assert_eq!(
        deep.status, 200,
        "a Redis outage does not fail the health check"
    );
    let deep = deep.json();
    assert_eq!(deep["status"], "degraded");
    assert_eq!(deep["rate_limit_redis"], "degraded");
    let text = metrics(&client, &a).await;
    assert_eq!(
        metric_value(&text, "flexgate_rate_limit_redis_up"),
        Some(0.0)
    );
    let unavailable =
        metric_value(&text, "flexgate_rate_limit_redis_unavailable_total").unwrap_or(0.0);
    assert!(unavailable >= 5.0, "unavailable decisions: {unavailable}");

    // The same port again: both proxies reconnect on their own and share the limit again.
    let mut restarted = None;
    for _ in 0..50 {
        restarted = Redis::start_on(port).await;
        if restarted.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let _redis = restarted.expect("redis-server restarts on its port");
    wait_redis_state(&client, &a, "up").await;
    wait_redis_state(&client, &b, "up").await;
    let (x, y) = alternate(&client, &a, &b, "after", 8).await;
    assert_eq!(x + y, 3, "shared again once Redis is back");
    assert_eq!(
        status_json(&client, &a, "/health/deep").await["status"],
        "ok"
    );
    let text = metrics(&client, &b).await;
    assert_eq!(
        metric_value(&text, "flexgate_rate_limit_redis_up"),
        Some(1.0)
    );
}

#[tokio::test]
async fn unreachable_redis_with_deny_or_allow() {
    let echo = TestUpstream::start("echo").await;
    let client = http1_client();
    let redis_url = format!("redis://127.0.0.1:{}", closed_port());
    for (mode, expected) in [("deny", 503), ("allow", 200)] {
        let (proxy, _) =
            redis_pair(&echo, &redis_url, 1, &format!(", on_unavailable: {mode}")).await;
        for _ in 0..3 {
            let started = Instant::now();
            let reply = get(&client, &proxy.url("/api/x"), &[("x-tenant", "t")]).await;
            assert!(started.elapsed() < Duration::from_millis(600));
            assert_eq!(reply.status, expected, "on_unavailable: {mode}");
            assert!(reply.headers.get("ratelimit-limit").is_none());
            if expected == 503 {
                assert_eq!(reply.header("retry-after"), "1");
                assert_eq!(reply.json()["error"]["code"], "rate_limiter_unavailable");
            }
        }
        let deep = status_json(&client, &proxy, "/health/deep").await;
        assert_eq!(deep["rate_limit_redis"], "degraded");
    }
}
