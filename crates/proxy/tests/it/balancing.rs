//! Load balancing and active health checks, observed through which server answered.

use std::time::Duration;

use flexgate_proxy::ProxyHandle;

use crate::support::body::empty;
use crate::support::client::TestClient;
use crate::support::{
    eventually, fetch, http1_client, request, start_proxy, ProxyExt, TestUpstream,
};

/// The names of the servers that answered `n` sequential requests to `path`.
async fn answered_by(
    proxy: &ProxyHandle,
    client: &TestClient,
    path: &str,
    n: usize,
) -> Vec<String> {
    let mut names = Vec::with_capacity(n);
    for _ in 0..n {
        let reply = fetch(
            client,
            request("GET", &proxy.url(path)).body(empty()).unwrap(),
        )
        .await;
        assert_eq!(reply.status, 200);
        names.push(reply.header("x-upstream").to_owned());
    }
    names
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn round_robin_alternates_and_weighted_follows_the_weights() {
    let a = TestUpstream::start("a").await;
    let b = TestUpstream::start("b").await;
    let proxy = start_proxy(
        r#"
        upstreams:
          - name: rr
            load_balancing: round_robin
            targets: [{url: "${a}"}, {url: "${b}"}]
          - name: weighted
            load_balancing: weighted
            targets: [{url: "${a}", weight: 3}, {url: "${b}", weight: 1}]
        routes:
          - {name: rr, match: {path: /rr/*}, upstream: rr}
          - {name: weighted, match: {path: /weighted/*}, upstream: weighted}
        "#,
        &[("a", a.url()), ("b", b.url())],
    )
    .await;
    let client = http1_client();

    let names = answered_by(&proxy, &client, "/rr/x", 10).await;
    for pair in names.windows(2) {
        assert_ne!(pair[0], pair[1], "round robin alternates: {names:?}");
    }
    assert_eq!(names.iter().filter(|n| *n == "a").count(), 5, "{names:?}");

    let names = answered_by(&proxy, &client, "/weighted/x", 8).await;
    assert_eq!(
        names.iter().filter(|n| *n == "a").count(),
        6,
        "weights 3:1 over two cycles: {names:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn traffic_avoids_a_target_that_fails_its_health_checks() {
    let good = TestUpstream::start("good").await;
    let bad = TestUpstream::start("bad").await;
    bad.set_health(500);
    let proxy = start_proxy(
        r#"
        upstreams:
          - name: pool
            targets: [{url: "${good}"}, {url: "${bad}"}]
            # One result flips a target; the timeout is generous so that a busy machine
            # cannot make the good target look dead.
            health_check:
              path: /health
              interval: 250ms
              timeout: 200ms
              unhealthy_threshold: 1
              healthy_threshold: 1
        routes:
          - {name: all, match: {path: /*}, upstream: pool}
        "#,
        &[("good", good.url()), ("bad", bad.url())],
    )
    .await;
    let client = http1_client();
    let bad_url = bad.url();
    let target_healthy = |healthy: bool| {
        let (client, url, bad_url) = (&client, proxy.status_url("/health/deep"), bad_url.clone());
        move || {
            let url = url.clone();
            let bad_url = bad_url.clone();
            async move {
                let deep = fetch(client, request("GET", &url).body(empty()).unwrap())
                    .await
                    .json();
                deep["upstreams"][0]["targets"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|t| t["url"] == bad_url.as_str() && t["healthy"] == healthy)
            }
        }
    };

    eventually(
        "the failing target to be marked down",
        Duration::from_secs(5),
        target_healthy(false),
    )
    .await;
    let names = answered_by(&proxy, &client, "/x", 10).await;
    assert!(
        names.iter().all(|n| n == "good"),
        "only the healthy target gets traffic: {names:?}"
    );

    // Once it passes its checks again it is back in rotation.
    bad.set_health(200);
    eventually(
        "the target to recover",
        Duration::from_secs(5),
        target_healthy(true),
    )
    .await;
    let names = answered_by(&proxy, &client, "/x", 10).await;
    assert!(names.iter().any(|n| n == "bad"), "{names:?}");
    assert!(names.iter().any(|n| n == "good"), "{names:?}");
}
