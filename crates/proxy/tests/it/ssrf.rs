//! The SSRF guard and routing overrides: the proxy connects only to configured targets, refuses
//! targets in internal networks unless allowed, whatever form the address is written in, and no
//! client-supplied header or request target changes where it connects.
//!
//! Every refused address here is refused before any connection attempt, so the only traffic these
//! tests cause is on loopback. Test upstreams listen on `127.0.0.1`, which is blocked by default:
//! configs that test the default set their own `security:` section, so the test starter does not
//! add its loopback allowance.

use std::sync::Arc;

use flexgate_proxy::{ProxyHandle, StartOptions};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::support::body::empty;
use crate::support::client::{collect, h2_handshake};
use crate::support::{
    closed_port, fetch, http1_client, parse_config, request, start_proxy, ProxyExt, Reply,
    TestUpstream,
};

/// `security:` that keeps the guard at its defaults (and stops the starter's loopback allowance).
const DEFAULT_GUARD: &str = "security: {ssrf: {enabled: true}}";

async fn get(proxy: &ProxyHandle, path: &str) -> Reply {
    let client = http1_client();
    fetch(
        &client,
        request("GET", &proxy.url(path)).body(empty()).unwrap(),
    )
    .await
}

fn error_code(reply: &Reply) -> String {
    reply.json()["error"]["code"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

/// A proxy with one upstream per target, each on its own route `/t<i>/*`, guard at defaults.
async fn proxy_for_targets(targets: &[String], upstream_extra: &str) -> Arc<ProxyHandle> {
    let mut yaml = String::from("upstreams:\n");
    for (i, target) in targets.iter().enumerate() {
        yaml.push_str(&format!(
            "  - name: u{i}\n    targets: [{{url: \"{target}\"}}]\n    timeouts: {{connect: 300ms}}\n{upstream_extra}"
        ));
    }
    yaml.push_str("routes:\n");
    for i in 0..targets.len() {
        yaml.push_str(&format!(
            "  - name: r{i}\n    match: {{path: /t{i}/*}}\n    upstream: u{i}\n"
        ));
    }
    yaml.push_str(DEFAULT_GUARD);
    yaml.push('\n');
    start_proxy(&yaml, &[]).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn targets_in_blocked_networks_are_refused_by_default() {
    let local = TestUpstream::start("local").await;
    let port = local.url().rsplit(':').next().unwrap().to_owned();
    let closed = closed_port();
    // One literal address in every built-in range. The loopback ones have a live server behind
    // them, which must see nothing.
    let targets: Vec<String> = [
        format!("http://127.0.0.1:{port}"),
        format!("http://localhost:{port}"),
        format!("http://[::ffff:127.0.0.1]:{port}"),
        format!("http://[::1]:{closed}"),
        "http://169.254.169.254".to_owned(),
        "http://[fd00:ec2::254]".to_owned(),
        "http://0.0.0.0:80".to_owned(),
        "http://10.0.0.1:80".to_owned(),
        "http://172.16.0.1:80".to_owned(),
        "http://192.168.1.1:80".to_owned(),
        "http://100.64.0.1:80".to_owned(),
        "http://169.254.1.1:80".to_owned(),
        "http://224.0.0.1:80".to_owned(),
        "http://255.255.255.255:80".to_owned(),
        "http://[::]:80".to_owned(),
        "http://[fc00::1]:80".to_owned(),
        "http://[fe80::1]:80".to_owned(),
        "http://[ff02::1]:80".to_owned(),
        "http://[::ffff:169.254.169.254]:80".to_owned(),
        "http://[64:ff9b::a9fe:a9fe]:80".to_owned(),
    ]
    .to_vec();
    let proxy = proxy_for_targets(&targets, "").await;
    for (i, target) in targets.iter().enumerate() {
        let reply = get(&proxy, &format!("/t{i}/latest/meta-data/")).await;
        assert_eq!(reply.status, 502, "{target}: {reply:?}");
        assert_eq!(error_code(&reply), "upstream_blocked", "{target}");
        let message = reply.json()["error"]["message"].to_string();
        assert!(
            !message.contains("127.0.0.1") && !message.contains("169.254"),
            "the client is not told internal addresses: {message}"
        );
    }
    assert_eq!(local.requests(), 0, "the loopback server was never reached");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn numeric_ipv4_host_forms_are_read_as_their_address_at_connect_time() {
    // Validation refuses these forms, so the configs are built around it: this is the connector's
    // own line of defence.
    let local = TestUpstream::start("local").await;
    let port = local.url().rsplit(':').next().unwrap().to_owned();
    let forms = [
        "2130706433",
        "0177.0.0.1",
        "0x7f.0.0.1",
        "127.1",
        "0x7f000001",
    ];
    for (allow, expected) in [(false, 502), (true, 200)] {
        let security = if allow {
            "security: {ssrf: {allow_networks: [\"127.0.0.0/8\"]}}"
        } else {
            DEFAULT_GUARD
        };
        let yaml = format!(
            "upstreams:\n  - name: u\n    targets: [{{url: \"http://127.0.0.1:{port}\"}}]\nroutes:\n  - name: r\n    match: {{path: /*}}\n    upstream: u\n{security}\n"
        );
        for form in forms {
            let mut config = parse_config(&yaml, &[]);
            config.upstreams[0].targets[0].url = format!("http://{form}:{port}");
            let proxy = ProxyHandle::start(config, StartOptions::default())
                .await
                .unwrap();
            let reply = get(&proxy, "/x").await;
            assert_eq!(reply.status, expected, "{form} (allowed: {allow})");
            if allow {
                assert_eq!(reply.header("x-upstream"), "local", "{form}");
            } else {
                assert_eq!(error_code(&reply), "upstream_blocked", "{form}");
            }
            proxy.shutdown().await;
        }
    }
    assert_eq!(
        local.requests(),
        forms.len(),
        "only the allowed runs reached the server"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn allow_networks_open_exactly_what_they_list() {
    let local = TestUpstream::start("local").await;
    let port = local.url().rsplit(':').next().unwrap().to_owned();
    let targets = vec![
        format!("http://127.0.0.1:{port}"),
        format!("http://localhost:{port}"),
        format!("http://[::ffff:127.0.0.1]:{port}"),
        "http://10.0.0.1:80".to_owned(),
        "http://169.254.169.254:80".to_owned(),
    ];
    // The upstream's own list.
    let proxy = proxy_for_targets(&targets, "    allow_networks: [\"127.0.0.0/8\"]\n").await;
    for (i, target) in targets.iter().enumerate() {
        let reply = get(&proxy, &format!("/t{i}/x")).await;
        if i < 3 {
            assert_eq!(reply.status, 200, "{target}: {reply:?}");
            assert_eq!(reply.header("x-upstream"), "local");
        } else {
            assert_eq!(reply.status, 502, "{target}");
            assert_eq!(error_code(&reply), "upstream_blocked");
        }
    }
    assert_eq!(local.requests(), 3);

    // The global list works the same way.
    let proxy = start_proxy(
        r#"
        upstreams:
          - name: u
            targets: [{url: "${local}"}]
        routes:
          - name: r
            match: {path: /*}
            upstream: u
        security:
          ssrf:
            allow_networks: ["127.0.0.1/32"]
        "#,
        &[("local", local.url())],
    )
    .await;
    assert_eq!(get(&proxy, "/x").await.status, 200);

    // And `enabled: false` turns the guard off.
    let proxy = start_proxy(
        r#"
        upstreams:
          - name: u
            targets: [{url: "${local}"}]
        routes:
          - name: r
            match: {path: /*}
            upstream: u
        security: {ssrf: {enabled: false}}
        "#,
        &[("local", local.url())],
    )
    .await;
    assert_eq!(get(&proxy, "/x").await.status, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_more_specific_of_allowed_and_blocked_networks_decides() {
    let local = TestUpstream::start("local").await;
    let port = local.url().rsplit(':').next().unwrap().to_owned();
    // Loopback is allowed, but 127.0.0.2 is blocked on top: the /32 is more specific than the
    // allowed /8, so it stays refused, while 127.0.0.1 passes.
    let proxy = start_proxy(
        r#"
        upstreams:
          - name: one
            targets: [{url: "http://127.0.0.1:${port}"}]
          - name: two
            targets: [{url: "http://127.0.0.2:${port}"}]
        routes:
          - name: one
            match: {path: /one/*}
            upstream: one
          - name: two
            match: {path: /two/*}
            upstream: two
        security:
          ssrf:
            allow_networks: ["127.0.0.0/8"]
            extra_blocked_networks: ["127.0.0.2/32"]
        "#,
        &[("port", port)],
    )
    .await;
    assert_eq!(get(&proxy, "/one/x").await.status, 200);
    let reply = get(&proxy, "/two/x").await;
    assert_eq!(reply.status, 502);
    assert_eq!(error_code(&reply), "upstream_blocked");
    assert_eq!(local.requests(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reload_that_changes_the_guard_rebuilds_the_upstream() {
    let local = TestUpstream::start("local").await;
    let yaml = |security: &str| {
        format!(
            "upstreams:\n  - name: u\n    targets: [{{url: \"{}\"}}]\nroutes:\n  - name: r\n    match: {{path: /*}}\n    upstream: u\n{security}\n",
            local.url()
        )
    };
    let allowing = "security: {ssrf: {allow_networks: [\"127.0.0.0/8\"]}}";
    let proxy = start_proxy(&yaml(allowing), &[]).await;
    assert_eq!(get(&proxy, "/x").await.status, 200);
    // Same upstream settings, only the global guard changes: the pooled connection to the
    // target must not be reused past the new rule.
    proxy
        .apply(parse_config(&yaml(DEFAULT_GUARD), &[]))
        .unwrap();
    let reply = get(&proxy, "/x").await;
    assert_eq!(reply.status, 502, "{reply:?}");
    assert_eq!(error_code(&reply), "upstream_blocked");
    proxy.apply(parse_config(&yaml(allowing), &[])).unwrap();
    assert_eq!(get(&proxy, "/x").await.status, 200);
    assert_eq!(local.requests(), 2);
}

/// Sends raw bytes on a fresh connection and returns the status code and the whole response.
async fn raw(proxy: &ProxyHandle, bytes: &[u8]) -> (u16, String) {
    let mut stream = TcpStream::connect(proxy.addr()).await.unwrap();
    stream.write_all(bytes).await.unwrap();
    let mut out = Vec::new();
    tokio::time::timeout(
        std::time::Duration::from_secs(10),
        stream.read_to_end(&mut out),
    )
    .await
    .expect("the proxy closes the connection")
    .unwrap();
    let text = String::from_utf8_lossy(&out).into_owned();
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no status line in {text:?}"));
    (status, text)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_headers_and_request_targets_never_choose_the_upstream() {
    let configured = TestUpstream::start("configured").await;
    // A second server on loopback stands for "somewhere else": nothing may reach it.
    let elsewhere = TestUpstream::start("elsewhere").await;
    let elsewhere_authority = elsewhere.url().trim_start_matches("http://").to_owned();
    let proxy = start_proxy(
        r#"
        upstreams:
          - name: configured
            targets: [{url: "${configured}"}]
        routes:
          - name: all
            match: {path: /*}
            upstream: configured
        "#,
        &[("configured", configured.url())],
    )
    .await;

    let overrides: Vec<(&str, String)> = vec![
        ("host", elsewhere_authority.clone()),
        ("host", "169.254.169.254".into()),
        ("x-forwarded-host", elsewhere_authority.clone()),
        ("x-forwarded-server", elsewhere_authority.clone()),
        ("x-host", elsewhere_authority.clone()),
        ("x-upstream", elsewhere.url()),
        ("x-upstream-host", elsewhere_authority.clone()),
        ("x-upstream-url", elsewhere.url()),
        ("x-backend", elsewhere.url()),
        ("x-original-url", "/admin".into()),
        ("x-rewrite-url", "/admin".into()),
        ("forwarded", format!("host={elsewhere_authority}")),
    ];
    let client = http1_client();
    for (name, value) in &overrides {
        let reply = fetch(
            &client,
            request("GET", &proxy.url("/probe"))
                .header(*name, value.as_str())
                .body(empty())
                .unwrap(),
        )
        .await;
        assert_eq!(reply.status, 200, "{name}: {reply:?}");
        assert_eq!(reply.header("x-upstream"), "configured", "{name}");
        let echo = reply.json();
        assert_eq!(echo["path"], "/probe", "{name} did not change the path");
        // Without `preserve_host` the target's own authority is sent.
        assert_eq!(
            echo["headers"]["host"],
            configured.url().trim_start_matches("http://"),
            "{name}"
        );
    }

    // HTTP/2 with an `:authority` naming the metadata service or the other server.
    for authority in ["169.254.169.254", elsewhere_authority.as_str()] {
        let stream = TcpStream::connect(proxy.addr()).await.unwrap();
        let mut sender = h2_handshake(stream).await;
        let response = sender
            .send_request(
                request("GET", &format!("http://{authority}/probe"))
                    .version(http::Version::HTTP_2)
                    .body(empty())
                    .unwrap(),
            )
            .await
            .unwrap();
        let reply = collect(response).await;
        assert_eq!(reply.status, 200, "{authority}");
        assert_eq!(reply.header("x-upstream"), "configured", "{authority}");
    }

    // Absolute-form targets: the host is the routing host (RFC 9112), never the destination.
    let before = configured.requests();
    for target in [
        "http://169.254.169.254/latest/meta-data/".to_owned(),
        format!("http://{elsewhere_authority}/probe"),
        "http://[::1]:1/probe".to_owned(),
    ] {
        let (status, text) = raw(
            &proxy,
            format!(
                "GET {target} HTTP/1.1\r\nHost: {elsewhere_authority}\r\nConnection: close\r\n\r\n"
            )
            .as_bytes(),
        )
        .await;
        assert_eq!(status, 200, "{target}: {text}");
        assert!(text.contains("x-upstream: configured"), "{target}: {text}");
    }
    assert_eq!(configured.requests(), before + 3);
    assert_eq!(elsewhere.requests(), 0, "nothing reached the other server");
}
