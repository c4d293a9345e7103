//! Active health checks: one task per upstream that has `health_check`, probing every target with
//! a `GET` at each interval and flipping its health after the configured consecutive results.
//!
//! The task holds only a weak reference to its upstream, so it ends by itself when a reload
//! retires the upstream (a changed upstream gets a new runtime and a new task).

use std::sync::{Arc, Weak};

use http::{header, HeaderValue, Request, Uri};
use tracing::{info, warn};

use flexgate_config::HealthCheck;

use crate::body::empty;
use crate::upstream::UpstreamRuntime;

/// Parses `expected_status` (`200-399` or `204`) into an inclusive range.
fn expected_range(spec: &str) -> (u16, u16) {
    let parse = |s: &str| s.trim().parse::<u16>().ok();
    match spec.split_once('-') {
        Some((lo, hi)) => (parse(lo).unwrap_or(200), parse(hi).unwrap_or(399)),
        None => parse(spec).map(|c| (c, c)).unwrap_or((200, 399)),
    }
}

/// Starts the health-check task of an upstream, if it has a health check.
pub fn spawn(upstream: &Arc<UpstreamRuntime>) {
    let Some(check) = upstream.spec.health_check.clone() else {
        return;
    };
    for target in &upstream.targets {
        upstream
            .metrics
            .target_health(&target.url, target.is_healthy());
    }
    tokio::spawn(run(Arc::downgrade(upstream), check));
}

async fn run(upstream: Weak<UpstreamRuntime>, check: HealthCheck) {
    let (lo, hi) = expected_range(&check.expected_status);
    let mut interval = tokio::time::interval(check.interval.get());
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        interval.tick().await;
        let Some(upstream) = upstream.upgrade() else {
            return;
        };
        for target in &upstream.targets {
            let uri = Uri::builder()
                .scheme(target.scheme.clone())
                .authority(target.authority.clone())
                .path_and_query(check.path.as_str())
                .build();
            let ok = match uri {
                Ok(uri) => probe(&upstream, uri, target.authority.as_str(), &check, lo, hi).await,
                Err(_) => false,
            };
            let changed =
                target.record_check(ok, check.healthy_threshold, check.unhealthy_threshold);
            if let Some(healthy) = changed {
                upstream.metrics.target_health(&target.url, healthy);
                if healthy {
                    info!(message = "Upstream target is healthy again.", upstream = %upstream.spec.name, target = %target.url);
                } else {
                    warn!(message = "Upstream target failed its health checks.", event = "health.check_failed", upstream = %upstream.spec.name, target = %target.url);
                }
            }
        }
    }
}

async fn probe(
    upstream: &UpstreamRuntime,
    uri: Uri,
    authority: &str,
    check: &HealthCheck,
    lo: u16,
    hi: u16,
) -> bool {
    let mut request = Request::new(empty());
    *request.uri_mut() = uri;
    if upstream.spec.protocol == flexgate_config::UpstreamProtocol::Http2 {
        *request.version_mut() = http::Version::HTTP_2;
    } else if let Ok(host) = HeaderValue::from_str(authority) {
        request.headers_mut().insert(header::HOST, host);
    }
    request.headers_mut().insert(
        header::USER_AGENT,
        HeaderValue::from_static("flexgate-health-check"),
    );
    match tokio::time::timeout(check.timeout.get(), upstream.client.request(request)).await {
        Ok(Ok(response)) => {
            let status = response.status().as_u16();
            (lo..=hi).contains(&status)
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::expected_range;

    #[test]
    fn expected_status_ranges() {
        assert_eq!(expected_range("200-399"), (200, 399));
        assert_eq!(expected_range("204"), (204, 204));
    }
}
