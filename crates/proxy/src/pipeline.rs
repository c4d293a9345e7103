//! The request lifecycle, as ordered phases over one per-request context:
//!
//! 1. **accept**: correlation id, trace context, start time (always, even for errors); then the
//!    front end ([`crate::front`]): URI and header limits, header checks and path normalisation
//!    (414 / 431 / 400), so routing sees the normalised path;
//! 2. **route**: look the request up in the snapshot's route table (404 / 405);
//! 3. **admit**: request limits (413 by `Content-Length`; streamed bodies are cut at the limit);
//! 4. **select**: pick a healthy target of the route's upstream (503 when none);
//! 5. **forward**: rewrite the path, clean hop-by-hop headers, add forwarding headers, send with
//!    the route's timeout (502 / 504), or tunnel an `Upgrade`;
//! 6. **respond**: clean the response headers and stream the body back;
//! 7. **log**: when the response body ends (or the client goes away) the exchange is counted in
//!    the metrics and offered to the access log. This phase always runs, for every outcome.
//!
//! Every failure leaves through [`GatewayError::into_response`]. Resilience layers (retries,
//! circuit breaking, rate limits) slot in between *route* and *forward*.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Instant, SystemTime};

use bytes::Bytes;
use http::header::{self, HeaderValue};
use http::uri::PathAndQuery;
use http::{Request, Response, StatusCode, Version};
use http_body_util::{BodyExt, Either, Empty};
use hyper::body::Incoming;
use tracing::debug;

use flexgate_config::UpstreamProtocol;
use flexgate_router::{Lookup, RequestFacts};
use flexgate_telemetry::access_log::AccessRecord;

use crate::body::{Meter, MeteredBody, OnBodyEnd, ProxyBody};
use crate::error::{ErrorCode, GatewayError};
use crate::forward::{forward, retry_after_secs, Forwarded, Outgoing, OutgoingBody};
use crate::headers;
use crate::limits::{client_body_failure, ReadTimeout};
use crate::policy::{run_request_policies, RequestContext};
use crate::runtime::Shared;
use crate::snapshot::{RouteRuntime, Snapshot};
use crate::upstream::InFlight;

/// Facts about the downstream connection a request arrived on.
#[derive(Debug, Clone)]
pub struct ConnectionInfo {
    /// Listener name.
    pub listener: Arc<str>,
    /// The client's address.
    pub client_addr: SocketAddr,
    /// Whether the connection is TLS.
    pub tls: bool,
}

/// Everything the log phase needs, collected along the way.
struct Exchange {
    shared: Arc<Shared>,
    snapshot: Arc<Snapshot>,
    conn: Arc<ConnectionInfo>,
    started: Instant,
    timestamp: SystemTime,
    correlation_id: String,
    traceparent: String,
    method: http::Method,
    path_and_query: String,
    host: String,
    version: Version,
    request_headers: Vec<(String, String)>,
    route: Option<usize>,
    upstream: Option<usize>,
    target: Option<InFlight>,
    upstream_ms: Option<f64>,
    bytes_in: Arc<Meter>,
    status: u16,
    error: Option<&'static str>,
    /// Load-shedding slots held until the exchange ends.
    permits: Vec<tokio::sync::OwnedSemaphorePermit>,
    /// Counts the upstream's response body against `server.limits.max_response_body`.
    bytes_out: Option<Arc<Meter>>,
}

impl OnBodyEnd for Exchange {
    fn finish(self: Box<Self>, bytes_out: u64, complete: bool) {
        self.record(bytes_out, complete);
    }
}

