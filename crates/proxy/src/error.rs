//! Every response the gateway produces itself, from one table of stable error codes.
//!
//! Failures anywhere in the request path are classified once into a [`GatewayError`], which knows
//! its HTTP status, its stable `code` (a public contract: dashboards, alert rules and clients key on
//! it) and whether it is the gateway's or the upstream's fault. [`GatewayError::into_response`] is the
//! single exit that turns it into the BRIEF §3 JSON body.

use bytes::Bytes;
use http::{header, HeaderValue, Response, StatusCode};

use crate::body::{full, ProxyBody};

/// A failure the gateway answers itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GatewayError {
    /// No route matches the request.
    RouteNotFound,
    /// A route matches the path but not the method.
    MethodNotAllowed {
        /// Methods the matching routes accept, for the `Allow` header.
        allowed: Vec<http::Method>,
    },
    /// The request body is larger than `server.max_request_body`.
    PayloadTooLarge {
        /// The configured limit in bytes.
        limit: u64,
    },
    /// The request is malformed (for example an invalid `Host`).
    BadRequest(String),
    /// The upstream has no healthy target.
    NoHealthyTarget,
    /// The connection to the target could not be established.
    UpstreamConnect(String),
    /// The target did not answer within the timeout.
    UpstreamTimeout,
    /// The target answered with something that is not valid HTTP, or reset the stream.
    UpstreamProtocol(String),
    /// The TLS handshake with the target failed.
    UpstreamTls(String),
    /// The gateway is shutting down or not ready to route.
    NotReady,
    /// The upstream's circuit breaker is open.
    CircuitOpen {
        /// Seconds until the breaker admits a probe.
        retry_after: u64,
    },
    /// A concurrency cap (global, route or upstream) is reached and its queue is full.
    Overloaded,
    /// The SSRF guard refused every address of the target (detail: target and addresses).
    UpstreamBlocked(String),
    /// The request URI is longer than `server.limits.max_uri_length`.
    UriTooLong {
        /// The configured limit in bytes.
        limit: u64,
    },
    /// The request has more header fields than `server.limits.max_headers`.
    TooManyHeaders {
        /// The configured limit.
        limit: u32,
    },
    /// The request path is refused before routing (encoded slash, backslash, NUL, bad escape).
    InvalidPath(String),
    /// The client paused longer than `server.limits.body_read_timeout` while sending the body.
    RequestTimeout,
}

impl GatewayError {
    /// The HTTP status of the response.
    pub fn status(&self) -> StatusCode {
        match self {
            GatewayError::RouteNotFound => StatusCode::NOT_FOUND,
            GatewayError::MethodNotAllowed { .. } => StatusCode::METHOD_NOT_ALLOWED,
            GatewayError::PayloadTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            GatewayError::BadRequest(_) | GatewayError::InvalidPath(_) => StatusCode::BAD_REQUEST,
            GatewayError::UriTooLong { .. } => StatusCode::URI_TOO_LONG,
            GatewayError::TooManyHeaders { .. } => StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            GatewayError::RequestTimeout => StatusCode::REQUEST_TIMEOUT,
            GatewayError::NoHealthyTarget
            | GatewayError::NotReady
            | GatewayError::CircuitOpen { .. }
            | GatewayError::Overloaded => StatusCode::SERVICE_UNAVAILABLE,
            GatewayError::UpstreamConnect(_)
            | GatewayError::UpstreamProtocol(_)
            | GatewayError::UpstreamTls(_)
            | GatewayError::UpstreamBlocked(_) => StatusCode::BAD_GATEWAY,
            GatewayError::UpstreamTimeout => StatusCode::GATEWAY_TIMEOUT,
        }
    }

