//! The status listener: `/health`, `/health/live`, `/health/ready`, `/health/deep` and
//! `/metrics`. It is separate from the traffic listeners so that probes and scrapes never compete
//! with client traffic and can be kept off the public network.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http::{header, HeaderValue, Method, Request, Response, StatusCode};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use serde_json::{json, Value};
use tokio::net::TcpListener;

use crate::body::{full, ProxyBody};
use crate::runtime::Shared;

fn unix_seconds(t: SystemTime) -> f64 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

fn json_response(status: StatusCode, body: Value) -> Response<ProxyBody> {
    let mut response = Response::new(full(Bytes::from(body.to_string())));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// Reasons the proxy cannot take traffic; empty when ready.
fn not_ready_reasons(shared: &Shared) -> Vec<&'static str> {
    let mut reasons = Vec::new();
    if shared.snapshot().is_none() {
        reasons.push("no valid configuration is active");
    }
    if shared.is_draining() {
        reasons.push("shutting down: draining connections");
    }
    reasons
}

fn version_fields(shared: &Shared) -> Value {
    match shared.snapshot() {
        Some(s) => json!({
            "version": s.version.version,
            "hash": s.version.hash,
            "loaded_at": unix_seconds(s.loaded_at),
        }),
        None => Value::Null,
    }
}

/// Answers one status request.
pub fn respond(shared: &Shared, req: &Request<Incoming>) -> Response<ProxyBody> {
    if req.method() != Method::GET && req.method() != Method::HEAD {
        return json_response(
            StatusCode::METHOD_NOT_ALLOWED,
            json!({"error": {"code": "method_not_allowed", "message": "use GET"}}),
        );
    }
    match req.uri().path() {
        "/health" => json_response(
            StatusCode::OK,
            json!({
                "status": "ok",
                "version": env!("CARGO_PKG_VERSION"),
                "config": version_fields(shared),
            }),
        ),
        "/health/live" => json_response(StatusCode::OK, json!({"status": "ok"})),
        "/health/ready" => {
            let reasons = not_ready_reasons(shared);
            if reasons.is_empty() {
                json_response(StatusCode::OK, json!({"status": "ready"}))
            } else {
                json_response(
                    StatusCode::SERVICE_UNAVAILABLE,
                    json!({"status": "not_ready", "reasons": reasons}),
                )
            }
        }
        "/health/deep" => deep(shared),
        "/metrics" => {
            let mut response = Response::new(full(Bytes::from(shared.metrics.encode())));
            response.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
            );
            response
        }
        _ => json_response(
            StatusCode::NOT_FOUND,
            json!({"error": {"code": "not_found", "message": "status endpoints: /health, /health/live, /health/ready, /health/deep, /metrics"}}),
        ),
    }
}

fn deep(shared: &Shared) -> Response<ProxyBody> {
    let reload = shared.last_reload();
    let upstreams: Vec<Value> = shared
        .snapshot()
        .map(|s| {
            s.upstreams
                .iter()
                .map(|u| {
                    let targets: Vec<Value> = u
                        .targets
                        .iter()
                        .map(|t| json!({"url": t.url, "healthy": t.is_healthy(), "in_flight": t.in_flight()}))
                        .collect();
                    let healthy = u.targets.iter().filter(|t| t.is_healthy()).count();
                    json!({
                        "name": u.spec.name,
                        "status": if healthy == 0 { "down" } else if healthy < u.targets.len() { "degraded" } else { "up" },
                        "healthy_targets": healthy,
                        "targets": targets,
                    })
                })
                .collect()
        })
        .unwrap_or_default();
    let any_down = upstreams.iter().any(|u| u["status"] == "down");
    // Services that policies depend on (the rate limits' Redis): traffic still flows through
    // their fallback, so an outage degrades health without failing readiness.
    let dependencies = shared
        .snapshot()
        .map(|s| crate::policy::dependency_health(&s.policies))
        .unwrap_or_default();
    let dependency_down = dependencies.iter().any(|(_, up)| !up);
    let reasons = not_ready_reasons(shared);
    let status = if !reasons.is_empty() {
        "not_ready"
    } else if any_down || dependency_down {
        "degraded"
    } else {
        "ok"
    };
    let code = if reasons.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let mut body = json!({
        "status": status,
        "reasons": reasons,
        "config": version_fields(shared),
        "last_reload": {
            "at": reload.at.map(unix_seconds),
            "success": reload.success,
            "error": reload.error,
        },
        "upstreams": upstreams,
    });
    for (name, up) in dependencies {
        body[name] = json!(if up { "up" } else { "degraded" });
    }
    json_response(code, body)
}

/// Serves the status listener until its task is stopped. It keeps answering while the traffic
/// listeners drain, so load balancers and operators see `/health/ready` turn 503 during shutdown.
pub async fn serve(tcp: TcpListener, shared: Arc<Shared>) {
    loop {
        let accepted = tcp.accept().await;
        let Ok((stream, _)) = accepted else {
            continue;
        };
        let shared = shared.clone();
        tokio::spawn(async move {
            let service = service_fn(move |req| {
                let response = respond(&shared, &req);
                async move { Ok::<_, Infallible>(response) }
            });
            let _ = auto::Builder::new(TokioExecutor::new())
                .http1_only()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}
