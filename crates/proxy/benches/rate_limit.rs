//! Cost of a local rate-limit decision at the policy level, single-threaded: framing and hashing
//! the key, the keyed limiter, and building the `RateLimit-*` headers or the `429` response.
//!
//! - `allowed`: `client_ip` keys, cycling over 10 000 clients already known, all within their
//!   limit (the common case; compare with `gcra/keyed_u64` for the limiter alone);
//! - `allowed_header_key`: the same with a `{header: x-tenant}` key, whose value is hashed;
//! - `limited`: one client far over its limit, so every request builds the `429` (the cost of a
//!   flood that is being refused).

use std::hint::black_box;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;

use criterion::{criterion_main, Criterion};
use flexgate_config::{parse_str, SourceFormat};
use flexgate_proxy::policy::{build_all, EdgePolicy, RequestContext, Step};
use flexgate_telemetry::metrics::ProxyMetrics;
use http::request;

const CLIENTS: u32 = 10_000;

/// The policy named `name` from a config holding three rate limits.
fn policy(name: &str) -> Arc<dyn EdgePolicy> {
    let text = r#"
version: 1
listeners: [{name: main, bind: "127.0.0.1:0"}]
upstreams: [{name: u, targets: [{url: "http://127.0.0.1:9"}], allow_networks: ["127.0.0.0/8"]}]
routes: [{name: r, match: {path: /}, upstream: u, policies: [wide, tenant, narrow]}]
policies:
  - {type: rate_limit, name: wide, requests: 1000000, window: 1s}
  - {type: rate_limit, name: tenant, requests: 1000000, window: 1s, key: [{header: x-tenant}]}
  - {type: rate_limit, name: narrow, requests: 1, window: 1h}
"#;
    let config = match parse_str(text, SourceFormat::Yaml) {
        Ok(loaded) => loaded.config,
        Err(e) => panic!("bench config: {e}"),
    };
    let built = match build_all(&config, &[], &ProxyMetrics::new()) {
        Ok(built) => built,
        Err(e) => panic!("bench policies: {e}"),
    };
    match built.into_iter().find(|p| p.spec.name() == name) {
        Some(p) => p.instance,
        None => panic!("no policy {name}"),
    }
}

fn context(client: u32) -> RequestContext {
    RequestContext {
        client_ip: IpAddr::V4(Ipv4Addr::from(0x0a00_0000 + client)),
        route: Arc::from("r"),
        correlation_id: "bench".into(),
        config_version: "v1".into(),
    }
}

fn head(tenant: Option<&str>) -> request::Parts {
    let mut builder = http::Request::builder().uri("/");
    if let Some(tenant) = tenant {
        builder = builder.header("x-tenant", tenant);
    }
    match builder.body(()) {
        Ok(request) => request.into_parts().0,
        Err(e) => panic!("bench request: {e}"),
    }
}

fn decide(policy: &dyn EdgePolicy, ctx: &RequestContext, head: &mut request::Parts) -> bool {
    match policy.on_request(ctx, head) {
        Step::Done(verdict) => verdict.respond.is_none(),
        Step::Pending(_) => panic!("local decisions do not wait"),
    }
}

fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("rate_limit");

    let wide = policy("wide");
    let contexts: Vec<RequestContext> = (0..CLIENTS).map(context).collect();
    let mut plain = head(None);
    for ctx in &contexts {
        decide(&*wide, ctx, &mut plain);
    }
    let mut i = 0;
    group.bench_function("allowed", |b| {
        b.iter(|| {
            i = (i + 1) % contexts.len();
            black_box(decide(&*wide, black_box(&contexts[i]), &mut plain))
        })
    });

    let tenant = policy("tenant");
    let mut heads: Vec<request::Parts> = (0..CLIENTS)
        .map(|t| head(Some(&format!("tenant-{t}"))))
        .collect();
    let one = context(1);
    for head in &mut heads {
        decide(&*tenant, &one, head);
    }
    let mut i = 0;
    group.bench_function("allowed_header_key", |b| {
        b.iter(|| {
            i = (i + 1) % heads.len();
            black_box(decide(&*tenant, &one, black_box(&mut heads[i])))
        })
    });

    let narrow = policy("narrow");
    decide(&*narrow, &one, &mut plain);
    group.bench_function("limited", |b| {
        b.iter(|| black_box(decide(&*narrow, black_box(&one), &mut plain)))
    });

    group.finish();
}

fn benches() {
    let mut c = Criterion::default().configure_from_args();
    bench(&mut c);
}

criterion_main!(benches);
