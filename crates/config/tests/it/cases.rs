//! Data-driven cases: a bad document, and the diagnostic it must produce (path, message
//! fragment, and hint fragment when there is one), in YAML and in JSON.

use flexgate_config::{parse_str, ConfigError, Diagnostic, SourceFormat};

/// A small valid document that cases modify.
const BASE: &str = r#"
version: 1
upstreams:
  - name: users
    targets:
      - url: http://127.0.0.1:9000
    allow_networks: ["127.0.0.0/8"]
routes:
  - name: users
    match:
      path: /users/*
    upstream: users
"#;

struct Case {
    name: &'static str,
    yaml: &'static str,
    path: &'static str,
    message: &'static str,
    hint: Option<&'static str>,
}

fn errors(text: &str, format: SourceFormat) -> Vec<Diagnostic> {
    match parse_str(text, format) {
        Ok(loaded) => panic!(
            "expected an error, loaded with warnings {:?}",
            loaded.warnings
        ),
        Err(ConfigError::Invalid { diagnostics, .. }) => diagnostics,
        Err(other) => panic!("expected Invalid, got {other}"),
    }
}

/// The same document as JSON, via a generic YAML value.
fn as_json(yaml: &str) -> String {
    let value: serde_json::Value = serde_yaml::from_str(yaml).expect("case is valid YAML");
    serde_json::to_string_pretty(&value).expect("serialize JSON")
}

fn check(case: &Case, format: SourceFormat, text: &str) {
    let diagnostics = errors(text, format);
    let found = diagnostics.iter().find(|d| {
        d.is_error()
            && d.path == case.path
            && d.message.contains(case.message)
            && case
                .hint
                .is_none_or(|h| d.hint.as_deref().is_some_and(|got| got.contains(h)))
    });
    assert!(
        found.is_some(),
        "case `{}` ({format:?}): expected error at `{}` containing `{}` (hint {:?}); got:\n{}",
        case.name,
        case.path,
        case.message,
        case.hint,
        diagnostics
            .iter()
            .map(|d| format!("  {d}"))
            .collect::<Vec<_>>()
            .join("\n")
    );
}

fn cases() -> Vec<Case> {
    vec![
        Case {
            name: "unknown key with did-you-mean",
            yaml: r#"
version: 1
upstreams:
  - name: users
    targets: [{url: "http://127.0.0.1:9000"}]
routes:
  - name: users
    match:
      pth: /users
    upstream: users
"#,
            path: "routes[0].match.pth",
            message: "unknown field `pth`",
            hint: Some("did you mean `path`?"),
        },
        Case {
            name: "unknown top-level key",
            yaml: "version: 1\nupstream: []\n",
            path: "upstream",
            message: "unknown field `upstream`",
            hint: Some("did you mean `upstreams`?"),
        },
        Case {
            name: "version 0 section in a v1 document",
            yaml: "version: 1\nproxy:\n  port: 3000\n",
            path: "proxy",
            message: "unknown field `proxy`",
            hint: Some("version 0 (proxy.yml) format"),
        },
        Case {
            name: "camelCase key from v0 habits",
            yaml: r#"
version: 1
upstreams:
  - name: users
    targets: [{url: "http://127.0.0.1:9000"}]
routes:
  - name: users
    match: {path: /users/*}
    upstream: users
    stripPrefix: true
"#,
            path: "routes[0].stripPrefix",
            message: "unknown field",
            hint: Some("did you mean `strip_prefix`?"),
        },
        Case {
            name: "misspelt enum value",
            yaml: r#"
version: 1
upstreams:
  - name: users
    targets: [{url: "http://127.0.0.1:9000"}]
    load_balancing: round_robbin
routes:
  - name: users
    match: {path: /users/*}
    upstream: users
"#,
            path: "upstreams[0].load_balancing",
            message: "unknown variant `round_robbin`",
            hint: Some("did you mean `round_robin`?"),
        },
        Case {
            name: "unknown key inside a policy",
            yaml: r#"
version: 1
upstreams:
  - name: users
    targets: [{url: "http://127.0.0.1:9000"}]
routes:
  - name: users
    match: {path: /users/*}
    upstream: users
policies:
  - type: rate_limit
    name: slow
    requests: 10
    window: 1s
    keyy: route
"#,
            path: "policies[0].keyy",
            message: "unknown field `keyy`",
            hint: Some("did you mean `key`?"),
        },
        Case {
            name: "invalid duration inside a policy",
            yaml: r#"
version: 1
upstreams:
  - name: users
    targets: [{url: "http://127.0.0.1:9000"}]
routes:
  - name: users
    match: {path: /users/*}
    upstream: users
policies:
  - type: rate_limit
    name: slow
    requests: 10
    window: 3x
"#,
            path: "policies[0].window",
            message: "unknown unit `x`",
            hint: None,
        },
        Case {
            name: "duration without unit",
            yaml: r#"
version: 1
upstreams:
  - name: users
    targets: [{url: "http://127.0.0.1:9000"}]
    timeouts:
      connect: 30
routes:
  - name: users
    match: {path: /users/*}
    upstream: users
"#,
            path: "upstreams[0].timeouts.connect",
            message: "a duration needs a unit: write `30s` or `30ms`",
            hint: None,
        },
        Case {
            name: "duration with unknown unit",
            yaml: "version: 1\nserver:\n  drain_timeout: 3x\n",
            path: "server.drain_timeout",
            message: "invalid duration `3x`: unknown unit `x`",
            hint: None,
        },
        Case {
            name: "invalid size",
            yaml: "version: 1\nserver:\n  max_request_body: 10 parsecs\n",
            path: "server.max_request_body",
            message: "invalid size `10 parsecs`",
            hint: None,
        },
        Case {
            name: "wrong type",
            yaml: "version: 1\nlisteners:\n  - name: a\n    http2: maybe\n",
            path: "listeners[0].http2",
            message: "invalid type",
            hint: None,
        },
        Case {
            name: "missing required field",
            yaml: "version: 1\nupstreams:\n  - name: users\n",
            path: "upstreams[0]",
            message: "missing field `targets`",
            hint: None,
        },
        Case {
            name: "dangling upstream",
            yaml: r#"
version: 1
upstreams:
  - name: users
    targets: [{url: "http://127.0.0.1:9000"}]
routes:
  - name: users
    match: {path: /users/*}
    upstream: user
"#,
            path: "routes[0].upstream",
            message: "unknown upstream `user`",
            hint: Some("did you mean `users`?"),
        },
        Case {
            name: "dangling policy",
            yaml: r#"
version: 1
upstreams:
  - name: users
    targets: [{url: "http://127.0.0.1:9000"}]
routes:
  - name: users
    match: {path: /users/*}
    upstream: users
    policies: [nope]
"#,
            path: "routes[0].policies[0]",
            message: "unknown policy `nope`",
            hint: None,
        },
        Case {
            name: "duplicate upstream name",
            yaml: r#"
version: 1
upstreams:
  - name: users
    targets: [{url: "http://127.0.0.1:9000"}]
  - name: users
    targets: [{url: "http://127.0.0.1:9001"}]
routes:
  - name: users
    match: {path: /users/*}
    upstream: users
"#,
            path: "upstreams[1].name",
            message: "duplicate upstream name `users`: already used by upstreams[0]",
            hint: None,
        },
        Case {
            name: "duplicate route name",
            yaml: r#"
version: 1
upstreams:
  - name: users
    targets: [{url: "http://127.0.0.1:9000"}]
routes:
  - name: users
    match: {path: /a}
    upstream: users
  - name: users
    match: {path: /b}
    upstream: users
"#,
            path: "routes[1].name",
            message: "duplicate route name `users`",
            hint: None,
        },
        Case {
            name: "shadowed route",
            yaml: r#"
version: 1
upstreams:
  - name: users
    targets: [{url: "http://127.0.0.1:9000"}]
routes:
  - name: api
    match: {path: /api/*}
    upstream: users
  - name: api-users
    match: {path: /api/users, methods: [GET]}
    upstream: users
"#,
            path: "routes[1]",
            message: "route `api-users` is shadowed by route `api` (routes[0])",
            hint: Some("give it a higher priority or move it before `api`"),
        },
        Case {
            name: "shadowed by priority",
            yaml: r#"
version: 1
upstreams:
  - name: users
    targets: [{url: "http://127.0.0.1:9000"}]
routes:
  - name: specific
    match: {path: /api/users, hosts: [a.example.com]}
    upstream: users
  - name: catch-all
    priority: 5
    match: {path: /*}
    upstream: users
"#,
            path: "routes[0]",
            message: "shadowed by route `catch-all` (routes[1])",
            hint: None,
        },
        Case {
            name: "duplicate match",
            yaml: r#"
version: 1
upstreams:
  - name: users
    targets: [{url: "http://127.0.0.1:9000"}]
routes:
  - name: one
    match: {path: /x/*, methods: [GET, POST]}
    upstream: users
  - name: two
    match: {path: /x/*, methods: [POST, GET]}
    upstream: users
"#,
            path: "routes[1]",
            message: "duplicate match",
            hint: None,
        },
        Case {
            name: "glob inside a segment",
            yaml: r#"
version: 1
upstreams:
  - name: users
    targets: [{url: "http://127.0.0.1:9000"}]
routes:
  - name: users
    match: {path: /a*b}
    upstream: users
"#,
            path: "routes[0].match.path",
            message: "`*` must be a whole segment",
            hint: Some("segment"),
        },
        Case {
            name: "lower-case method",
            yaml: r#"
version: 1
upstreams:
  - name: users
    targets: [{url: "http://127.0.0.1:9000"}]
routes:
  - name: users
    match: {path: /users/*, methods: [get]}
    upstream: users
"#,
            path: "routes[0].match.methods[0]",
            message: "not upper case",
            hint: Some("write `GET`"),
        },
        Case {
            name: "target with a path",
            yaml: r#"
version: 1
upstreams:
  - name: users
    targets: [{url: "http://127.0.0.1:9000/v1"}]
routes:
  - name: users
    match: {path: /users/*}
    upstream: users
"#,
            path: "upstreams[0].targets[0].url",
            message: "has the path `/v1`",
            hint: Some("rewrite_prefix"),
        },
        Case {
            name: "mixed schemes",
            yaml: r#"
version: 1
upstreams:
  - name: users
    targets:
      - url: http://127.0.0.1:9000
      - url: https://127.0.0.1:9001
routes:
  - name: users
    match: {path: /users/*}
    upstream: users
"#,
            path: "upstreams[0].targets[1].url",
            message: "same scheme",
            hint: None,
        },
        Case {
            name: "health timeout not below interval",
            yaml: r#"
version: 1
upstreams:
  - name: users
    targets: [{url: "http://127.0.0.1:9000"}]
    health_check: {interval: 2s, timeout: 2s}
routes:
  - name: users
    match: {path: /users/*}
    upstream: users
"#,
            path: "upstreams[0].health_check.timeout",
            message: "must be shorter than the interval",
            hint: None,
        },
        Case {
            name: "bad expected status",
            yaml: r#"
version: 1
upstreams:
  - name: users
    targets: [{url: "http://127.0.0.1:9000"}]
    health_check: {expected_status: 2xx}
routes:
  - name: users
    match: {path: /users/*}
    upstream: users
"#,
            path: "upstreams[0].health_check.expected_status",
            message: "invalid status range `2xx`",
            hint: None,
        },
        Case {
            name: "strip on exact path",
            yaml: r#"
version: 1
upstreams:
  - name: users
    targets: [{url: "http://127.0.0.1:9000"}]
routes:
  - name: users
    match: {path: /users}
    upstream: users
    strip_prefix: true
"#,
            path: "routes[0].strip_prefix",
            message: "exact path",
            hint: Some("/users/*"),
        },
        Case {
            name: "strip and rewrite together",
            yaml: r#"
version: 1
upstreams:
  - name: users
    targets: [{url: "http://127.0.0.1:9000"}]
routes:
  - name: users
    match: {path: /users/*}
    upstream: users
    strip_prefix: true
    rewrite_prefix: /v2
"#,
            path: "routes[0].rewrite_prefix",
            message: "cannot both be set",
            hint: None,
        },
        Case {
            name: "bind is not a socket address",
            yaml: "version: 1\nlisteners:\n  - name: a\n    bind: localhost:80\n",
            path: "listeners[0].bind",
            message: "is not a socket address",
            hint: Some("127.0.0.1:80"),
        },
        Case {
            name: "two listeners on one address",
            yaml: "version: 1\nlisteners:\n  - {name: a, bind: \"0.0.0.0:80\"}\n  - {name: b, bind: \"127.0.0.1:80\"}\n",
            path: "listeners[1].bind",
            message: "conflicts with listeners[0].bind",
            hint: None,
        },
        Case {
            name: "TLS listener without certificates",
            yaml: "version: 1\nlisteners:\n  - name: a\n    tls: {certificates: []}\n",
            path: "listeners[0].tls.certificates",
            message: "at least one certificate",
            hint: None,
        },
        Case {
            name: "client certificate without key",
            yaml: r#"
version: 1
upstreams:
  - name: users
    targets: [{url: "https://127.0.0.1:9000"}]
    tls: {client_cert_file: client.pem}
routes:
  - name: users
    match: {path: /users/*}
    upstream: users
"#,
            path: "upstreams[0].tls.client_cert_file",
            message: "needs `client_key_file`",
            hint: None,
        },
        Case {
            name: "wildcard host not leftmost",
            yaml: r#"
version: 1
upstreams:
  - name: users
    targets: [{url: "http://127.0.0.1:9000"}]
routes:
  - name: users
    match: {path: /users/*, hosts: ["api.*.com"]}
    upstream: users
"#,
            path: "routes[0].match.hosts[0]",
            message: "leftmost label",
            hint: None,
        },
        Case {
            name: "sampling rate above one",
            yaml: "version: 1\nobservability:\n  access_log:\n    sampling:\n      success_rate: 1.5\n",
            path: "observability.access_log.sampling.success_rate",
            message: "between 0 and 1",
            hint: None,
        },
        Case {
            name: "zero rate limit",
            yaml: r#"
version: 1
upstreams:
  - name: users
    targets: [{url: "http://127.0.0.1:9000"}]
routes:
  - name: users
    match: {path: /users/*}
    upstream: users
    policies: [none]
policies:
  - {type: rate_limit, name: none, requests: 0, window: 0s}
"#,
            path: "policies[0].requests",
            message: "at least 1",
            hint: None,
        },
        Case {
            name: "unsupported version",
            yaml: "version: 2\n",
            path: "version",
            message: "unsupported config version 2",
            hint: Some("version: 1"),
        },
        Case {
            name: "missing version in a v1 document",
            yaml: "listeners: []\n",
            path: "version",
            message: "missing `version`",
            hint: Some("version: 1"),
        },
        Case {
            name: "misspelt version key",
            yaml: "verison: 1\nserver: {}\n",
            path: "version",
            message: "missing `version`",
            hint: Some("did you mean `version`?"),
        },
    ]
}

#[test]
fn yaml_cases() {
    for case in cases() {
        check(&case, SourceFormat::Yaml, case.yaml);
    }
}

#[test]
fn json_cases() {
    for case in cases() {
        check(&case, SourceFormat::Json, &as_json(case.yaml));
    }
}

#[test]
fn the_base_document_is_valid() {
    let loaded = parse_str(BASE, SourceFormat::Yaml).expect("valid");
    assert!(loaded.warnings.is_empty(), "{:?}", loaded.warnings);
}

#[test]
fn every_problem_is_reported_at_once() {
    let text = r#"
version: 1
listeners:
  - {name: a, bind: "nope"}
upstreams:
  - name: users
    targets: []
routes:
  - name: r1
    match: {path: "users"}
    upstream: missing
  - name: r2
    match: {path: /x, methods: [get]}
    upstream: users
"#;
    let paths: Vec<String> = errors(text, SourceFormat::Yaml)
        .into_iter()
        .filter(|d| d.is_error())
        .map(|d| d.path)
        .collect();
    for expected in [
        "listeners[0].bind",
        "upstreams[0].targets",
        "routes[0].upstream",
        "routes[0].match.path",
        "routes[1].match.methods[0]",
    ] {
        assert!(
            paths.iter().any(|p| p == expected),
            "{expected} not in {paths:?}"
        );
    }
}

#[test]
fn unenforced_features_are_flagged() {
    let text = r#"
version: 1
upstreams:
  - name: users
    targets: [{url: "http://127.0.0.1:9000"}]
    circuit_breaker: {}
    limits: {max_connections: 10}
routes:
  - name: users
    match: {path: /users/*}
    upstream: users
    policies: [limit]
policies:
  - {type: rate_limit, name: limit, requests: 10, window: 1s}
"#;
    let loaded = parse_str(text, SourceFormat::Yaml).expect("loads with warnings");
    let not_enforced: Vec<&str> = loaded
        .warnings
        .iter()
        .filter(|w| {
            w.message
                .contains("not enforced by this version of the data plane yet")
        })
        .map(|w| w.path.as_str())
        .collect();
    // Circuit breakers and rate limits are enforced; the connection cap is not yet.
    assert_eq!(not_enforced, ["upstreams[0].limits.max_connections"]);
}

#[test]
fn tls_on_plain_upstream_is_a_warning() {
    let text = r#"
version: 1
upstreams:
  - name: users
    targets: [{url: "http://127.0.0.1:9000"}]
    tls: {}
routes:
  - name: users
    match: {path: /users/*}
    upstream: users
"#;
    let loaded = parse_str(text, SourceFormat::Yaml).expect("loads with a warning");
    assert!(loaded.warnings.iter().any(|w| w.path == "upstreams[0].tls"));
}

#[test]
fn enforced_policies_are_not_flagged() {
    let text = r#"
version: 1
upstreams:
  - name: users
    targets: [{url: "http://127.0.0.1:9000"}]
    allow_networks: ["127.0.0.0/8"]
routes:
  - name: users
    match: {path: /users/*}
    upstream: users
    policies: [cors, keys, tokens, rules, ips]
policies:
  - {type: cors, name: cors, allow_origins: ["https://app.example.com"]}
  - type: api_key
    name: keys
    keys: [{name: ci, sha256: "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"}]
  - {type: jwt, name: tokens, algorithms: [HS256], secret: s3cret}
  - {type: headers, name: rules, request: {set: {x-env: prod}}}
  - {type: ip_filter, name: ips, deny: ["192.0.2.0/24"]}
"#;
    let loaded = parse_str(text, SourceFormat::Yaml).expect("valid");
    assert!(loaded.warnings.is_empty(), "{:?}", loaded.warnings);
}

#[test]
fn cors_routes_must_accept_preflights() {
    let text = r#"
version: 1
upstreams:
  - name: users
    targets: [{url: "http://127.0.0.1:9000"}]
    allow_networks: ["127.0.0.0/8"]
routes:
  - name: users
    match: {path: /users/*, methods: [GET, POST]}
    upstream: users
    policies: [cors]
  - name: admin
    match: {path: /admin/*, methods: [GET, OPTIONS]}
    upstream: users
    policies: [cors]
policies:
  - {type: cors, name: cors, allow_origins: ["https://app.example.com"]}
"#;
    let loaded = parse_str(text, SourceFormat::Yaml).expect("loads with a warning");
    let paths: Vec<&str> = loaded.warnings.iter().map(|w| w.path.as_str()).collect();
    assert_eq!(paths, ["routes[0].match.methods"]);
    assert!(loaded.warnings[0].message.contains("OPTIONS"));
}