impl Exchange {
    fn record(self, bytes_out: u64, complete: bool) {
        let duration = self.started.elapsed();
        let duration_ms = duration.as_secs_f64() * 1000.0;
        let bytes_in = self.bytes_in.bytes();
        self.shared.metrics.in_flight_dec();
        match self.route {
            Some(index) => self.snapshot.routes[index].metrics.record_response(
                self.status,
                duration_ms,
                bytes_in,
                bytes_out,
            ),
            None => self.shared.metrics.unrouted().record_response(
                self.status,
                duration_ms,
                bytes_in,
                bytes_out,
            ),
        }
        if let Some(code) = self.error {
            self.shared.metrics.gateway_error(code);
        }
        let error_kind = match (self.error, complete) {
            (Some(code), _) => Some(code),
            (None, false) if self.bytes_out.as_ref().is_some_and(|m| m.limit_exceeded()) => {
                Some("response_too_large")
            }
            (None, false) => Some("response_aborted"),
            (None, true) => None,
        };
        let access = &self.snapshot.access;
        let Some(sample_rate) = access
            .sampler
            .decide(self.status, duration, error_kind.is_some())
        else {
            return;
        };
        let route = self.route.map(|i| &*self.snapshot.routes[i].name);
        let upstream = self
            .upstream
            .map(|i| self.snapshot.upstreams[i].spec.name.as_str());
        let path = access.redactor.path_and_query(&self.path_and_query);
        let request_headers: Vec<(&str, std::borrow::Cow<'_, str>)> = self
            .request_headers
            .iter()
            .map(|(k, v)| (k.as_str(), access.redactor.header_value(k, v)))
            .collect();
        let client_addr = self.conn.client_addr.to_string();
        let record = AccessRecord {
            timestamp: self.timestamp,
            correlation_id: &self.correlation_id,
            traceparent: Some(&self.traceparent),
            listener: &self.conn.listener,
            route,
            upstream,
            target: self.target.as_ref().map(|t| t.target().url.as_str()),
            method: self.method.as_str(),
            path: &path,
            protocol: protocol_name(self.version),
            host: &self.host,
            status: self.status,
            duration_ms,
            upstream_duration_ms: self.upstream_ms,
            bytes_in,
            bytes_out,
            client_addr: &client_addr,
            error_kind,
            request_headers: &request_headers,
            config_version: &self.snapshot.version.version,
            sample_rate,
        };
        self.shared.access_log.log(&record);
    }
}

fn protocol_name(version: Version) -> &'static str {
    match version {
        Version::HTTP_09 => "HTTP/0.9",
        Version::HTTP_10 => "HTTP/1.0",
        Version::HTTP_2 => "HTTP/2",
        Version::HTTP_3 => "HTTP/3",
        _ => "HTTP/1.1",
    }
}

/// The host the client addressed, without port, from the URI (HTTP/2, absolute-form) or `Host`.
fn request_host(req: &Request<Incoming>) -> Option<&str> {
    let raw = req.uri().host().or_else(|| {
        req.headers()
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
    })?;
    let host = if raw.starts_with('[') {
        raw.split_inclusive(']').next().unwrap_or(raw)
    } else {
        raw.split(':').next().unwrap_or(raw)
    };
    Some(host.trim_end_matches('.'))
}

