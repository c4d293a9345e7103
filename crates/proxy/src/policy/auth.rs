//! Authentication policies: API keys and JWT.
//!
//! Both answer `401` with a `WWW-Authenticate` challenge when a request is not authenticated, log
//! the event `auth.failure` with the reason (never the credential), and by default remove the
//! credential before the request goes upstream, so a backend never sees, logs or leaks a secret
//! it did not need.

use std::borrow::Cow;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use http::header::{self, HeaderName, HeaderValue};
use http::uri::{PathAndQuery, Uri};
use http::{request, StatusCode};
use ring::digest;
use tracing::warn;

use flexgate_config::{ApiKeyPolicy, JwtPolicy};

use super::{EdgePolicy, RequestContext, Step, Verdict};
use crate::error::json_error;

mod jwt;

/// Request header naming the authenticated API-key consumer for the upstream.
const X_CONSUMER_NAME: HeaderName = HeaderName::from_static("x-consumer-name");

/// Builds an API-key policy.
pub fn build_api_key(spec: &ApiKeyPolicy) -> Result<Arc<dyn EdgePolicy>, String> {
    let header = HeaderName::from_bytes(spec.header.as_bytes())
        .map_err(|_| format!("header: `{}` is not a valid header name", spec.header))?;
    let keys = spec
        .keys
        .iter()
        .enumerate()
        .map(|(i, key)| {
            let hash = decode_hex_sha256(&key.sha256)
                .ok_or_else(|| format!("keys[{i}].sha256: not 64 hex digits"))?;
            let consumer = HeaderValue::from_str(&key.name)
                .map_err(|_| format!("keys[{i}].name: not usable as a header value"))?;
            Ok(ApiKey { hash, consumer })
        })
        .collect::<Result<Vec<_>, String>>()?;
    if keys.is_empty() {
        return Err("keys: no key is configured".into());
    }
    let mut challenge = format!("ApiKey header=\"{}\"", header.as_str());
    if let Some(param) = &spec.query_param {
        challenge.push_str(&format!(", query=\"{param}\""));
    }
    let challenge = HeaderValue::from_str(&challenge)
        .map_err(|_| "query_param: not usable in a header value".to_owned())?;
    Ok(Arc::new(ApiKeyAuth {
        name: spec.name.clone(),
        header,
        query_param: spec.query_param.clone(),
        keys,
        forward: spec.forward_credentials,
        challenge,
    }))
}

/// Builds a JWT policy.
pub fn build_jwt(spec: &JwtPolicy) -> Result<Arc<dyn EdgePolicy>, String> {
    // Fingerprinted before the keys are read: a file replaced in between looks changed at the
    // next reload and is read again, so keys are never left stale.
    let key_files = [&spec.public_key_file, &spec.jwks_file]
        .into_iter()
        .flatten()
        .map(|path| (path.clone(), file_fingerprint(path)))
        .collect();
    Ok(Arc::new(JwtAuth {
        name: spec.name.clone(),
        verifier: jwt::Verifier::build(spec)?,
        forward: spec.forward_credentials,
        key_files,
    }))
}

/// SHA-256 of a file's content; `None` when it cannot be read.
fn file_fingerprint(path: &Path) -> Option<Vec<u8>> {
    let bytes = std::fs::read(path).ok()?;
    Some(digest::digest(&digest::SHA256, &bytes).as_ref().to_vec())
}

/// Logs a refused request and builds the `401`.
fn refuse(
    ctx: &RequestContext,
    policy: &str,
    code: &'static str,
    message: &str,
    reason: &str,
    challenge: HeaderValue,
) -> Step {
    warn!(
        message = "Authentication failed.",
        event = "auth.failure",
        policy = %policy,
        route = %ctx.route,
        reason = %reason,
        client_ip = %ctx.client_ip,
        correlation_id = %ctx.correlation_id,
    );
    let mut response = json_error(
        StatusCode::UNAUTHORIZED,
        code,
        message,
        &ctx.correlation_id,
        &ctx.config_version,
    );
    response
        .headers_mut()
        .insert(header::WWW_AUTHENTICATE, challenge);
    Step::Done(Verdict::respond(response))
}

struct ApiKey {
    hash: [u8; 32],
    consumer: HeaderValue,
}

struct ApiKeyAuth {
    name: String,
    header: HeaderName,
    query_param: Option<String>,
    keys: Vec<ApiKey>,
    forward: bool,
    challenge: HeaderValue,
}

