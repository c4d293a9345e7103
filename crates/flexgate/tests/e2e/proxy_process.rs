//! `flexgate proxy -c FILE` as a process: serving, reload on file change and SIGHUP, rejection of
//! a bad file while the old config keeps serving, and a clean exit on SIGTERM.

use std::net::SocketAddr;
use std::time::Duration;

use crate::support::{eventually, flexgate, free_port, get, Running};

fn config(proxy: u16, status: u16, upstream_port: u16, extra_route: &str) -> String {
    format!(
        "version: 1\nlisteners:\n  - name: main\n    bind: \"127.0.0.1:{proxy}\"\nstatus:\n  bind: \"127.0.0.1:{status}\"\nupstreams:\n  - name: demo\n    targets: [{{url: \"http://127.0.0.1:{upstream_port}\"}}]\n    allow_networks: [\"127.0.0.0/8\"]\nroutes:\n  - name: first\n    match: {{path: /first/*}}\n    upstream: demo\n    strip_prefix: true\n{extra_route}observability:\n  access_log: {{output: stderr}}\n"
    )
}

#[test]
fn proxy_reloads_rejects_bad_config_and_exits_cleanly() {
    let upstream_port = free_port();
    let mut upstream = flexgate();
    upstream.args([
        "demo-upstream",
        "--bind",
        &format!("127.0.0.1:{upstream_port}"),
        "--workers",
        "1",
    ]);
    let _upstream = Running::spawn(upstream);

    let (proxy_port, status_port) = (free_port(), free_port());
    let proxy: SocketAddr = format!("127.0.0.1:{proxy_port}").parse().unwrap();
    let status: SocketAddr = format!("127.0.0.1:{status_port}").parse().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("flexgate.yaml");
    std::fs::write(&file, config(proxy_port, status_port, upstream_port, "")).unwrap();
    let mut command = flexgate();
    command.args(["proxy", "--workers", "1", "-c"]).arg(&file);
    let mut running = Running::spawn(command);

    assert!(
        eventually(Duration::from_secs(10), || get(proxy, "/first/hello", &[])
            .is_ok_and(|r| r.status == 200)),
        "proxy serves the first route"
    );
    assert_eq!(get(proxy, "/second/x", &[]).unwrap().status, 404);

    // A valid change is picked up from the file.
    let second = "  - name: second\n    match: {path: /second/*}\n    upstream: demo\n";
    std::fs::write(
        &file,
        config(proxy_port, status_port, upstream_port, second),
    )
    .unwrap();
    assert!(
        eventually(Duration::from_secs(10), || get(proxy, "/second/x", &[])
            .is_ok_and(|r| r.status == 200)),
        "new route is live after the file changed"
    );

    // An invalid change is rejected; the previous config keeps serving.
    std::fs::write(
        &file,
        "version: 1\nroutes:\n  - name: broken\n    match: {path: /x}\n    upstream: nowhere\n",
    )
    .unwrap();
    running.signal("HUP");
    assert!(
        eventually(Duration::from_secs(10), || {
            get(status, "/health/deep", &[]).is_ok_and(|r| r.body.contains("\"success\":false"))
        }),
        "the failed reload is visible on /health/deep"
    );
    let deep = get(status, "/health/deep", &[]).unwrap();
    assert!(
        deep.body.contains("nowhere"),
        "the reason names the dangling upstream: {}",
        deep.body
    );
    assert_eq!(
        get(proxy, "/second/x", &[]).unwrap().status,
        200,
        "old config still serves"
    );
    let metrics = get(status, "/metrics", &[]).unwrap().body;
    assert!(
        metrics.contains("flexgate_config_reloads_total{result=\"failure\"} 1"),
        "{metrics}"
    );

    // SIGTERM drains and exits 0.
    running.signal("TERM");
    let exited = eventually(Duration::from_secs(10), || {
        matches!(running.0.try_wait(), Ok(Some(_)))
    });
    assert!(exited, "proxy exits after SIGTERM");
    assert!(running.0.wait().unwrap().success());
}
