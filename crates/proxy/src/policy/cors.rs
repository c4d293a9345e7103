//! The CORS policy.
//!
//! Preflights (`OPTIONS` with `Origin` and `Access-Control-Request-Method`) are answered at the
//! edge and never reach the upstream. Other requests are forwarded; when their `Origin` is allowed
//! the CORS response headers are added to whatever answers them, including a later policy's
//! refusal (so a browser can read a 401 or 429). On routes with this policy the gateway owns CORS:
//! `Access-Control-*` headers from the upstream are dropped so a browser never sees two answers.

use std::sync::Arc;

use http::header::{self, HeaderName, HeaderValue};
use http::{request, response, HeaderMap, Method, Response, StatusCode};

use flexgate_config::CorsPolicy;

use super::{EdgePolicy, RequestContext, Step, Verdict};
use crate::error::json_error;

/// Builds a CORS policy.
pub fn build(spec: &CorsPolicy) -> Result<Arc<dyn EdgePolicy>, String> {
    Ok(Arc::new(compile(spec)?))
}

fn compile(spec: &CorsPolicy) -> Result<Cors, String> {
    let any_origin = spec.allow_origins.iter().any(|o| o == "*");
    if any_origin && spec.allow_credentials {
        return Err("`allow_credentials` cannot be combined with the `*` origin".into());
    }
    let methods = spec
        .allow_methods
        .iter()
        .map(|m| {
            Method::from_bytes(m.as_bytes()).map_err(|_| format!("`{m}` is not an HTTP method"))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let allow_headers: Vec<String> = spec
        .allow_headers
        .iter()
        .map(|h| h.trim().to_ascii_lowercase())
        .collect();
    let list = |what: &str, items: &[String]| -> Result<Option<HeaderValue>, String> {
        if items.is_empty() {
            return Ok(None);
        }
        HeaderValue::from_str(&items.join(", "))
            .map(Some)
            .map_err(|_| format!("`{what}` contains characters not allowed in a header"))
    };
    let max_age = HeaderValue::from(spec.max_age.get().as_secs());
    Ok(Cors {
        name: spec.name.clone(),
        any_origin,
        origins: spec
            .allow_origins
            .iter()
            .filter(|o| *o != "*")
            .map(|o| o.trim_end_matches('/').to_ascii_lowercase())
            .collect(),
        allow_methods_value: list("allow_methods", &spec.allow_methods)?,
        methods,
        any_header: allow_headers.iter().any(|h| h == "*"),
        allow_headers_value: list("allow_headers", &spec.allow_headers)?,
        allow_headers,
        expose_headers_value: list("expose_headers", &spec.expose_headers)?,
        credentials: spec.allow_credentials,
        max_age,
    })
}

struct Cors {
    name: String,
    any_origin: bool,
    /// Allowed origins, lower case without a trailing slash.
    origins: Vec<String>,
    methods: Vec<Method>,
    allow_methods_value: Option<HeaderValue>,
    /// Allowed request headers, lower case; `*` allows any.
    allow_headers: Vec<String>,
    any_header: bool,
    allow_headers_value: Option<HeaderValue>,
    expose_headers_value: Option<HeaderValue>,
    credentials: bool,
    max_age: HeaderValue,
}

const ALLOW_ORIGIN: HeaderName = header::ACCESS_CONTROL_ALLOW_ORIGIN;

impl Cors {
    /// Origins are compared case-insensitively: scheme and host are case-insensitive, and browsers
    /// send them in lower case anyway.
    fn allows_origin(&self, origin: &str) -> bool {
        self.any_origin || self.origins.iter().any(|o| o.eq_ignore_ascii_case(origin))
    }

    /// The `Access-Control-Allow-Origin` value for an allowed `origin`: `*` when every origin is
    /// allowed (never with credentials: [`build`] refuses that), otherwise the origin itself, which
    /// makes the answer vary by origin.
    fn allow_origin_value(&self, origin: &HeaderValue) -> HeaderValue {
        if self.any_origin {
            HeaderValue::from_static("*")
        } else {
            origin.clone()
        }
    }

    /// Whether answers differ by `Origin` (then caches must key on it).
    fn varies(&self) -> bool {
        !self.any_origin
    }

    /// Safelisted methods need no permission (the Fetch standard), so they always pass.
    fn allows_method(&self, method: &str) -> bool {
        matches!(method, "GET" | "HEAD" | "POST") || self.methods.iter().any(|m| m == method)
    }

    /// The first requested header that is not allowed, if any.
    fn refused_header<'a>(&self, requested: &'a str) -> Option<&'a str> {
        if self.any_header {
            return None;
        }
        requested
            .split(',')
            .map(str::trim)
            .filter(|h| !h.is_empty())
            .find(|h| !self.allow_headers.iter().any(|a| a.eq_ignore_ascii_case(h)))
    }

    fn preflight(
        &self,
        ctx: &RequestContext,
        headers: &HeaderMap,
        origin: &HeaderValue,
    ) -> Verdict {
        let origin_text = origin.to_str().unwrap_or("");
        let method = headers
            .get(header::ACCESS_CONTROL_REQUEST_METHOD)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .trim();
        let requested_headers = headers
            .get_all(header::ACCESS_CONTROL_REQUEST_HEADERS)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .collect::<Vec<_>>()
            .join(",");
        let refusal = if !self.allows_origin(origin_text) {
            Some("this origin is not allowed".to_owned())
        } else if !self.allows_method(method) {
            Some(format!("method `{method}` is not allowed"))
        } else {
            self.refused_header(&requested_headers)
                .map(|h| format!("request header `{h}` is not allowed"))
        };
        if let Some(message) = refusal {
            tracing::debug!(
                message = "CORS preflight refused.",
                policy = %self.name,
                route = %ctx.route,
                reason = %message,
                correlation_id = %ctx.correlation_id,
            );
            let mut response = json_error(
                StatusCode::FORBIDDEN,
                "cors_forbidden",
                &format!("CORS preflight refused: {message}"),
                &ctx.correlation_id,
                &ctx.config_version,
            );
            if self.varies() {
                response
                    .headers_mut()
                    .append(header::VARY, HeaderValue::from_static("Origin"));
            }
            return Verdict::respond(response);
        }

        let mut response = Response::new(crate::body::empty());
        *response.status_mut() = StatusCode::NO_CONTENT;
        let out = response.headers_mut();
        out.insert(ALLOW_ORIGIN, self.allow_origin_value(origin));
        if let Some(methods) = &self.allow_methods_value {
            out.insert(header::ACCESS_CONTROL_ALLOW_METHODS, methods.clone());
        }
        // Echo what was asked for (it is all allowed, checked above); with nothing asked, state
        // the configured list.
        let requested = requested_headers.trim();
        let allow_headers = if requested.is_empty() {
            self.allow_headers_value.clone()
        } else {
            HeaderValue::from_str(requested).ok()
        };
        if let Some(value) = allow_headers {
            out.insert(header::ACCESS_CONTROL_ALLOW_HEADERS, value);
        }
        out.insert(header::ACCESS_CONTROL_MAX_AGE, self.max_age.clone());
        if self.credentials {
            out.insert(
                header::ACCESS_CONTROL_ALLOW_CREDENTIALS,
                HeaderValue::from_static("true"),
            );
        }
        if self.varies() {
            out.append(header::VARY, HeaderValue::from_static("Origin"));
        }
        if let Ok(value) = HeaderValue::from_str(&ctx.correlation_id) {
            out.insert(crate::headers::X_CORRELATION_ID, value);
        }
        if let Ok(value) = HeaderValue::from_str(&ctx.config_version) {
            out.insert(crate::headers::X_CONFIG_VERSION, value);
        }
        Verdict::respond(response)
    }

    /// Headers for the response to an actual (non-preflight) request.
    fn actual(&self, origin: Option<&HeaderValue>) -> Vec<(HeaderName, HeaderValue)> {
        let mut out = Vec::with_capacity(4);
        if let Some(origin) = origin.filter(|o| self.allows_origin(o.to_str().unwrap_or(""))) {
            out.push((ALLOW_ORIGIN, self.allow_origin_value(origin)));
            if self.credentials {
                out.push((
                    header::ACCESS_CONTROL_ALLOW_CREDENTIALS,
                    HeaderValue::from_static("true"),
                ));
            }
            if let Some(expose) = &self.expose_headers_value {
                out.push((header::ACCESS_CONTROL_EXPOSE_HEADERS, expose.clone()));
            }
        }
        // Also without an (allowed) origin: a cached answer to a plain request must not be
        // served to a cross-origin one.
        if self.varies() {
            out.push((header::VARY, HeaderValue::from_static("Origin")));
        }
        out
    }
}

