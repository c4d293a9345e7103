//! Property: any valid config survives serialization to YAML (and JSON) and parsing back.

use std::path::PathBuf;

use flexgate_config::load::to_yaml;
use flexgate_config::{
    parse_str, AccessLog, ByteSize, CertificateFiles, CircuitBreaker, Config, Duration,
    HeaderMatch, HealthCheck, Listener, ListenerTls, LoadBalancing, LogLevel, Observability,
    Policy, Pool, RateLimitKey, RateLimitPolicy, Redaction, Route, RouteMatch, Sampling, Server,
    SourceFormat, StatusListener, Target, Upstream, UpstreamProtocol, UpstreamTimeouts,
    UpstreamTls,
};
use proptest::collection::{btree_set, vec};
use proptest::option;
use proptest::prelude::*;
use proptest::sample::{select, subsequence};

/// Names, including strings YAML would read as something else if left unquoted.
fn names(min: usize, max: usize) -> impl Strategy<Value = Vec<String>> {
    let name = prop_oneof![
        select(vec![
            "yes", "no", "on", "off", "null", "true", "~", "1", "0x1F", "1e3", "-", "y", "n",
        ])
        .prop_map(str::to_owned),
        "[a-z][a-z0-9-]{0,10}",
        "[A-Za-z0-9 _.:#-]{1,12}",
    ];
    let name = name.prop_filter("names are not blank", |n: &String| !n.trim().is_empty());
    btree_set(name, min..=max).prop_map(|set| set.into_iter().collect())
}

fn duration() -> impl Strategy<Value = Duration> {
    prop_oneof![
        (1u64..100_000).prop_map(Duration::from_millis),
        (1u64..100_000).prop_map(Duration::from_secs),
        (1u64..10_000_000_000).prop_map(Duration::from_millis),
    ]
}

fn byte_size() -> impl Strategy<Value = ByteSize> {
    prop_oneof![
        any::<u64>().prop_map(ByteSize::bytes),
        (1u64..4096).prop_map(ByteSize::kib),
        (1u64..4096).prop_map(ByteSize::mib),
    ]
}

fn header_name() -> impl Strategy<Value = String> {
    "[a-zA-Z][a-zA-Z0-9-]{0,15}"
}

fn text() -> impl Strategy<Value = String> {
    // Printable text in any script, including quotes, colons and YAML indicators.
    "\\PC{0,24}"
}

fn file() -> impl Strategy<Value = PathBuf> {
    "[a-z/._-]{1,20}".prop_map(PathBuf::from)
}

fn listeners() -> impl Strategy<Value = Vec<Listener>> {
    names(1, 3).prop_flat_map(|names| {
        let n = names.len();
        (
            Just(names),
            vec(any::<bool>(), n),
            vec(
                option::of(vec(
                    (file(), file(), vec("[a-z]{1,8}\\.example\\.com", 0..3)),
                    1..3,
                )),
                n,
            ),
        )
            .prop_map(|(names, http2, tls)| {
                names
                    .into_iter()
                    .zip(http2)
                    .zip(tls)
                    .enumerate()
                    .map(|(i, ((name, http2), tls))| Listener {
                        name,
                        bind: format!("127.0.0.1:{}", 8000 + i),
                        http2,
                        tls: tls.map(|certs| ListenerTls {
                            certificates: certs
                                .into_iter()
                                .map(|(cert_file, key_file, server_names)| CertificateFiles {
                                    cert_file,
                                    key_file,
                                    server_names,
                                })
                                .collect(),
                        }),
                    })
                    .collect()
            })
    })
}

fn server() -> impl Strategy<Value = Server> {
    (
        byte_size(),
        byte_size().prop_filter("non-zero", |b| b.get() > 0),
        duration(),
        duration(),
        duration(),
        "[a-z][a-z0-9.-]{0,10}",
    )
        .prop_map(
            |(max_request_body, max_header_bytes, header_read_timeout, keepalive, drain, via)| {
                Server {
                    max_request_body,
                    max_header_bytes,
                    header_read_timeout,
                    keepalive_timeout: keepalive,
                    drain_timeout: drain,
                    via_name: via,
                    ..Server::default()
                }
            },
        )
}

