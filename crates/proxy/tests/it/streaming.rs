//! Large bodies stream through the proxy in both directions with bounded memory.
//!
//! The client generates the upload chunk by chunk and counts the download without keeping it,
//! and the upstream does the same, so any growth of this process's memory during the transfers
//! is the proxy's. A proxy that buffered a body would grow by at least its 100 MiB.

use http_body_util::BodyExt;

use crate::support::body::{empty, Generated};
use crate::support::memory::RssSampler;
use crate::support::{fetch, http1_client, request, start_proxy, ProxyExt, TestUpstream};

const BODY: u64 = 100 * 1024 * 1024;
/// Generous for buffers, allocator slack and other tests running in this process meanwhile;
/// well below one buffered body.
const MAX_GROWTH: u64 = 64 * 1024 * 1024;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hundred_mib_up_and_down_with_bounded_memory() {
    let upstream = TestUpstream::start("bulk").await;
    let proxy = start_proxy(
        r#"
        server:
          max_request_body: 200MiB
        upstreams:
          - name: bulk
            targets: [{url: "${bulk}"}]
        routes:
          - name: all
            match: {path: /*}
            upstream: bulk
        "#,
        &[("bulk", upstream.url())],
    )
    .await;
    let client = http1_client();
    // Warm up the connections and allocator before the baseline.
    let warm = fetch(
        &client,
        request("GET", &proxy.url("/bytes/1024"))
            .body(empty())
            .unwrap(),
    )
    .await;
    assert_eq!(warm.body.len(), 1024);

    let sampler = RssSampler::start();

    let reply = fetch(
        &client,
        request("POST", &proxy.url("/upload"))
            .body(Generated::boxed(BODY))
            .unwrap(),
    )
    .await;
    assert_eq!(reply.status, 200);
    assert_eq!(
        reply.json()["bytes"],
        BODY,
        "the upstream received every byte"
    );

    let response = client
        .request(
            request("GET", &proxy.url(&format!("/bytes/{BODY}")))
                .body(empty())
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let mut body = response.into_body();
    let mut received: u64 = 0;
    while let Some(frame) = body.frame().await {
        received += frame.unwrap().data_ref().map_or(0, |d| d.len() as u64);
    }
    assert_eq!(received, BODY, "the client received every byte");

    let growth = sampler.finish();
    assert!(
        growth < MAX_GROWTH,
        "resident memory grew by {} MiB while streaming 2 × 100 MiB (limit {} MiB)",
        growth / (1024 * 1024),
        MAX_GROWTH / (1024 * 1024)
    );
}