impl ApiKeyAuth {
    /// The presented key: the header first, then the query parameter.
    fn presented<'a>(&self, head: &'a request::Parts) -> Option<Cow<'a, [u8]>> {
        if let Some(value) = head.headers.get(&self.header) {
            if !value.is_empty() {
                return Some(Cow::Borrowed(value.as_bytes()));
            }
        }
        let param = self.query_param.as_deref()?;
        query_pairs(head.uri.query()?)
            .find(|(name, _)| form_decode(name) == param.as_bytes())
            .map(|(_, value)| Cow::<[u8]>::Owned(form_decode(value)))
            .filter(|value| !value.is_empty())
    }

    /// The key entry whose hash matches `key`. Every entry is compared in full, whatever matched,
    /// so the time taken says nothing about the configured hashes.
    fn find(&self, key: &[u8]) -> Option<&ApiKey> {
        let presented = digest::digest(&digest::SHA256, key);
        let mut found = None;
        for entry in &self.keys {
            if constant_time_eq(&entry.hash, presented.as_ref()) {
                found = Some(entry);
            }
        }
        found
    }
}

impl EdgePolicy for ApiKeyAuth {
    fn on_request(&self, ctx: &RequestContext, head: &mut request::Parts) -> Step {
        let Some(key) = self.presented(head) else {
            let message = format!("an API key is required (header `{}`)", self.header);
            return refuse(
                ctx,
                &self.name,
                "unauthorized",
                &message,
                "missing credentials",
                self.challenge.clone(),
            );
        };
        let Some(entry) = self.find(&key) else {
            return refuse(
                ctx,
                &self.name,
                "invalid_credentials",
                "the API key is not valid",
                "unknown API key",
                self.challenge.clone(),
            );
        };
        if !self.forward {
            head.headers.remove(&self.header);
            if let Some(param) = &self.query_param {
                if remove_query_param(&mut head.uri, param).is_err() {
                    // Never forward a credential that could not be removed.
                    return Step::Done(Verdict::respond(json_error(
                        StatusCode::BAD_REQUEST,
                        "bad_request",
                        "bad request: the query string cannot be rewritten",
                        &ctx.correlation_id,
                        &ctx.config_version,
                    )));
                }
            }
        }
        // Replaces any value the client sent, so the upstream can trust it on this route.
        head.headers.insert(X_CONSUMER_NAME, entry.consumer.clone());
        Step::Done(Verdict::next())
    }
}

struct JwtAuth {
    name: String,
    verifier: jwt::Verifier,
    forward: bool,
    /// The key files and their fingerprints when read.
    key_files: Vec<(PathBuf, Option<Vec<u8>>)>,
}

impl EdgePolicy for JwtAuth {
    /// Reused across reloads only while its key files are unchanged, so publishing a new key and
    /// reloading (SIGHUP) rotates keys without touching the config; a file that became unreadable
    /// or invalid fails the reload, and the running version keeps serving.
    fn reusable_with(&self, _config: &flexgate_config::Config) -> bool {
        self.key_files
            .iter()
            .all(|(path, read)| read.is_some() && file_fingerprint(path) == *read)
    }

    fn on_request(&self, ctx: &RequestContext, head: &mut request::Parts) -> Step {
        let token = head
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().split_once(' '))
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
            .map(|(_, token)| token.trim());
        let Some(token) = token else {
            return refuse(
                ctx,
                &self.name,
                "unauthorized",
                "a bearer token is required",
                "missing credentials",
                HeaderValue::from_static("Bearer"),
            );
        };
        if let Err(failure) = self.verifier.verify(token, unix_now()) {
            let message = match failure {
                jwt::Failure::Expired => "the bearer token has expired",
                _ => "the bearer token is not valid",
            };
            return refuse(
                ctx,
                &self.name,
                "invalid_token",
                message,
                failure.reason(),
                HeaderValue::from_static("Bearer error=\"invalid_token\""),
            );
        }
        if !self.forward {
            head.headers.remove(header::AUTHORIZATION);
        }
        Step::Done(Verdict::next())
    }
}

/// Seconds since the Unix epoch (0 if the clock is before it, which makes every `exp` pass
/// and every `nbf` fail: a broken clock is better noticed as refusals than as acceptances).
fn unix_now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