fn health_check() -> impl Strategy<Value = HealthCheck> {
    (
        "/[a-z]{0,8}",
        (2u64..60_000),
        1u32..10,
        1u32..10,
        (100u16..=599, 0u16..100),
    )
        .prop_flat_map(|(path, interval, healthy, unhealthy, (lo, span))| {
            (1..interval).prop_map(move |timeout| HealthCheck {
                path: path.clone(),
                interval: Duration::from_millis(interval),
                timeout: Duration::from_millis(timeout),
                healthy_threshold: healthy,
                unhealthy_threshold: unhealthy,
                expected_status: if span == 0 {
                    lo.to_string()
                } else {
                    format!("{lo}-{}", (lo + span).min(599))
                },
            })
        })
}

fn upstream(name: String) -> impl Strategy<Value = Upstream> {
    (
        any::<bool>(),
        vec((1u16.., 0u32..10), 1..4),
        select(vec![
            LoadBalancing::RoundRobin,
            LoadBalancing::Weighted,
            LoadBalancing::LeastRequest,
        ]),
        select(vec![UpstreamProtocol::Http1, UpstreamProtocol::Http2]),
        any::<bool>(),
        (duration(), duration()),
        (any::<u32>(), duration()),
        option::of(health_check()),
        option::of((
            option::of(file()),
            option::of("[a-z]{1,8}\\.internal"),
            any::<bool>(),
        )),
        option::of((1u32..=100, 1u32..100, duration(), duration(), 1u32..10)),
    )
        .prop_map(
            move |(
                https,
                targets,
                lb,
                protocol,
                preserve_host,
                (connect, request),
                pool,
                hc,
                tls,
                cb,
            )| {
                let scheme = if https { "https" } else { "http" };
                Upstream {
                    name: name.clone(),
                    targets: targets
                        .into_iter()
                        .enumerate()
                        .map(|(i, (port, weight))| Target {
                            url: format!("{scheme}://backend-{i}.example.com:{port}"),
                            // At least one target keeps a weight, so weighted balancing can pick one.
                            weight: if i == 0 { weight.max(1) } else { weight },
                        })
                        .collect(),
                    load_balancing: lb,
                    protocol,
                    preserve_host,
                    timeouts: UpstreamTimeouts { connect, request },
                    pool: Pool {
                        max_idle_per_target: pool.0,
                        idle_timeout: pool.1,
                    },
                    health_check: hc,
                    // TLS only on https upstreams, with a complete client pair or none.
                    tls: tls
                        .filter(|_| https)
                        .map(|(ca_file, server_name, mtls)| UpstreamTls {
                            ca_file,
                            server_name,
                            client_cert_file: mtls.then(|| PathBuf::from("client.pem")),
                            client_key_file: mtls.then(|| PathBuf::from("client.key")),
                        }),
                    circuit_breaker: cb.map(|(rate, min, window, open, half)| CircuitBreaker {
                        failure_rate_threshold: rate,
                        minimum_requests: min,
                        window,
                        open_duration: open,
                        max_open_duration: open,
                        half_open_requests: half,
                        ..CircuitBreaker::default()
                    }),
                    outlier_detection: None,
                    limits: Default::default(),
                    allow_networks: Vec::new(),
                }
            },
        )
}

/// A path pattern whose first segment is unique to route `i`, so no route shadows another.
fn path_pattern(i: usize) -> impl Strategy<Value = (String, bool)> {
    (
        vec(prop_oneof!["[a-z0-9._~-]{1,6}", Just("*".to_owned())], 0..3),
        any::<bool>(),
    )
        .prop_map(move |(rest, prefix)| {
            let mut path = format!("/route{i}");
            for segment in &rest {
                path.push('/');
                path.push_str(segment);
            }
            if prefix {
                path.push_str("/*");
            }
            let has_glob = prefix || rest.iter().any(|s| s == "*");
            (path, has_glob)
        })
}

