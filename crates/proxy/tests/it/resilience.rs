//! Failure handling end to end: retries (exact attempt counts, idempotency, another target,
//! per-try timeouts), the circuit breaker's full cycle, outlier ejection, load shedding and
//! upstream concurrency limits — against real upstreams that fail, hang and are slow on demand.

use std::time::{Duration, Instant};

use crate::support::body::empty;
use crate::support::client::TestClient;
use crate::support::{
    closed_port, fetch, http1_client, request, start_proxy, ProxyExt, Reply, TestUpstream,
};

async fn get(client: &TestClient, url: &str) -> Reply {
    fetch(client, request("GET", url).body(empty()).unwrap()).await
}

fn code(reply: &Reply) -> String {
    reply.json()["error"]["code"]
        .as_str()
        .unwrap_or("")
        .to_owned()
}

async fn metrics(proxy: &flexgate_proxy::ProxyHandle) -> String {
    let reply = get(&http1_client(), &proxy.status_url("/metrics")).await;
    String::from_utf8_lossy(&reply.body).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idempotent_requests_are_retried_exactly_up_to_the_attempt_limit() {
    let flaky = TestUpstream::start("flaky").await;
    let proxy = start_proxy(
        r#"
        upstreams:
          - name: flaky
            targets: [{url: "${flaky}"}]
        routes:
          - name: retried
            match: {path: /*}
            upstream: flaky
            retries: {attempts: 3, backoff_base: 1ms, backoff_max: 5ms, budget_min_per_second: 100}
        "#,
        &[("flaky", flaky.url())],
    )
    .await;
    let client = http1_client();

    let reply = get(&client, &proxy.url("/status/503")).await;
    assert_eq!(reply.status, 503, "the last upstream answer is passed on");
    assert_eq!(flaky.requests(), 3, "one try and two retries");

    // A POST is not idempotent: one attempt only.
    let reply = fetch(
        &client,
        request("POST", &proxy.url("/status/503"))
            .body(empty())
            .unwrap(),
    )
    .await;
    assert_eq!(reply.status, 503);
    assert_eq!(flaky.requests(), 4, "POST is not retried");

    // With an Idempotency-Key the client declares it safe to repeat.
    let reply = fetch(
        &client,
        request("POST", &proxy.url("/status/503"))
            .header("idempotency-key", "k-1")
            .body(empty())
            .unwrap(),
    )
    .await;
    assert_eq!(reply.status, 503);
    assert_eq!(flaky.requests(), 7, "keyed POST is retried");

    // Statuses that retrying cannot fix are not retried.
    let reply = get(&client, &proxy.url("/status/500")).await;
    assert_eq!(reply.status, 500);
    assert_eq!(flaky.requests(), 8);

    let text = metrics(&proxy).await;
    assert!(
        text.contains(r#"flexgate_upstream_attempts_total{route="retried",attempt="3"} 2"#),
        "{text}"
    );
    assert!(
        text.contains(
            r#"flexgate_retries_skipped_total{route="retried",reason="not_idempotent"} 1"#
        ),
        "{text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_connection_is_retried_on_another_target() {
    let healthy = TestUpstream::start("healthy").await;
    let proxy = start_proxy(
        r#"
        upstreams:
          - name: pair
            targets:
              - url: "http://127.0.0.1:${closed}"
              - url: "${healthy}"
        routes:
          - name: all
            match: {path: /*}
            upstream: pair
            retries: {attempts: 2, backoff_base: 1ms, backoff_max: 2ms, budget_min_per_second: 100}
        "#,
        &[
            ("healthy", healthy.url()),
            ("closed", closed_port().to_string()),
        ],
    )
    .await;
    let client = http1_client();
    for i in 0..10 {
        let reply = fetch(
            &client,
            request("POST", &proxy.url(&format!("/write/{i}")))
                .body(empty())
                .unwrap(),
        )
        .await;
        assert_eq!(
            reply.status, 200,
            "a connect failure is safe to retry, even for POST"
        );
        assert_eq!(reply.header("x-upstream"), "healthy");
    }
    assert_eq!(healthy.requests(), 10);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hanging_upstream_costs_at_most_per_try_timeout_times_attempts() {
    let hanging = TestUpstream::start("hanging").await;
    let proxy = start_proxy(
        r#"
        upstreams:
          - name: hanging
            targets: [{url: "${hanging}"}]
        routes:
          - name: all
            match: {path: /*}
            upstream: hanging
            retries: {attempts: 3, per_try_timeout: 200ms, backoff_base: 1ms, backoff_max: 5ms, budget_min_per_second: 100}
        "#,
        &[("hanging", hanging.url())],
    )
    .await;
    let started = Instant::now();
    let reply = get(&http1_client(), &proxy.url("/slow/5000")).await;
    let took = started.elapsed();
    assert_eq!(reply.status, 504);
    assert_eq!(code(&reply), "upstream_timeout");
    assert_eq!(hanging.requests(), 3, "every attempt reached the upstream");
    assert!(
        took >= Duration::from_millis(600) && took < Duration::from_millis(2500),
        "3 × 200 ms plus backoff, not the upstream's 5 s: took {took:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_route_timeout_bounds_all_attempts_together() {
    let hanging = TestUpstream::start("hanging").await;
    let proxy = start_proxy(
        r#"
        upstreams:
          - name: hanging
            targets: [{url: "${hanging}"}]
        routes:
          - name: all
            match: {path: /*}
            upstream: hanging
            timeout: 300ms
            retries: {attempts: 5, per_try_timeout: 200ms, backoff_base: 1ms, backoff_max: 2ms, budget_min_per_second: 100}
        "#,
        &[("hanging", hanging.url())],
    )
    .await;
    let started = Instant::now();
    let reply = get(&http1_client(), &proxy.url("/slow/5000")).await;
    assert_eq!(reply.status, 504);
    assert!(
        started.elapsed() < Duration::from_millis(1500),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(
        hanging.requests(),
        2,
        "the second attempt used the rest of the 300 ms"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_circuit_breaker_opens_rejects_fast_half_opens_and_closes() {
    let backend = TestUpstream::start("backend").await;
    let proxy = start_proxy(
        r#"
        upstreams:
          - name: backend
            targets: [{url: "${backend}"}]
            circuit_breaker:
              consecutive_failures: 3
              minimum_requests: 1000
              open_duration: 400ms
              half_open_requests: 1
        routes:
          - name: failing
            match: {path: /fail/*}
            upstream: backend
            rewrite_prefix: /status
          - name: fine
            match: {path: /*}
            upstream: backend
        "#,
        &[("backend", backend.url())],
    )
    .await;
    let client = http1_client();
    for _ in 0..3 {
        assert_eq!(get(&client, &proxy.url("/fail/500")).await.status, 500);
    }
    assert_eq!(backend.requests(), 3);

    // Open: refused at the gateway without touching the upstream.
    let started = Instant::now();
    let reply = get(&client, &proxy.url("/anything")).await;
    let rejected_in = started.elapsed();
    assert_eq!(reply.status, 503);
    assert_eq!(code(&reply), "circuit_open");
    let retry_after: u64 = reply.header("retry-after").parse().unwrap();
    assert!(retry_after >= 1);
    assert_eq!(
        backend.requests(),
        3,
        "no request reached the upstream while open"
    );
    println!("open-breaker rejection took {rejected_in:?}");
    assert!(
        rejected_in < Duration::from_millis(250),
        "rejected at once: {rejected_in:?}"
    );
    let text = metrics(&proxy).await;
    assert!(
        text.contains(r#"flexgate_circuit_breaker_state{upstream="backend"} 2"#),
        "{text}"
    );
    assert!(
        text.contains(
            r#"flexgate_circuit_breaker_transitions_total{upstream="backend",to="open"} 1"#
        ),
        "{text}"
    );

    // After the open duration one probe is let through; its success closes the breaker.
    tokio::time::sleep(Duration::from_millis(450)).await;
    let reply = get(&client, &proxy.url("/probe")).await;
    assert_eq!(reply.status, 200);
    assert_eq!(backend.requests(), 4);
    for _ in 0..5 {
        assert_eq!(get(&client, &proxy.url("/again")).await.status, 200);
    }
    let text = metrics(&proxy).await;
    assert!(
        text.contains(r#"flexgate_circuit_breaker_state{upstream="backend"} 0"#),
        "{text}"
    );
    assert!(
        text.contains(
            r#"flexgate_circuit_breaker_transitions_total{upstream="backend",to="half_open"} 1"#
        ),
        "{text}"
    );
    assert!(
        text.contains(
            r#"flexgate_circuit_breaker_transitions_total{upstream="backend",to="closed"} 1"#
        ),
        "{text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_probe_reopens_the_breaker_and_a_fallback_can_answer() {
    let backend = TestUpstream::start("backend").await;
    let proxy = start_proxy(
        r#"
        upstreams:
          - name: backend
            targets: [{url: "${backend}"}]
            circuit_breaker:
              consecutive_failures: 2
              minimum_requests: 1000
              open_duration: 300ms
              half_open_requests: 1
              fallback: {status: 200, body: '{"items":[],"stale":true}'}
        routes:
          - name: all
            match: {path: /*}
            upstream: backend
        "#,
        &[("backend", backend.url())],
    )
    .await;
    let client = http1_client();
    for _ in 0..2 {
        assert_eq!(get(&client, &proxy.url("/status/502")).await.status, 502);
    }
    let reply = get(&client, &proxy.url("/items")).await;
    assert_eq!(reply.status, 200, "the fallback answers while open");
    assert_eq!(reply.json()["stale"], true);
    assert_eq!(backend.requests(), 2);

    tokio::time::sleep(Duration::from_millis(350)).await;
    assert_eq!(
        get(&client, &proxy.url("/status/502")).await.status,
        502,
        "the probe fails"
    );
    let reply = get(&client, &proxy.url("/items")).await;
    assert_eq!(
        reply.json()["stale"],
        true,
        "open again after the failed probe"
    );
    assert_eq!(backend.requests(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_target_is_ejected_and_traffic_moves_to_the_others() {
    let good = TestUpstream::start("good").await;
    let proxy = start_proxy(
        r#"
        upstreams:
          - name: pair
            targets:
              - url: "http://127.0.0.1:${closed}"
              - url: "${good}"
            outlier_detection: {consecutive_errors: 2, base_ejection_time: 30s}
        routes:
          - name: all
            match: {path: /*}
            upstream: pair
        "#,
        &[("good", good.url()), ("closed", closed_port().to_string())],
    )
    .await;
    let client = http1_client();
    let mut failures = 0;
    for _ in 0..20 {
        if get(&client, &proxy.url("/x")).await.status != 200 {
            failures += 1;
        }
    }
    assert_eq!(
        failures, 2,
        "two failures eject the dead target, then everything succeeds"
    );
    assert_eq!(good.requests(), 18);
    let text = metrics(&proxy).await;
    assert!(
        text.contains(r#"flexgate_outlier_ejections_total{upstream="pair"} 1"#),
        "{text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn over_the_route_cap_requests_are_shed_with_503_and_retry_after() {
    let slow = TestUpstream::start("slow").await;
    let proxy = start_proxy(
        r#"
        server:
          load_shedding: {queue_size: 0}
        upstreams:
          - name: slow
            targets: [{url: "${slow}"}]
          - name: limited
            targets: [{url: "${slow}"}]
            limits: {max_requests: 1, max_pending: 0}
        routes:
          - name: capped
            match: {path: /capped/*}
            upstream: slow
            rewrite_prefix: /slow
            max_concurrent_requests: 1
          - name: limited
            match: {path: /limited/*}
            upstream: limited
            rewrite_prefix: /slow
        "#,
        &[("slow", slow.url())],
    )
    .await;
    for (prefix, metric) in [
        (
            "/capped",
            r#"flexgate_load_shed_total{scope="route",route="capped"} 1"#,
        ),
        (
            "/limited",
            r#"flexgate_upstream_limit_rejections_total{upstream="limited"} 1"#,
        ),
    ] {
        let client = http1_client();
        let url = proxy.url(&format!("{prefix}/800"));
        let first = tokio::spawn({
            let client = client.clone();
            let url = url.clone();
            async move { get(&client, &url).await }
        });
        crate::support::eventually(
            "the first request holds the slot",
            Duration::from_secs(5),
            || async { slow.in_flight() == 1 },
        )
        .await;
        let second = get(&client, &url).await;
        assert_eq!(second.status, 503, "{prefix}");
        assert_eq!(code(&second), "overloaded");
        assert_eq!(second.header("retry-after"), "1");
        assert_eq!(
            first.await.unwrap().status,
            200,
            "the admitted request is unaffected"
        );
        assert!(metrics(&proxy).await.contains(metric), "{prefix}");
        // The slot is free again.
        assert_eq!(
            get(&client, &proxy.url(&format!("{prefix}/1")))
                .await
                .status,
            200
        );
    }
}