    /// The stable machine-readable code (`error.code` in the body, `error_kind` in the access log).
    pub fn code(&self) -> &'static str {
        match self {
            GatewayError::RouteNotFound => "route_not_found",
            GatewayError::MethodNotAllowed { .. } => "method_not_allowed",
            GatewayError::PayloadTooLarge { .. } => "payload_too_large",
            GatewayError::BadRequest(_) => "bad_request",
            GatewayError::NoHealthyTarget => "no_healthy_upstream",
            GatewayError::UpstreamConnect(_) => "upstream_connect_failed",
            GatewayError::UpstreamTimeout => "upstream_timeout",
            GatewayError::UpstreamProtocol(_) => "upstream_protocol_error",
            GatewayError::UpstreamTls(_) => "upstream_tls_error",
            GatewayError::NotReady => "not_ready",
            GatewayError::CircuitOpen { .. } => "circuit_open",
            GatewayError::Overloaded => "overloaded",
            GatewayError::UpstreamBlocked(_) => "upstream_blocked",
            GatewayError::UriTooLong { .. } => "uri_too_long",
            GatewayError::TooManyHeaders { .. } => "request_header_fields_too_large",
            GatewayError::InvalidPath(_) => "invalid_path",
            GatewayError::RequestTimeout => "request_timeout",
        }
    }

    /// The `error_kind` of the access log (and the `code` label of the gateway error metric):
    /// the stable code, except that a stalled request body answered `408 request_timeout` is
    /// logged as `client_body_timeout`, so that it is told apart from other timeouts.
    pub fn log_kind(&self) -> &'static str {
        match self {
            GatewayError::RequestTimeout => "client_body_timeout",
            _ => self.code(),
        }
    }

    /// The `kind` label of `flexgate_upstream_errors_total`, for failures caused by the upstream.
    pub fn upstream_error_kind(&self) -> Option<&'static str> {
        match self {
            GatewayError::UpstreamConnect(_) => Some("connect"),
            GatewayError::UpstreamTimeout => Some("timeout"),
            GatewayError::UpstreamProtocol(_) => Some("protocol"),
            GatewayError::UpstreamTls(_) => Some("tls"),
            GatewayError::NoHealthyTarget => Some("no_healthy_target"),
            GatewayError::UpstreamBlocked(_) => Some("blocked"),
            _ => None,
        }
    }

    /// A human-readable message. It never includes internal addresses: clients see the upstream's
    /// name at most, operators find the detail in the log.
    pub fn message(&self) -> String {
        match self {
            GatewayError::RouteNotFound => "no route matches this request".into(),
            GatewayError::MethodNotAllowed { allowed } => {
                let list: Vec<&str> = allowed.iter().map(http::Method::as_str).collect();
                format!("method not allowed here; allowed: {}", list.join(", "))
            }
            GatewayError::PayloadTooLarge { limit } => {
                format!("request body exceeds the limit of {limit} bytes")
            }
            GatewayError::BadRequest(why) => format!("bad request: {why}"),
            GatewayError::NoHealthyTarget => "no healthy upstream target is available".into(),
            GatewayError::UpstreamConnect(_) => "could not connect to the upstream".into(),
            GatewayError::UpstreamTimeout => "the upstream did not respond in time".into(),
            GatewayError::UpstreamProtocol(_) => "the upstream sent an invalid response".into(),
            GatewayError::UpstreamTls(_) => "TLS handshake with the upstream failed".into(),
            GatewayError::NotReady => "the gateway is not ready to serve traffic".into(),
            GatewayError::CircuitOpen { .. } => {
                "the upstream is failing; requests are paused while its circuit breaker is open"
                    .into()
            }
            GatewayError::Overloaded => "the gateway is overloaded; retry later".into(),
            GatewayError::UpstreamBlocked(_) => {
                "the upstream's address is not allowed by the gateway's network policy".into()
            }
            GatewayError::UriTooLong { limit } => {
                format!("request URI exceeds the limit of {limit} bytes")
            }
            GatewayError::TooManyHeaders { limit } => {
                format!("request has more than {limit} header fields")
            }
            GatewayError::InvalidPath(why) => format!("invalid request path: {why}"),
            GatewayError::RequestTimeout => "the request body was not received in time".into(),
        }
    }

    /// Internal detail for the log (may name addresses); empty when there is none.
    pub fn detail(&self) -> &str {
        match self {
            GatewayError::BadRequest(d)
            | GatewayError::UpstreamConnect(d)
            | GatewayError::UpstreamProtocol(d)
            | GatewayError::UpstreamTls(d)
            | GatewayError::UpstreamBlocked(d) => d,
            _ => "",
        }
    }

    /// Builds the JSON response `{"error":{"code","message"},"correlation_id"}` with the gateway's
    /// headers.
    pub fn into_response(&self, correlation_id: &str, config_version: &str) -> Response<ProxyBody> {
        let mut response = json_error(
            self.status(),
            self.code(),
            &self.message(),
            correlation_id,
            config_version,
        );
        let headers = response.headers_mut();
        if let GatewayError::MethodNotAllowed { allowed } = self {
            let list: Vec<&str> = allowed.iter().map(http::Method::as_str).collect();
            if let Ok(value) = HeaderValue::from_str(&list.join(", ")) {
                headers.insert(header::ALLOW, value);
            }
        }
        match self {
            GatewayError::NoHealthyTarget | GatewayError::NotReady | GatewayError::Overloaded => {
                headers.insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
            }
            GatewayError::CircuitOpen { retry_after } => {
                headers.insert(header::RETRY_AFTER, HeaderValue::from(*retry_after.max(&1)));
            }
            // The rest of the body will never be read: the connection cannot carry another request.
            GatewayError::RequestTimeout => {
                headers.insert(header::CONNECTION, HeaderValue::from_static("close"));
            }
            _ => {}
        }
        if self.log_kind() != self.code() {
            response.extensions_mut().insert(ErrorCode(self.log_kind()));
        }
        response
    }
}

/// The stable error code of a gateway-made response, kept in its extensions so the log phase
/// can record it whichever layer produced the response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ErrorCode(pub &'static str);

/// A gateway-made JSON error response (BRIEF §3): `{"error":{"code","message"},"correlation_id"}`
/// with `Content-Type`, `Cache-Control: no-store`, `X-Correlation-ID` and `X-Config-Version`.
/// Every layer that answers a request itself (errors, policies) goes through here.
pub fn json_error(
    status: StatusCode,
    code: &'static str,
    message: &str,
    correlation_id: &str,
    config_version: &str,
) -> Response<ProxyBody> {
    let body = serde_json::json!({
        "error": { "code": code, "message": message },
        "correlation_id": correlation_id,
    });
    let mut response = Response::new(full(Bytes::from(body.to_string())));
    *response.status_mut() = status;
    response.extensions_mut().insert(ErrorCode(code));
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    if let Ok(value) = HeaderValue::from_str(config_version) {
        headers.insert(crate::headers::X_CONFIG_VERSION, value);
    }
    if let Ok(value) = HeaderValue::from_str(correlation_id) {
        headers.insert(crate::headers::X_CORRELATION_ID, value);
    }
    response
}
