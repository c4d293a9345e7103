//! Loading from files and text: formats, syntax errors with positions, version detection and
//! error display.

use std::path::Path;

use flexgate_config::{load_file, parse_str, ConfigError, SourceFormat};

const VALID: &str = r#"
version: 1
listeners:
  - name: tls
    bind: 0.0.0.0:8443
    tls:
      certificates:
        - cert_file: certs/server.pem
          key_file: /etc/flexgate/server.key
upstreams:
  - name: users
    targets: [{url: "https://127.0.0.1:9000"}]
    tls:
      ca_file: ca.pem
      client_cert_file: client/cert.pem
      client_key_file: client/key.pem
routes:
  - name: users
    match: {path: /users/*}
    upstream: users
"#;

#[test]
fn relative_tls_paths_follow_the_config_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("gateway.yaml");
    std::fs::write(&file, VALID).expect("write");
    let loaded = load_file(&file).expect("loads");
    let listener_tls = loaded.config.listeners[0].tls.as_ref().expect("tls");
    assert_eq!(
        listener_tls.certificates[0].cert_file,
        dir.path().join("certs/server.pem")
    );
    assert_eq!(
        listener_tls.certificates[0].key_file,
        Path::new("/etc/flexgate/server.key")
    );
    let tls = loaded.config.upstreams[0].tls.as_ref().expect("tls");
    assert_eq!(
        tls.ca_file.as_deref(),
        Some(dir.path().join("ca.pem").as_path())
    );
    assert_eq!(
        tls.client_cert_file.as_deref(),
        Some(dir.path().join("client/cert.pem").as_path())
    );
    assert_eq!(
        tls.client_key_file.as_deref(),
        Some(dir.path().join("client/key.pem").as_path())
    );

    // Parsing text leaves paths alone: there is no file to be relative to.
    let parsed = parse_str(VALID, SourceFormat::Yaml).expect("parses");
    assert_eq!(
        parsed.config.upstreams[0]
            .tls
            .as_ref()
            .and_then(|t| t.ca_file.as_deref()),
        Some(Path::new("ca.pem"))
    );
}

#[test]
fn relative_jwt_key_paths_follow_the_config_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("gateway.yaml");
    let text = r#"
version: 1
upstreams:
  - name: users
    targets: [{url: "http://127.0.0.1:9000"}]
routes:
  - {name: users, match: {path: /*}, upstream: users, policies: [tokens, other]}
policies:
  - {type: jwt, name: tokens, algorithms: [RS256], public_key_file: keys/jwt.pem, jwks_file: /etc/flexgate/jwks.json}
  - {type: jwt, name: other, algorithms: [ES256], jwks_file: jwks.json}
"#;
    std::fs::write(&file, text).expect("write");
    let loaded = load_file(&file).expect("loads");
    let jwt = |i: usize| match &loaded.config.policies[i] {
        flexgate_config::Policy::Jwt(p) => p.clone(),
        other => panic!("not a jwt policy: {other:?}"),
    };
    assert_eq!(
        jwt(0).public_key_file.as_deref(),
        Some(dir.path().join("keys/jwt.pem").as_path())
    );
    assert_eq!(
        jwt(0).jwks_file.as_deref(),
        Some(Path::new("/etc/flexgate/jwks.json"))
    );
    assert_eq!(
        jwt(1).jwks_file.as_deref(),
        Some(dir.path().join("jwks.json").as_path())
    );
}

#[test]
fn json_files_are_read_as_json() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("gateway.json");
    let value: serde_json::Value = serde_yaml::from_str(VALID).expect("yaml");
    std::fs::write(&file, serde_json::to_string(&value).expect("json")).expect("write");
    let from_json = load_file(&file).expect("loads");
    let yaml_file = dir.path().join("gateway.yaml");
    std::fs::write(&yaml_file, VALID).expect("write");
    assert_eq!(from_json, load_file(&yaml_file).expect("loads"));

    // A JSON document with a trailing comma is a syntax error in JSON mode.
    std::fs::write(&file, r#"{"version": 1,}"#).expect("write");
    assert!(matches!(load_file(&file), Err(ConfigError::Syntax { .. })));
}

#[test]
fn missing_file_is_an_io_error() {
    let err = load_file(Path::new("does/not/exist.yaml")).expect_err("fails");
    assert!(matches!(err, ConfigError::Io { .. }));
    assert!(err.to_string().contains("does/not/exist.yaml"), "{err}");
}

#[test]
fn yaml_syntax_errors_have_positions() {
    let err = parse_str("version: 1\nroutes: [\n  - a\n", SourceFormat::Yaml).expect_err("fails");
    match &err {
        ConfigError::Syntax { line, column, .. } => {
            assert!(line.is_some() && column.is_some(), "{err:?}");
        }
        other => panic!("expected a syntax error, got {other:?}"),
    }
    let err =
        parse_str("{\n  \"version\": 1\n  \"x\": 2\n}", SourceFormat::Json).expect_err("fails");
    match err {
        ConfigError::Syntax { line, .. } => assert_eq!(line, Some(3)),
        other => panic!("expected a syntax error, got {other:?}"),
    }
}

#[test]
fn type_errors_have_line_and_column() {
    let text = "version: 1\nserver:\n  drain_timeout: 3x\n";
    let err = parse_str(text, SourceFormat::Yaml).expect_err("fails");
    let d = &err.diagnostics()[0];
    assert_eq!(d.path, "server.drain_timeout");
    assert!(d.message.contains("(line 3, column"), "{d}");
}

#[test]
fn invalid_display_names_file_path_and_reason() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("bad.yaml");
    std::fs::write(
        &file,
        "version: 1\nroutes:\n  - name: r\n    match: {path: /x}\n    upstream: nowhere\n",
    )
    .expect("write");
    let err = load_file(&file).expect_err("fails");
    let text = err.to_string();
    assert!(text.contains("bad.yaml"), "{text}");
    assert!(text.contains("invalid configuration (1 error)"), "{text}");
    assert!(
        text.contains("error: routes[0].upstream: unknown upstream `nowhere`"),
        "{text}"
    );
    match err {
        ConfigError::Invalid { file: Some(f), .. } => assert_eq!(f, file),
        other => panic!("{other:?}"),
    }
}

#[test]
fn empty_and_non_mapping_documents_are_rejected() {
    for text in ["", "# only a comment\n", "[1, 2]", "just a string"] {
        let err = parse_str(text, SourceFormat::Yaml).expect_err(text);
        assert!(matches!(err, ConfigError::Invalid { .. }), "{text}: {err}");
    }
}

#[test]
fn string_version_one_gets_a_hint() {
    let err = parse_str("version: \"1\"\n", SourceFormat::Yaml).expect_err("fails");
    let d = &err.diagnostics()[0];
    assert_eq!(d.path, "version");
    assert!(d
        .hint
        .as_deref()
        .unwrap_or_default()
        .contains("without quotes"));
}

#[test]
fn v0_documents_are_detected_and_migrated() {
    let v0 = "upstreams:\n  - name: a\n    url: http://127.0.0.1:3001\nroutes:\n  - path: /a/*\n    upstream: a\n";
    for text in [v0.to_owned(), format!("version: \"1.0.0\"\n{v0}")] {
        let loaded = parse_str(&text, SourceFormat::Yaml).expect("migrates");
        assert!(loaded.migrated_from_v0);
        assert_eq!(loaded.config.version, 1);
        assert_eq!(loaded.config.routes[0].name, "a");
        let first = &loaded.warnings[0];
        assert_eq!(
            first.message,
            "version 0 (proxy.yml) format is deprecated; run `flexgate config migrate`"
        );
    }
    let loaded = parse_str("version: 1\n", SourceFormat::Yaml).expect("v1");
    assert!(!loaded.migrated_from_v0);
}

#[test]
fn invalid_v0_documents_fail_with_v1_paths() {
    let text = "upstreams:\n  - name: a\n    url: http://127.0.0.1:3001\nroutes:\n  - path: /a/*\n    upstream: b\n";
    let err = parse_str(text, SourceFormat::Yaml).expect_err("dangling upstream");
    assert!(err
        .diagnostics()
        .iter()
        .any(|d| d.is_error() && d.path == "routes[0].upstream"));
}