fn route(
    i: usize,
    name: String,
    upstreams: Vec<String>,
    policies: Vec<String>,
) -> impl Strategy<Value = Route> {
    let n_policies = policies.len();
    (
        path_pattern(i),
        subsequence(vec!["GET", "HEAD", "POST", "PUT", "DELETE", "PATCH"], 0..4),
        vec(
            prop_oneof!["[a-z]{1,8}\\.example\\.com", "\\*\\.[a-z]{1,8}\\.com"],
            0..3,
        ),
        vec((header_name(), option::of(text())), 0..3),
        -5i32..5,
        select(upstreams),
        (0u8..3, "/[a-z0-9/]{0,10}"),
        option::of(duration()),
        subsequence(policies, 0..=n_policies),
    )
        .prop_map(
            move |(
                (path, has_glob),
                methods,
                hosts,
                headers,
                priority,
                upstream,
                (rewrite, prefix),
                timeout,
                policies,
            )| {
                Route {
                    name: name.clone(),
                    matcher: RouteMatch {
                        path,
                        methods: methods.into_iter().map(str::to_owned).collect(),
                        hosts,
                        headers: headers
                            .into_iter()
                            .map(|(name, value)| HeaderMatch { name, value })
                            .collect(),
                    },
                    priority,
                    upstream,
                    strip_prefix: has_glob && rewrite == 1,
                    rewrite_prefix: (has_glob && rewrite == 2).then_some(prefix),
                    timeout,
                    policies,
                    retries: None,
                    max_concurrent_requests: None,
                }
            },
        )
}

fn observability() -> impl Strategy<Value = Observability> {
    (
        select(vec![
            LogLevel::Error,
            LogLevel::Warn,
            LogLevel::Info,
            LogLevel::Debug,
            LogLevel::Trace,
        ]),
        any::<bool>(),
        prop_oneof![
            Just("stdout".to_owned()),
            Just("stderr".to_owned()),
            "/var/log/[a-z]{1,8}\\.log"
        ],
        prop_oneof![Just(0.0), Just(1.0), 0.0f64..=1.0],
        duration(),
        vec(header_name(), 0..3),
        vec(header_name(), 0..3),
        vec("[a-zA-Z_]{1,10}", 0..3),
    )
        .prop_map(
            |(log_level, enabled, output, success_rate, slow, include, headers, params)| {
                Observability {
                    log_level,
                    access_log: AccessLog {
                        enabled,
                        output,
                        sampling: Sampling {
                            success_rate,
                            slow_threshold: slow,
                        },
                        include_headers: include,
                        redaction: Redaction {
                            headers,
                            query_params: params,
                        },
                    },
                }
            },
        )
}

fn config() -> impl Strategy<Value = Config> {
    (names(1, 4), names(0, 3), names(0, 5))
        .prop_flat_map(|(upstream_names, policy_names, route_names)| {
            let upstreams: Vec<_> = upstream_names.iter().cloned().map(upstream).collect();
            let routes: Vec<_> = route_names
                .iter()
                .cloned()
                .enumerate()
                .map(|(i, name)| route(i, name, upstream_names.clone(), policy_names.clone()))
                .collect();
            let policies: Vec<_> = policy_names
                .iter()
                .cloned()
                .map(|name| {
                    (
                        1u32..10_000,
                        duration(),
                        select(vec![RateLimitKey::ClientIp, RateLimitKey::Route]),
                        option::of(text()),
                    )
                        .prop_map(move |(requests, window, key, message)| {
                            Policy::RateLimit(RateLimitPolicy {
                                name: name.clone(),
                                requests,
                                window,
                                key: vec![key],
                                burst: 0,
                                mode: Default::default(),
                                message,
                            })
                        })
                })
                .collect();
            (
                listeners(),
                server(),
                upstreams,
                routes,
                policies,
                observability(),
            )
        })
        .prop_map(
            |(listeners, server, upstreams, routes, policies, observability)| Config {
                version: 1,
                listeners,
                status: StatusListener {
                    bind: "127.0.0.1:9100".into(),
                },
                server,
                security: Default::default(),
                redis: None,
                upstreams,
                routes,
                policies,
                observability,
            },
        )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn yaml_round_trip(config in config()) {
        let yaml = to_yaml(&config).expect("serialize");
        let loaded = parse_str(&yaml, SourceFormat::Yaml)
            .unwrap_or_else(|e| panic!("{e}\n--- document ---\n{yaml}"));
        prop_assert_eq!(loaded.config, config);
    }

    #[test]
    fn json_round_trip(config in config()) {
        let json = serde_json::to_string(&config).expect("serialize");
        let loaded = parse_str(&json, SourceFormat::Json)
            .unwrap_or_else(|e| panic!("{e}\n--- document ---\n{json}"));
        prop_assert_eq!(&loaded.config, &config);
        // The YAML reader accepts JSON as well.
        let loaded = parse_str(&json, SourceFormat::Yaml)
            .unwrap_or_else(|e| panic!("{e}\n--- document ---\n{json}"));
        prop_assert_eq!(loaded.config, config);
    }
}
