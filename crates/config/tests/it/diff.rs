//! Semantic diff: keyed by name, field-level, and aware of route evaluation order.

use flexgate_config::{diff, parse_str, render_diff, ChangeKind, Config, SourceFormat};
use serde_json::json;

fn config(text: &str) -> Config {
    parse_str(text, SourceFormat::Yaml).expect("valid").config
}

const OLD: &str = r#"
version: 1
upstreams:
  - name: users
    targets: [{url: "http://10.0.0.1:80"}]
  - name: legacy
    targets: [{url: "http://10.0.0.9:80"}]
routes:
  - name: users
    match: {path: /users/*}
    upstream: users
  - name: legacy
    match: {path: /old/*}
    upstream: legacy
    policies: [x]
policies:
  - {type: rate_limit, name: x, requests: 5, window: 1s}
"#;

const NEW: &str = r#"
version: 1
upstreams:
  - name: users
    targets: [{url: "http://10.0.0.1:80"}, {url: "http://10.0.0.2:80"}]
routes:
  - name: users-v2
    match: {path: /v2/users/*}
    upstream: users
  - name: users
    match: {path: /users/*}
    upstream: users
    timeout: 5s
"#;

#[test]
fn identical_configs_have_no_changes() {
    assert!(diff(&config(OLD), &config(OLD)).is_empty());
}

#[test]
fn changes_are_keyed_by_name() {
    let changes = diff(&config(OLD), &config(NEW));
    let find = |path: &str| {
        changes
            .iter()
            .find(|c| c.path == path)
            .unwrap_or_else(|| panic!("no change at {path}: {changes:#?}"))
    };
    assert_eq!(find("upstreams[legacy]").kind, ChangeKind::Removed);
    assert_eq!(find("routes[legacy]").kind, ChangeKind::Removed);
    assert_eq!(find("policies[x]").kind, ChangeKind::Removed);
    assert_eq!(find("routes[users-v2]").kind, ChangeKind::Added);
    let targets = find("upstreams[users].targets");
    assert_eq!(targets.kind, ChangeKind::Modified);
    assert_eq!(
        targets.after,
        Some(json!([
            {"url": "http://10.0.0.1:80", "weight": 1},
            {"url": "http://10.0.0.2:80", "weight": 1}
        ]))
    );
    let timeout = find("routes[users].timeout");
    assert_eq!(timeout.kind, ChangeKind::Added);
    assert_eq!(timeout.after, Some(json!("5s")));
    // `users` stays first among the routes both configs have, so the order did not change.
    assert!(changes.iter().all(|c| c.path != "routes"));

    let text = render_diff(&changes);
    for line in [
        "+ route users-v2",
        "- route legacy",
        "- policy x",
        "- upstream legacy",
        "+ routes[users].timeout: 5s",
        r#"~ upstreams[users].targets: [{"url":"http://10.0.0.1:80","weight":1}] -> [{"url":"http://10.0.0.1:80","weight":1},{"url":"http://10.0.0.2:80","weight":1}]"#,
    ] {
        assert!(
            text.lines().any(|l| l == line),
            "missing `{line}` in\n{text}"
        );
    }
}

#[test]
fn reordering_routes_is_reported() {
    let a = config(OLD);
    let mut b = a.clone();
    b.routes.reverse();
    let changes = diff(&a, &b);
    assert_eq!(changes.len(), 1, "{changes:#?}");
    assert_eq!(changes[0].path, "routes");
    assert_eq!(changes[0].before, Some(json!(["users", "legacy"])));
    assert_eq!(changes[0].after, Some(json!(["legacy", "users"])));
    assert_eq!(
        render_diff(&changes),
        "~ route evaluation order: users, legacy -> legacy, users\n"
    );

    // Same evaluation order through priorities: only the priority fields change.
    let mut c = b.clone();
    c.routes[1].priority = 1;
    let changes = diff(&a, &c);
    assert!(changes.iter().all(|ch| ch.path != "routes"), "{changes:#?}");
    assert!(changes.iter().any(|ch| ch.path == "routes[users].priority"));
}

#[test]
fn nested_fields_are_reported_at_their_path() {
    let a = config("version: 1\n");
    let b = config("version: 1\nserver: {drain_timeout: 5s}\nobservability: {log_level: debug}\n");
    let changes = diff(&a, &b);
    let paths: Vec<&str> = changes.iter().map(|c| c.path.as_str()).collect();
    assert_eq!(paths, ["server.drain_timeout", "observability.log_level"]);
    assert_eq!(
        render_diff(&changes),
        "~ server.drain_timeout: 30s -> 5s\n~ observability.log_level: info -> debug\n"
    );
}
