//! The access log never contains credentials, and keeps everything else readable.

use crate::support::body::empty;
use crate::support::{
    fetch, http1_client, request, start_proxy, AccessLogFile, ProxyExt, TestUpstream,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secrets_in_headers_and_query_are_redacted_in_the_access_log() {
    let echo = TestUpstream::start("echo").await;
    let log = AccessLogFile::new();
    let proxy = start_proxy(
        r#"
        upstreams:
          - name: echo
            targets: [{url: "${echo}"}]
        routes:
          - name: all
            match: {path: /*}
            upstream: echo
        observability:
          access_log:
            output: "${log}"
            sampling: {success_rate: 1.0}
            include_headers: [authorization, cookie, x-api-secret, user-agent]
            redaction:
              headers: [x-api-secret]
        "#,
        &[("echo", echo.url()), ("log", log.path())],
    )
    .await;
    let secrets = [
        "Bearer-s3cr3t-b34r3r",
        "session=c00k13-v4lu3",
        "h34d3r-s3cr3t",
        "t0k3n-v4lu3",
        "4p1-k3y-v4lu3",
        "p4ssw0rd-v4lu3",
    ];

    let reply = fetch(
        &http1_client(),
        request(
            "GET",
            &proxy.url(&format!(
                "/search?q=books&token={}&page=2&api_key={}&password={}&empty=&flag",
                secrets[3], secrets[4], secrets[5]
            )),
        )
        .header("authorization", secrets[0])
        .header("cookie", secrets[1])
        .header("x-api-secret", secrets[2])
        .header("user-agent", "redaction-test/1.0")
        .body(empty())
        .unwrap(),
    )
    .await;
    assert_eq!(reply.status, 200);
    // Redaction is about the log only: the upstream still gets the credentials.
    assert_eq!(reply.json()["headers"]["authorization"], secrets[0]);

    let line = log.wait_for(&proxy, |l| l["method"] == "GET").await;
    let text = log.text(&proxy);
    for secret in secrets {
        assert!(
            !text.contains(secret),
            "`{secret}` leaked into the access log:\n{text}"
        );
    }
    assert_eq!(
        line["path"],
        "/search?q=books&token=[REDACTED]&page=2&api_key=[REDACTED]&password=[REDACTED]&empty=&flag",
        "secret query values are masked, everything else is kept as sent"
    );
    let headers = &line["request_headers"];
    assert_eq!(headers["authorization"], "[REDACTED]");
    assert_eq!(headers["cookie"], "[REDACTED]");
    assert_eq!(headers["x-api-secret"], "[REDACTED]");
    assert_eq!(headers["user-agent"], "redaction-test/1.0");
    assert_eq!(line["status"], 200);
    assert_eq!(line["route"], "all");
}
