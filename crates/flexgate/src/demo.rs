//! The demo upstream: a tiny HTTP server that `flexgate up` proxies to out of the box, and the
//! benchmarks use as their fast backend. It echoes what it received as JSON, so a user sees what
//! the gateway added (correlation id, forwarding headers, rewritten path).

use std::convert::Infallible;

use bytes::Bytes;
use http::{header, HeaderValue, Request, Response};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use tokio::net::TcpListener;

/// Headers worth showing in the echo: the ones the gateway sets.
const ECHOED: [&str; 8] = [
    "host",
    "x-correlation-id",
    "x-forwarded-for",
    "x-forwarded-proto",
    "x-forwarded-host",
    "via",
    "traceparent",
    "user-agent",
];

fn answer(req: &Request<Incoming>) -> Response<Full<Bytes>> {
    let path = req.uri().path();
    let (content_type, body) = match path {
        "/health" => (
            "application/json",
            Bytes::from_static(b"{\"status\":\"ok\"}"),
        ),
        // A fixed, tiny answer: the benchmarks measure the proxy, not the echo.
        "/bench" => ("text/plain", Bytes::from_static(b"ok\n")),
        _ => {
            let headers: serde_json::Map<String, serde_json::Value> = ECHOED
                .iter()
                .filter_map(|name| {
                    req.headers()
                        .get(*name)
                        .and_then(|v| v.to_str().ok())
                        .map(|v| ((*name).to_owned(), v.into()))
                })
                .collect();
            let echo = serde_json::json!({
                "service": "demo",
                "method": req.method().as_str(),
                "path": path,
                "query": req.uri().query(),
                "headers": headers,
            });
            ("application/json", Bytes::from(echo.to_string()))
        }
    };
    let mut response = Response::new(Full::new(body));
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
}

/// Serves the demo upstream on `listener` forever.
pub async fn serve(listener: TcpListener) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let _ = stream.set_nodelay(true);
        tokio::spawn(async move {
            let service =
                service_fn(
                    |req: Request<Incoming>| async move { Ok::<_, Infallible>(answer(&req)) },
                );
            let _ = auto::Builder::new(TokioExecutor::new())
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}
