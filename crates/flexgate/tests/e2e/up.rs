//! `flexgate up`: the README's first command serves real proxied traffic.

use crate::support::{flexgate, free_port};

#[test]
fn up_serves_proxied_traffic_from_the_demo_upstream() {
    let dir = tempfile::tempdir().unwrap();
    let listen = format!("127.0.0.1:{}", free_port());
    let status = format!("127.0.0.1:{}", free_port());
    let out = flexgate()
        .args([
            "up",
            "--smoke",
            "--listen",
            &listen,
            "--status",
            &status,
            "--data-dir",
        ])
        .arg(dir.path())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "stdout: {stdout}\nstderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains(&format!("http://{listen}")),
        "prints where: {stdout}"
    );
    assert!(
        stdout.contains("-> 200 OK"),
        "shows proxied responses: {stdout}"
    );
    assert!(
        stdout.contains("\"service\":\"demo\""),
        "the body comes from the demo upstream: {stdout}"
    );
    assert!(dir.path().join("starter.yaml").exists());
}
