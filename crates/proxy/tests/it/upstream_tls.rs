//! HTTPS to upstreams: a private CA is trusted only when configured.

use crate::support::body::empty;
use crate::support::tls::TestCa;
use crate::support::{fetch, http1_client, request, start_proxy, ProxyExt, TestUpstream};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upstream_signed_by_a_private_ca_needs_its_ca_file() {
    let ca = TestCa::new();
    let dir = tempfile::tempdir().unwrap();
    let ca_file = ca.write(dir.path());
    let leaf = ca.issue(&["upstream.test"], true);
    let upstream = TestUpstream::start_tls("secure", &leaf).await;
    let proxy = start_proxy(
        r#"
        upstreams:
          - name: trusted
            targets: [{url: "${secure}"}]
            tls: {ca_file: "${ca_file}"}
          # Same target, but with the system's roots, which do not know the test CA.
          - name: system-roots
            targets: [{url: "${secure}"}]
          # The certificate is checked against the configured name as well.
          - name: by-name
            targets: [{url: "${secure}"}]
            tls: {ca_file: "${ca_file}", server_name: upstream.test}
          - name: wrong-name
            targets: [{url: "${secure}"}]
            tls: {ca_file: "${ca_file}", server_name: other.test}
        routes:
          - {name: trusted, match: {path: /trusted/*}, upstream: trusted, strip_prefix: true}
          - {name: system-roots, match: {path: /system/*}, upstream: system-roots, strip_prefix: true}
          - {name: by-name, match: {path: /by-name/*}, upstream: by-name, strip_prefix: true}
          - {name: wrong-name, match: {path: /wrong-name/*}, upstream: wrong-name, strip_prefix: true}
        "#,
        &[
            ("secure", upstream.url()),
            ("ca_file", ca_file.display().to_string()),
        ],
    )
    .await;
    let client = http1_client();
    let get = |path: &str| request("GET", &proxy.url(path)).body(empty()).unwrap();

    let reply = fetch(&client, get("/trusted/hello")).await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.header("x-upstream"), "secure");
    assert_eq!(reply.json()["path"], "/hello");

    let reply = fetch(&client, get("/by-name/hello")).await;
    assert_eq!(reply.status, 200);

    for path in ["/system/hello", "/wrong-name/hello"] {
        let reply = fetch(&client, get(path)).await;
        assert_eq!(reply.status, 502, "GET {path}");
        assert_eq!(
            reply.json()["error"]["code"],
            "upstream_tls_error",
            "GET {path}"
        );
    }
}