/// Handles one request. Never fails: every error becomes a gateway response.
pub async fn handle(
    shared: Arc<Shared>,
    conn: Arc<ConnectionInfo>,
    mut req: Request<Incoming>,
) -> Result<Response<ProxyBody>, Infallible> {
    // Phase 1: accept.
    let Some(snapshot) = shared.snapshot() else {
        let correlation_id = headers::correlation_id(req.headers());
        return Ok(GatewayError::NotReady.into_response(&correlation_id, "none"));
    };
    shared.metrics.in_flight_inc();
    let host = request_host(&req).unwrap_or("").to_ascii_lowercase();
    let path_and_query = req
        .uri()
        .path_and_query()
        .map(PathAndQuery::as_str)
        .unwrap_or("/")
        .to_owned();
    let request_headers = snapshot
        .access
        .include_headers
        .iter()
        .filter_map(|name| {
            req.headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(|v| (name.as_str().to_owned(), v.to_owned()))
        })
        .collect();
    let mut exchange = Exchange {
        correlation_id: headers::correlation_id(req.headers()),
        traceparent: headers::next_traceparent(req.headers()),
        shared: shared.clone(),
        snapshot: snapshot.clone(),
        conn: conn.clone(),
        started: Instant::now(),
        timestamp: SystemTime::now(),
        method: req.method().clone(),
        path_and_query,
        host,
        version: req.version(),
        request_headers,
        route: None,
        upstream: None,
        target: None,
        upstream_ms: None,
        bytes_in: Arc::new(Meter::default()),
        status: 0,
        error: None,
        permits: Vec::new(),
        bytes_out: None,
    };

    // Phase 1b: input hygiene: limits, header checks and path normalisation, before routing.
    if let Err(error) = crate::front::admit(&mut req, &snapshot.config.server.limits) {
        return Ok(fail(exchange, error));
    }

    // Phase 2: route.
    let lookup = snapshot.table.lookup(&RequestFacts {
        method: req.method(),
        host: (!exchange.host.is_empty()).then_some(exchange.host.as_str()),
        path: req.uri().path(),
        headers: req.headers(),
    });
    let route = match lookup {
        Lookup::Matched(route) => route,
        Lookup::MethodNotAllowed { allowed } => {
            return Ok(fail(exchange, GatewayError::MethodNotAllowed { allowed }));
        }
        Lookup::NotFound => return Ok(fail(exchange, GatewayError::RouteNotFound)),
    };
    exchange.route = Some(route.id.0);
    exchange.upstream = Some(route.upstream.0);
    let route_rt = &snapshot.routes[route.id.0];
    let upstream = snapshot.upstreams[route.upstream.0].clone();

    // Phase 3: admit.
    let limit = snapshot.max_request_body;
    if limit > 0 {
        let declared = req
            .headers()
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        if declared.is_some_and(|len| len > limit) {
            return Ok(fail(exchange, GatewayError::PayloadTooLarge { limit }));
        }
    }

    // Phase 3b: the route's policies (authentication, rate limits, CORS, header rules…).
    let mut policy_ctx = None;
    let mut policy_headers = Vec::new();
    if !route_rt.policies.is_empty() {
        let ctx = RequestContext {
            client_ip: snapshot
                .trusted_proxies
                .client_ip(conn.client_addr.ip(), req.headers()),
            route: route_rt.name.clone(),
            correlation_id: exchange.correlation_id.clone(),
            config_version: snapshot.version.version.clone(),
        };
        let (mut parts, body) = req.into_parts();
        let verdict = run_request_policies(&route_rt.policies, &ctx, &mut parts).await;
        req = Request::from_parts(parts, body);
        if let Some(response) = verdict.respond {
            return Ok(answer(exchange, response));
        }
        policy_headers = verdict.response_headers;
        policy_ctx = Some(ctx);
    }

    // Phase 4: load shedding. The permits live in the exchange, so a slot is held until the
    // response body has been sent.
    if let Some(shedder) = &snapshot.shedder {
        match shedder.admit().await {
            Some(permit) => exchange.permits.push(permit),
            None => {
                shared.metrics.resilience.shed_global();
                return Ok(fail(exchange, GatewayError::Overloaded));
            }
        }
    }
    if let Some(shedder) = &route_rt.guards.shedder {
        match shedder.admit().await {
            Some(permit) => exchange.permits.push(permit),
            None => {
                route_rt.guards.metrics.shed();
                return Ok(fail(exchange, GatewayError::Overloaded));
            }
        }
    }
    let guards = snapshot.guards[route.upstream.0].clone();
    if let Some(limit) = &guards.limit {
        match limit.admit().await {
            Some(permit) => exchange.permits.push(permit),
            None => {
                guards.metrics.limit_rejected();
                return Ok(fail(exchange, GatewayError::Overloaded));
            }
        }
    }

    // Phase 5: forward.
    let upgrade = req.version() == Version::HTTP_11 && headers::is_upgrade_request(req.headers());
    let downstream_upgrade = upgrade.then(|| hyper::upgrade::on(&mut req));
    let forward_path = route.rewrite_path(req.uri().path());
    let path_and_query = match req.uri().query() {
        Some(query) => format!("{forward_path}?{query}"),
        None => forward_path.into_owned(),
    };
    let (mut parts, body) = req.into_parts();
    let original_host = parts.headers.get(header::HOST).cloned();
    headers::remove_hop_by_hop(&mut parts.headers, upgrade);
    if upgrade {
        parts
            .headers
            .insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
    }
    headers::append_forwarded_for(&mut parts.headers, &conn.client_addr.ip().to_string());
    parts.headers.insert(
        headers::X_FORWARDED_PROTO,
        HeaderValue::from_static(if conn.tls { "https" } else { "http" }),
    );
    if !exchange.host.is_empty() {
        if let Ok(value) = HeaderValue::from_str(&exchange.host) {
            parts.headers.insert(headers::X_FORWARDED_HOST, value);
        }
    }
    headers::append_via(&mut parts.headers, &snapshot.via, parts.version);
    if let Ok(value) = HeaderValue::from_str(&exchange.correlation_id) {
        parts.headers.insert(headers::X_CORRELATION_ID, value);
    }
    if let Ok(value) = HeaderValue::from_str(&exchange.traceparent) {
        parts.headers.insert(headers::TRACEPARENT, value);
    }
    let version = match upstream.spec.protocol {
        // HTTP/2 carries the host in `:authority`, taken from the URI.
        UpstreamProtocol::Http2 => {
            parts.headers.remove(header::HOST);
            Version::HTTP_2
        }
        UpstreamProtocol::Http1 => Version::HTTP_11,
    };
    let preserved_host = if upstream.spec.preserve_host {
        original_host.or_else(|| HeaderValue::from_str(&exchange.host).ok())
    } else {
        None
    };
    let body = match prepare_body(
        ReadTimeout::new(
            body,
            snapshot.config.server.limits.body_read_timeout.get(),
            exchange.bytes_in.clone(),
        ),
        route_rt,
        &parts.headers,
        exchange.bytes_in.clone(),
        limit,
    )
    .await
    {
        Ok(body) => body,
        Err(error) => return Ok(fail(exchange, error)),
    };
    let outgoing = Outgoing {
        method: parts.method,
        path_and_query,
        version,
        headers: parts.headers,
        preserved_host,
        body,
    };
    let forwarded = forward(
        &upstream,
        &guards,
        route_rt,
        outgoing,
        &exchange.bytes_in,
        limit,
    )
    .await;
    let mut response = match forwarded {
        Forwarded::Response {
            response,
            target,
            upstream_ms,
        } => {
            exchange.upstream_ms = Some(upstream_ms);
            exchange.target = Some(target);
            response
        }
        Forwarded::Failed {
            error,
            target,
            upstream_ms,
        } => {
            exchange.upstream_ms = upstream_ms;
            exchange.target = target;
            return Ok(fail(exchange, error));
        }
        Forwarded::Open(open) => {
            return Ok(match &guards.fallback {
                Some(fallback) => {
                    let response = fallback_response(fallback, &exchange);
                    exchange.error = Some("circuit_open");
                    finish_with(exchange, response)
                }
                None => fail(
                    exchange,
                    GatewayError::CircuitOpen {
                        retry_after: retry_after_secs(open.retry_after),
                    },
                ),
            });
        }
    };

    // Phase 6: respond.
    let upstream_version = response.version();
    let switching = response.status() == StatusCode::SWITCHING_PROTOCOLS;
    if switching {
        if let Some(downstream) = downstream_upgrade {
            let upstream_upgrade = hyper::upgrade::on(&mut response);
            tokio::spawn(tunnel(
                downstream,
                upstream_upgrade,
                exchange.correlation_id.clone(),
            ));
        }
    }
    let headers = response.headers_mut();
    headers::remove_hop_by_hop(headers, switching);
    if switching {
        headers.insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
    }
    headers::append_via(headers, &snapshot.via, upstream_version);
    if let Ok(value) = HeaderValue::from_str(&exchange.correlation_id) {
        headers.insert(headers::X_CORRELATION_ID, value);
    }
    exchange.status = response.status().as_u16();
    let (mut parts, body) = response.into_parts();
    // A response to HEAD has no content, whatever length it announces (RFC 9110 §9.3.2), but an
    // HTTP/2 upstream may end its stream with an empty DATA frame after the headers. Passing that
    // stream on would break an HTTP/2 client's stream (the announced length is never sent) and,
    // as hyper never reads it for an HTTP/1.1 client, log the exchange as aborted.
    let body = if exchange.method == http::Method::HEAD {
        Either::Right(Empty::<Bytes>::new())
    } else {
        Either::Left(body)
    };
    if let Some(ctx) = &policy_ctx {
        for policy in &route_rt.policies {
            policy.on_response(ctx, &mut parts);
        }
    }
    for (name, value) in policy_headers {
        parts.headers.append(name, value);
    }
    // Phase 7 runs when this body ends. A body over the response limit is cut.
    let bytes_out = Arc::new(Meter::default());
    exchange.bytes_out = Some(bytes_out.clone());
    let response_limit = snapshot.config.server.limits.max_response_body.get();
    let body = MeteredBody::new(body, bytes_out, response_limit)
        .on_end(Box::new(exchange))
        .boxed();
    Ok(Response::from_parts(parts, body))
}

