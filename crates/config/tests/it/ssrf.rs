//! Validation against the SSRF guard: targets written as addresses the guard refuses are flagged
//! with the network to allow, and numeric host forms that parsers read differently are refused.

use flexgate_config::{parse_str, ConfigError, Diagnostic, SourceFormat};

fn doc(target: &str, upstream_extra: &str, top_extra: &str) -> String {
    format!(
        "version: 1\nupstreams:\n  - name: users\n    targets: [{{url: \"{target}\"}}]\n{upstream_extra}routes:\n  - name: users\n    match: {{path: /users/*}}\n    upstream: users\n{top_extra}"
    )
}

fn ssrf_warnings(text: &str) -> Vec<Diagnostic> {
    let loaded = parse_str(text, SourceFormat::Yaml).expect("loads");
    loaded
        .warnings
        .into_iter()
        .filter(|w| w.message.contains("SSRF guard"))
        .collect()
}

#[test]
fn blocked_literal_targets_are_flagged_with_the_network_to_allow() {
    for (target, network, allow) in [
        ("http://127.0.0.1:9000", "127.0.0.0/8", "127.0.0.1/32"),
        ("http://10.1.2.3:80", "10.0.0.0/8", "10.1.2.3/32"),
        (
            "http://169.254.169.254",
            "169.254.169.254/32",
            "169.254.169.254/32",
        ),
        ("http://[::1]:80", "::1/128", "::1/128"),
        (
            "http://[::ffff:192.168.0.1]:80",
            "192.168.0.0/16",
            "::ffff:192.168.0.1/128",
        ),
        (
            "http://localhost:8080",
            "127.0.0.0/8",
            "127.0.0.1/32, ::1/128",
        ),
    ] {
        let warnings = ssrf_warnings(&doc(target, "", ""));
        assert_eq!(warnings.len(), 1, "{target}: {warnings:?}");
        let w = &warnings[0];
        assert_eq!(w.path, "upstreams[0].targets[0].url");
        assert!(w.message.contains(network), "{target}: {}", w.message);
        assert!(w.message.contains("502 upstream_blocked"), "{}", w.message);
        let hint = w.hint.as_deref().unwrap_or_default();
        assert!(
            hint.contains(&format!("allow_networks: [{allow}]")),
            "{target}: {hint}"
        );
    }
}

#[test]
fn allowed_public_and_unguarded_targets_are_not_flagged() {
    let upstream_allow = "    allow_networks: [\"127.0.0.0/8\"]\n";
    let global_allow = "security:\n  ssrf:\n    allow_networks: [\"127.0.0.0/8\"]\n";
    let disabled = "security:\n  ssrf:\n    enabled: false\n";
    for text in [
        doc("http://127.0.0.1:9000", upstream_allow, ""),
        doc("http://127.0.0.1:9000", "", global_allow),
        doc("http://127.0.0.1:9000", "", disabled),
        doc("http://203.0.113.10:80", "", ""),
        doc("http://api.example.com", "", ""),
        // `localhost` is reachable as soon as one of its addresses is allowed.
        doc("http://localhost:80", upstream_allow, ""),
    ] {
        assert!(ssrf_warnings(&text).is_empty(), "{text}");
    }
}

#[test]
fn extra_blocked_networks_are_flagged_too() {
    let extra = "security:\n  ssrf:\n    extra_blocked_networks: [\"203.0.113.0/24\"]\n";
    let warnings = ssrf_warnings(&doc("http://203.0.113.10:80", "", extra));
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(warnings[0].message.contains("operator-blocked"));
}

#[test]
fn numeric_host_forms_are_refused() {
    for (host, canonical) in [
        ("2130706433", Some("127.0.0.1")),
        ("0177.0.0.1", Some("127.0.0.1")),
        ("0x7f.0.0.1", Some("127.0.0.1")),
        ("127.1", Some("127.0.0.1")),
        ("1.2.3.999", None),
    ] {
        let text = doc(&format!("http://{host}:9000"), "", "");
        let Err(ConfigError::Invalid { diagnostics, .. }) = parse_str(&text, SourceFormat::Yaml)
        else {
            panic!("{host} should be refused");
        };
        let error = diagnostics
            .iter()
            .find(|d| d.is_error() && d.path == "upstreams[0].targets[0].url")
            .unwrap_or_else(|| panic!("{host}: {diagnostics:?}"));
        if let Some(canonical) = canonical {
            let hint = error.hint.as_deref().unwrap_or_default();
            assert!(hint.contains(canonical), "{host}: {hint}");
        }
    }
}
