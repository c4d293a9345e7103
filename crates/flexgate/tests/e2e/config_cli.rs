//! `flexgate config …`: what an operator sees for good and bad files.

use crate::support::{run, workspace_root};

#[test]
fn validate_reports_file_path_reason_and_hint_for_a_typo() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("bad.yaml");
    std::fs::write(
        &file,
        "version: 1\nupstreams:\n  - name: a\n    targets: [{url: 'http://127.0.0.1:1'}]\nroutes:\n  - name: r\n    match: {pathh: /x}\n    upstream: a\n",
    )
    .unwrap();
    let out = run(&["config", "validate", file.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2), "invalid config exits with 2");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("bad.yaml"), "names the file: {stderr}");
    assert!(
        stderr.contains("routes[0].match"),
        "names the path: {stderr}"
    );
    assert!(stderr.contains("pathh"), "names the key: {stderr}");
    assert!(stderr.contains("did you mean"), "gives a hint: {stderr}");
}

#[test]
fn validate_accepts_the_example_config() {
    let example = workspace_root().join("examples/flexgate.yaml");
    let out = run(&["config", "validate", example.to_str().unwrap()]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("valid"));
}

#[test]
fn migrate_turns_the_v0_example_into_a_valid_v1_file() {
    let dir = tempfile::tempdir().unwrap();
    let v0 = workspace_root().join("examples/v0/proxy.yml");
    let out_file = dir.path().join("migrated.yaml");
    let out = run(&[
        "config",
        "migrate",
        v0.to_str().unwrap(),
        "-o",
        out_file.to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = std::fs::read_to_string(&out_file).unwrap();
    assert!(text.contains("version: 1"), "{text}");
    let check = run(&["config", "validate", out_file.to_str().unwrap()]);
    assert!(
        check.status.success(),
        "{}",
        String::from_utf8_lossy(&check.stderr)
    );
}

#[test]
fn schema_is_json_with_the_top_level_keys() {
    let out = run(&["config", "schema"]);
    assert!(out.status.success());
    let schema: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let properties = &schema["properties"];
    for key in [
        "version",
        "listeners",
        "upstreams",
        "routes",
        "observability",
    ] {
        assert!(properties.get(key).is_some(), "schema lacks `{key}`");
    }
}

#[test]
fn diff_names_what_changed_by_entity() {
    let dir = tempfile::tempdir().unwrap();
    let base = "version: 1\nupstreams:\n  - name: a\n    targets: [{url: 'http://127.0.0.1:1'}]\nroutes:\n  - name: r\n    match: {path: /x}\n    upstream: a\n";
    let a = dir.path().join("a.yaml");
    let b = dir.path().join("b.yaml");
    std::fs::write(&a, base).unwrap();
    std::fs::write(
        &b,
        base.replace("http://127.0.0.1:1", "http://127.0.0.1:2")
            + "  - name: added\n    match: {path: /y}\n    upstream: a\n",
    )
    .unwrap();
    let out = run(&["config", "diff", a.to_str().unwrap(), b.to_str().unwrap()]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("added"), "{text}");
    assert!(text.contains("127.0.0.1:2"), "{text}");
}
