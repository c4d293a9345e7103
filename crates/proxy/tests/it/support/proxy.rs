//! Starting a proxy from YAML written in the test.
//!
//! Tests write only what they are about. [`parse_config`] removes the common indentation (so YAML
//! can sit indented in a raw string), replaces `${name}` placeholders (upstream URLs, file paths)
//! and fills in what every test needs but none is about, unless the test sets it itself:
//! `version: 1`, one plain listener `main` and the status listener on `127.0.0.1:0`, and a
//! disabled access log (its default, stdout, would flood the test output), and an SSRF guard
//! that allows loopback (where the test upstreams listen).

use std::net::SocketAddr;
use std::sync::Arc;

use flexgate_config::load::{parse_str, SourceFormat};
use flexgate_config::Config;
use flexgate_proxy::{ProxyHandle, StartOptions};

/// Builds a validated config from test YAML (see the module docs); panics with the validation
/// report when it is refused.
pub(crate) fn parse_config(yaml: &str, vars: &[(&str, String)]) -> Config {
    let text = config_text(yaml, vars);
    match parse_str(&text, SourceFormat::Yaml) {
        Ok(loaded) => loaded.config,
        Err(e) => panic!("test config is invalid: {e}\n---\n{text}"),
    }
}

/// The complete config text for test YAML.
pub(crate) fn config_text(yaml: &str, vars: &[(&str, String)]) -> String {
    let mut body = dedent(yaml);
    for (name, value) in vars {
        body = body.replace(&format!("${{{name}}}"), value);
    }
    assert!(
        !body.contains("${"),
        "unreplaced placeholder in test config:\n{body}"
    );
    let has = |key: &str| body.lines().any(|line| line.starts_with(key));
    let mut text = String::new();
    if !has("version:") {
        text.push_str("version: 1\n");
    }
    if !has("listeners:") {
        text.push_str("listeners:\n  - name: main\n    bind: \"127.0.0.1:0\"\n");
    }
    if !has("status:") {
        text.push_str("status:\n  bind: \"127.0.0.1:0\"\n");
    }
    if !has("observability:") {
        text.push_str("observability:\n  access_log:\n    enabled: false\n");
    }
    if !has("security:") {
        // Test upstreams listen on loopback, which the SSRF guard blocks by default.
        text.push_str("security:\n  ssrf:\n    allow_networks: [\"127.0.0.0/8\"]\n");
    }
    text.push_str(&body);
    text
}

/// Joins YAML fragments written at different indentations (a shared part and a test's own).
pub(crate) fn join_yaml(fragments: &[&str]) -> String {
    fragments.iter().map(|f| dedent(f)).collect()
}

/// Removes the indentation shared by all non-blank lines.
fn dedent(text: &str) -> String {
    let indent = text
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| l.len() - l.trim_start().len())
        .min()
        .unwrap_or(0);
    let mut out = String::new();
    for line in text.lines() {
        out.push_str(line.get(indent..).unwrap_or("").trim_end());
        out.push('\n');
    }
    out
}

/// Starts a proxy from test YAML (see the module docs).
pub(crate) async fn start_proxy(yaml: &str, vars: &[(&str, String)]) -> Arc<ProxyHandle> {
    let config = parse_config(yaml, vars);
    ProxyHandle::start(config, StartOptions::default())
        .await
        .unwrap_or_else(|e| panic!("proxy did not start: {e}"))
}

/// Addresses of a running test proxy.
pub(crate) trait ProxyExt {
    /// The address of the first traffic listener.
    fn addr(&self) -> SocketAddr;
    /// `http://<first listener><path>`.
    fn url(&self, path: &str) -> String;
    /// `http://<status listener><path>`.
    fn status_url(&self, path: &str) -> String;
}

impl ProxyExt for ProxyHandle {
    fn addr(&self) -> SocketAddr {
        self.listeners()
            .first()
            .expect("the proxy has a listener")
            .1
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr())
    }

    fn status_url(&self, path: &str) -> String {
        format!("http://{}{path}", self.status_addr())
    }
}