/// Equality whose running time depends only on the length, not on where bytes differ.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let mut diff = 0u8;
    for (x, y) in a.iter().zip(b) {
        diff |= x ^ y;
    }
    // Keeps the optimiser from turning the loop into an early-exit comparison.
    std::hint::black_box(diff) == 0
}

fn decode_hex_sha256(hex: &str) -> Option<[u8; 32]> {
    let bytes = hex.as_bytes();
    if bytes.len() != 64 {
        return None;
    }
    let nibble = |c: u8| match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    };
    let mut out = [0u8; 32];
    for (i, pair) in bytes.chunks_exact(2).enumerate() {
        out[i] = (nibble(pair[0])? << 4) | nibble(pair[1])?;
    }
    Some(out)
}

/// `name=value` pairs of a raw query string, still encoded.
fn query_pairs(query: &str) -> impl Iterator<Item = (&str, &str)> {
    query
        .split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| pair.split_once('=').unwrap_or((pair, "")))
}

/// Decodes `application/x-www-form-urlencoded` text (`+` is a space, `%XX` a byte); malformed
/// escapes are kept as written.
fn form_decode(text: &str) -> Vec<u8> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let hex = |c: u8| (c as char).to_digit(16).map(|d| d as u8);
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let decoded = bytes
                    .get(i + 1)
                    .zip(bytes.get(i + 2))
                    .and_then(|(&h, &l)| Some((hex(h)? << 4) | hex(l)?));
                if let Some(byte) = decoded {
                    out.push(byte);
                    i += 2;
                } else {
                    out.push(b'%');
                }
            }
            other => out.push(other),
        }
        i += 1;
    }
    out
}

/// Removes every `param` pair from the URI's query (other pairs keep their exact encoding and
/// order). Errs only if the result is not a valid URI, which cannot happen for a subset of a
/// valid query; the caller refuses the request rather than forward the credential.
fn remove_query_param(uri: &mut Uri, param: &str) -> Result<(), http::Error> {
    let Some(query) = uri.query() else {
        return Ok(());
    };
    let mut removed = false;
    let kept: Vec<&str> = query
        .split('&')
        .filter(|pair| {
            let name = pair.split_once('=').map_or(*pair, |(name, _)| name);
            let drop = form_decode(name) == param.as_bytes();
            removed |= drop;
            !drop
        })
        .collect();
    if !removed {
        return Ok(());
    }
    let path_and_query = if kept.is_empty() {
        uri.path().to_owned()
    } else {
        format!("{}?{}", uri.path(), kept.join("&"))
    };
    let mut parts = std::mem::take(uri).into_parts();
    parts.path_and_query = Some(PathAndQuery::try_from(path_and_query)?);
    *uri = Uri::from_parts(parts)?;
    Ok(())
}

#[allow(clippy::unwrap_used)]
#[cfg(test)]
mod tests {
    use super::*;
    use flexgate_config::JwtAlgorithm;

    #[test]
    fn query_parameters_are_removed_exactly() {
        let mut uri: Uri = "/a/b?x=1&api_key=s3cret&y=%2F&api%5Fkey=again"
            .parse()
            .unwrap();
        remove_query_param(&mut uri, "api_key").unwrap();
        assert_eq!(uri.to_string(), "/a/b?x=1&y=%2F");
        let mut uri: Uri = "http://h.example/p?api_key=1".parse().unwrap();
        remove_query_param(&mut uri, "api_key").unwrap();
        assert_eq!(uri.to_string(), "http://h.example/p");
        let mut untouched: Uri = "/p?a=1&&b".parse().unwrap();
        remove_query_param(&mut untouched, "api_key").unwrap();
        assert_eq!(untouched.to_string(), "/p?a=1&&b");
    }

    #[test]
    fn form_decoding() {
        assert_eq!(form_decode("a+b%41%zz%4"), b"a bA%zz%4");
    }

    #[test]
    fn hashes_and_comparison() {
        let hash = decode_hex_sha256(&"ab".repeat(32)).unwrap();
        assert_eq!(hash, [0xab; 32]);
        assert!(decode_hex_sha256("ab").is_none());
        assert!(decode_hex_sha256(&"zz".repeat(32)).is_none());
        assert!(constant_time_eq(b"same", b"same"));
        assert!(!constant_time_eq(b"same", b"sama"));
        assert!(!constant_time_eq(b"same", b"sam"));
    }