/// Sends a response made by a layer of the gateway (a policy) and runs the log phase for it.
fn answer(mut exchange: Exchange, response: Response<ProxyBody>) -> Response<ProxyBody> {
    exchange.error = response.extensions().get::<ErrorCode>().map(|c| c.0);
    finish_with(exchange, response)
}

/// Sends `response` and runs the log phase when its body ends.
fn finish_with(mut exchange: Exchange, response: Response<ProxyBody>) -> Response<ProxyBody> {
    exchange.status = response.status().as_u16();
    let (parts, body) = response.into_parts();
    let body = MeteredBody::new(body, Arc::new(Meter::default()), 0)
        .on_end(Box::new(exchange))
        .boxed();
    Response::from_parts(parts, body)
}

/// Answers with a gateway error and runs the log phase for it.
fn fail(exchange: Exchange, error: GatewayError) -> Response<ProxyBody> {
    if !error.detail().is_empty() {
        debug!(
            message = "Gateway error.",
            code = error.code(),
            detail = error.detail(),
            correlation_id = %exchange.correlation_id,
        );
    }
    let response =
        error.into_response(&exchange.correlation_id, &exchange.snapshot.version.version);
    answer(exchange, response)
}

/// Copies bytes both ways between an upgraded client connection and the upgraded upstream one.
async fn tunnel(
    downstream: hyper::upgrade::OnUpgrade,
    upstream: hyper::upgrade::OnUpgrade,
    correlation_id: String,
) {
    let (down, up) = match tokio::try_join!(downstream, upstream) {
        Ok(pair) => pair,
        Err(error) => {
            debug!(message = "Upgrade failed.", %error, %correlation_id);
            return;
        }
    };
    let mut down = hyper_util::rt::TokioIo::new(down);
    let mut up = hyper_util::rt::TokioIo::new(up);
    if let Err(error) = tokio::io::copy_bidirectional(&mut down, &mut up).await {
        debug!(message = "Upgraded connection closed with an error.", %error, %correlation_id);
    }
}

