//! The long-running subcommands: `up`, `proxy` and `demo-upstream`.

use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use tokio::net::TcpListener;

use flexgate_config::load::load_file;
use flexgate_proxy::{ProxyHandle, StartOptions};

use crate::cli::{DemoArgs, LogFormat, ProxyArgs, UpArgs};
use crate::demo;

fn runtime(workers: Option<usize>) -> Result<tokio::runtime::Runtime> {
    // One worker means one thread: the current-thread scheduler then runs every task, timer and
    // I/O event on the calling thread, without the work-stealing machinery and cross-thread
    // wake-ups that a one-worker multi-thread runtime still pays for.
    let mut builder = match workers {
        Some(1) => tokio::runtime::Builder::new_current_thread(),
        Some(n) => {
            let mut builder = tokio::runtime::Builder::new_multi_thread();
            builder.worker_threads(n.max(1));
            builder
        }
        None => tokio::runtime::Builder::new_multi_thread(),
    };
    builder
        .enable_all()
        .thread_name("flexgate-worker")
        .build()
        .context("cannot start the async runtime")
}

/// Waits for SIGINT or SIGTERM.
async fn termination() {
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {},
        _ = terminate => {},
    }
}

/// `flexgate proxy -c FILE`.
pub fn proxy(
    args: ProxyArgs,
    log_format: LogFormat,
    log_level: Option<String>,
) -> Result<ExitCode> {
    let loaded = match load_file(&args.config) {
        Ok(loaded) => loaded,
        Err(error) => {
            eprintln!("{error}");
            return Ok(ExitCode::from(2));
        }
    };
    // `--log-level` wins over the config's `observability.log_level`.
    let config_level = serde_json::to_value(loaded.config.observability.log_level)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_else(|| "info".into());
    crate::logging::init(log_format, log_level.as_deref().unwrap_or(&config_level));
    for warning in &loaded.warnings {
        eprintln!("{}: {warning}", args.config.display());
    }
    if args.check {
        println!("{}: valid", args.config.display());
        return Ok(ExitCode::SUCCESS);
    }
    let config_path = std::fs::canonicalize(&args.config).unwrap_or(args.config.clone());
    runtime(args.workers)?.block_on(async move {
        let handle = ProxyHandle::start(
            loaded.config,
            StartOptions {
                config_path: Some(config_path),
                ..StartOptions::default()
            },
        )
        .await?;
        termination().await;
        tracing::info!(message = "Shutting down; draining in-flight requests.");
        let cut = handle.shutdown().await;
        Ok(if cut == 0 {
            ExitCode::SUCCESS
        } else {
            ExitCode::from(1)
        })
    })
}

/// `flexgate demo-upstream`.
pub fn demo_upstream(args: DemoArgs) -> Result<ExitCode> {
    runtime(args.workers)?.block_on(async move {
        let listener = TcpListener::bind(&args.bind)
            .await
            .with_context(|| format!("cannot listen on {}", args.bind))?;
        eprintln!(
            "demo upstream listening on http://{}",
            listener.local_addr()?
        );
        tokio::select! {
            _ = demo::serve(listener) => {},
            _ = termination() => {},
        }
        Ok(ExitCode::SUCCESS)
    })
}

/// The starter config of `flexgate up`, proxying to the demo upstream at `demo_addr`.
fn starter_config(listen: &str, status: &str, demo_addr: &str) -> String {
    format!(
        r#"# Starter configuration written by `flexgate up`.
# Run it yourself with `flexgate proxy -c <this file>`; every option is in docs/config-reference.md.
version: 1
listeners:
  - name: public
    bind: "{listen}"
status:
  bind: "{status}"
upstreams:
  - name: demo
    targets:
      - url: "http://{demo_addr}"
    # The demo upstream runs on loopback, which the SSRF guard refuses unless allowed.
    allow_networks: ["127.0.0.0/8"]
    health_check:
      path: /health
      interval: 5s
routes:
  - name: api
    match:
      path: /api/*
    upstream: demo
    strip_prefix: true
  - name: demo-health
    match:
      path: /health
      methods: [GET]
    upstream: demo
observability:
  access_log:
    sampling:
      success_rate: 1.0
"#
    )
}

/// `flexgate up`.
pub fn up(args: UpArgs) -> Result<ExitCode> {
    runtime(None)?.block_on(async move {
        let demo_listener = TcpListener::bind("127.0.0.1:0")
            .await
            .context("cannot start the demo upstream")?;
        let demo_addr = demo_listener.local_addr()?;
        tokio::spawn(demo::serve(demo_listener));

        std::fs::create_dir_all(&args.data_dir)
            .with_context(|| format!("cannot create {}", args.data_dir.display()))?;
        let config_file = args.data_dir.join("starter.yaml");
        std::fs::write(
            &config_file,
            starter_config(&args.listen, &args.status, &demo_addr.to_string()),
        )
        .with_context(|| format!("cannot write {}", config_file.display()))?;
        let loaded = load_file(&config_file).map_err(|e| anyhow::anyhow!("{e}"))?;
        let handle = ProxyHandle::start(
            loaded.config,
            StartOptions {
                config_path: Some(config_file.clone()),
                ..StartOptions::default()
            },
        )
        .await?;
        let proxy_addr = handle
            .listeners()
            .first()
            .map(|(_, a)| *a)
            .context("no listener")?;
        let status_addr = handle.status_addr();
        println!("FlexGate is running (data plane on embedded defaults).");
        println!("  proxy     http://{proxy_addr}      try: curl http://{proxy_addr}/api/hello");
        println!("  status    http://{status_addr}/health   metrics: http://{status_addr}/metrics");
        println!("  upstream  demo at http://{demo_addr}");
        println!(
            "  config    {} (edits are applied live)",
            config_file.display()
        );
        let ok = smoke_requests(proxy_addr, if args.smoke { 3 } else { 1 }).await;
        if args.smoke {
            handle.shutdown().await;
            return Ok(if ok {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            });
        }
        println!("Press Ctrl-C to stop.");
        termination().await;
        handle.shutdown().await;
        Ok(ExitCode::SUCCESS)
    })
}

/// Sends `count` requests through the proxy and prints what came back; true if all were 200.
async fn smoke_requests(proxy: std::net::SocketAddr, count: usize) -> bool {
    let client: Client<_, Empty<Bytes>> = Client::builder(TokioExecutor::new()).build_http();
    let client = Arc::new(client);
    let mut all_ok = true;
    for i in 0..count {
        let uri = format!("http://{proxy}/api/hello?n={i}");
        let started = Instant::now();
        let result = tokio::time::timeout(Duration::from_secs(5), async {
            let response = client.get(uri.parse()?).await?;
            let status = response.status();
            let correlation = response
                .headers()
                .get("x-correlation-id")
                .and_then(|v| v.to_str().ok())
                .unwrap_or("")
                .to_owned();
            let body = response.into_body().collect().await?.to_bytes();
            Ok::<_, Box<dyn std::error::Error + Send + Sync>>((status, correlation, body))
        })
        .await;
        match result {
            Ok(Ok((status, correlation, body))) => {
                all_ok &= status.is_success();
                println!(
                    "  GET /api/hello -> {status} in {:.1} ms, correlation id {correlation}\n    {}",
                    started.elapsed().as_secs_f64() * 1000.0,
                    String::from_utf8_lossy(&body)
                );
            }
            Ok(Err(error)) => {
                all_ok = false;
                println!("  GET /api/hello failed: {error}");
            }
            Err(_) => {
                all_ok = false;
                println!("  GET /api/hello timed out");
            }
        }
    }
    all_ok
}