    /// Collects every event as `field=value` text.
    struct Capture(std::sync::Mutex<Vec<String>>);

    impl tracing::Subscriber for Capture {
        fn enabled(&self, _: &tracing::Metadata<'_>) -> bool {
            true
        }
        fn new_span(&self, _: &tracing::span::Attributes<'_>) -> tracing::span::Id {
            tracing::span::Id::from_u64(1)
        }
        fn record(&self, _: &tracing::span::Id, _: &tracing::span::Record<'_>) {}
        fn record_follows_from(&self, _: &tracing::span::Id, _: &tracing::span::Id) {}
        fn event(&self, event: &tracing::Event<'_>) {
            let mut line = String::new();
            event.record(
                &mut |field: &tracing::field::Field, value: &dyn std::fmt::Debug| {
                    line.push_str(&format!("{}={:?} ", field.name(), value));
                },
            );
            self.0.lock().unwrap().push(line);
        }
        fn enter(&self, _: &tracing::span::Id) {}
        fn exit(&self, _: &tracing::span::Id) {}
    }

    fn context() -> RequestContext {
        RequestContext {
            client_ip: "192.0.2.7".parse().unwrap(),
            route: Arc::from("orders"),
            correlation_id: "corr-1".into(),
            config_version: "v1".into(),
        }
    }

    fn refused_with(policy: &Arc<dyn EdgePolicy>, req: http::Request<()>) -> Vec<String> {
        let capture = Arc::new(Capture(std::sync::Mutex::new(Vec::new())));
        let (mut head, ()) = req.into_parts();
        let step = tracing::subscriber::with_default(capture.clone(), || {
            policy.on_request(&context(), &mut head)
        });
        let Step::Done(verdict) = step else {
            panic!("decided synchronously")
        };
        let response = verdict.respond.expect("refused");
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
        let lines = capture.0.lock().unwrap().clone();
        lines
    }

    #[test]
    fn failures_are_logged_with_a_reason_and_never_the_credential() {
        let key = "secret-api-key-value";
        let spec: ApiKeyPolicy = serde_json::from_value(serde_json::json!({
            "name": "keys",
            "keys": [{"name": "ci", "sha256": "ab".repeat(32)}],
        }))
        .unwrap();
        let policy = build_api_key(&spec).unwrap();
        let req = http::Request::get("/x")
            .header("x-api-key", key)
            .body(())
            .unwrap();
        let lines = refused_with(&policy, req);
        assert_eq!(lines.len(), 1, "{lines:?}");
        let line = &lines[0];
        for expected in [
            "event=\"auth.failure\"",
            "policy=keys",
            "route=orders",
            "reason=unknown API key",
            "correlation_id=corr-1",
        ] {
            assert!(line.contains(expected), "{expected} in {line}");
        }
        assert!(!line.contains(key), "{line}");

        let spec: JwtPolicy = serde_json::from_value(serde_json::json!({
            "name": "tokens", "algorithms": ["HS256"], "secret": "s3cret",
        }))
        .unwrap();
        let policy = build_jwt(&spec).unwrap();
        let token = "eyJhbGciOiJIUzI1NiJ9.eyJleHAiOjF9.c2lnbmF0dXJl";
        let req = http::Request::get("/x")
            .header("authorization", format!("Bearer {token}"))
            .body(())
            .unwrap();
        let lines = refused_with(&policy, req);
        assert!(lines[0].contains("reason=bad signature"), "{lines:?}");
        assert!(!lines[0].contains("eyJ"), "{lines:?}");
    }

    #[test]
    fn algorithms_need_their_keys() {
        let spec = JwtPolicy {
            name: "j".into(),
            algorithms: vec![JwtAlgorithm::ES256],
            secret: Some("s".into()),
            public_key_file: None,
            jwks_file: None,
            issuer: None,
            audiences: Vec::new(),
            leeway: flexgate_config::units::Duration::from_secs(0),
            forward_credentials: false,
        };
        let error = jwt::Verifier::build(&spec).err().unwrap();
        assert!(error.contains("ES256"), "{error}");
        let hs_without_secret = JwtPolicy {
            algorithms: vec![JwtAlgorithm::HS256],
            secret: None,
            ..spec
        };
        assert!(jwt::Verifier::build(&hs_without_secret).is_err());
    }
}