/// The configured answer of an open circuit breaker.
fn fallback_response(
    fallback: &flexgate_config::FallbackResponse,
    exchange: &Exchange,
) -> Response<ProxyBody> {
    let mut response = Response::new(crate::body::full(Bytes::from(fallback.body.clone())));
    *response.status_mut() =
        StatusCode::from_u16(fallback.status).unwrap_or(StatusCode::SERVICE_UNAVAILABLE);
    let headers = response.headers_mut();
    if let Ok(value) = HeaderValue::from_str(&fallback.content_type) {
        headers.insert(header::CONTENT_TYPE, value);
    }
    if let Ok(value) = HeaderValue::from_str(&exchange.correlation_id) {
        headers.insert(headers::X_CORRELATION_ID, value);
    }
    headers.insert(
        headers::X_CONFIG_VERSION,
        exchange.snapshot.version_header.clone(),
    );
    response
}

/// Turns the client's body into the forward phase's body: buffered when the route retries and
/// the body is small enough to replay, streamed otherwise. Buffering honours the body limit.
async fn prepare_body(
    body: ReadTimeout<Incoming>,
    route: &RouteRuntime,
    headers: &http::HeaderMap,
    meter: Arc<Meter>,
    limit: u64,
) -> Result<OutgoingBody, GatewayError> {
    use http_body::Body as _;
    let replay_cap = route.guards.retry.as_ref().map(|r| r.max_replay_body);
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    let metered = MeteredBody::new(body, meter.clone(), limit);
    match replay_cap {
        Some(_) if metered.is_end_stream() => Ok(OutgoingBody::Replay(Bytes::new())),
        Some(cap) if declared.is_some_and(|len| len <= cap) => {
            let collected = metered.collect().await.map_err(|e| {
                client_body_failure(&meter, limit).unwrap_or_else(|| {
                    GatewayError::BadRequest(format!("reading the request body: {e}"))
                })
            })?;
            Ok(OutgoingBody::Replay(collected.to_bytes()))
        }
        _ => Ok(OutgoingBody::Stream(Some(metered.boxed()))),
    }
}