fn is_preflight(head: &request::Parts) -> bool {
    head.method == Method::OPTIONS
        && head.headers.contains_key(header::ORIGIN)
        && head
            .headers
            .contains_key(header::ACCESS_CONTROL_REQUEST_METHOD)
}

impl EdgePolicy for Cors {
    fn on_request(&self, ctx: &RequestContext, head: &mut request::Parts) -> Step {
        let origin = head.headers.get(header::ORIGIN);
        if let (true, Some(origin)) = (is_preflight(head), origin) {
            return Step::Done(self.preflight(ctx, &head.headers, origin));
        }
        Step::Done(Verdict {
            respond: None,
            response_headers: self.actual(origin),
        })
    }

    fn on_response(&self, _ctx: &RequestContext, head: &mut response::Parts) {
        for name in [
            header::ACCESS_CONTROL_ALLOW_ORIGIN,
            header::ACCESS_CONTROL_ALLOW_CREDENTIALS,
            header::ACCESS_CONTROL_ALLOW_METHODS,
            header::ACCESS_CONTROL_ALLOW_HEADERS,
            header::ACCESS_CONTROL_EXPOSE_HEADERS,
            header::ACCESS_CONTROL_MAX_AGE,
        ] {
            head.headers.remove(name);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(origins: &[&str], headers: &[&str]) -> Cors {
        let strings = |list: &[&str]| list.iter().map(|s| (*s).to_owned()).collect();
        compile(&CorsPolicy {
            name: "c".into(),
            allow_origins: strings(origins),
            allow_methods: strings(&["GET", "PUT"]),
            allow_headers: strings(headers),
            expose_headers: Vec::new(),
            allow_credentials: false,
            max_age: flexgate_config::units::Duration::from_secs(600),
        })
        .unwrap()
    }

    #[test]
    fn origins_methods_and_headers() {
        let cors = policy(&["https://App.example.com"], &["X-Token", "content-type"]);
        assert!(cors.allows_origin("https://app.example.com"));
        assert!(!cors.allows_origin("https://evil.example.com"));
        assert!(cors.allows_method("PUT"));
        assert!(cors.allows_method("POST"), "safelisted");
        assert!(!cors.allows_method("DELETE"));
        assert_eq!(cors.refused_header("x-token, Content-Type"), None);
        assert_eq!(cors.refused_header("x-token, x-other"), Some("x-other"));
        let any = policy(&["*"], &["*"]);
        assert!(any.allows_origin("https://anything.example"));
        assert_eq!(any.refused_header("x-whatever"), None);
        assert!(!any.varies());
    }
}
