//! Hot reload under load: new versions take over without a single failed request, and a refused
//! version leaves the running one serving.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use http_body_util::BodyExt;

use crate::support::body::empty;
use crate::support::proxy::config_text;
use crate::support::{
    eventually, http1_client, parse_config, request, start_proxy, ProxyExt, TestUpstream,
};

/// Two equivalent versions that differ in target and rewrite, so every response tells which
/// version served it: `a` sees `/x`, `b` sees `/v2/x`.
fn version(target: &TestUpstream, rewrite: &str) -> (String, Vec<(&'static str, String)>) {
    let yaml = format!(
        r#"
        upstreams:
          - name: svc
            targets: [{{url: "${{target}}"}}]
        routes:
          - name: svc
            match: {{path: /svc/*}}
            upstream: svc
            {rewrite}
        "#
    );
    (yaml, vec![("target", target.url())])
}

#[derive(Default)]
struct Tally {
    total: AtomicUsize,
    by_a: AtomicUsize,
    by_b: AtomicUsize,
    failures: Mutex<Vec<String>>,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reloads_under_load_fail_no_request() {
    let a = TestUpstream::start("a").await;
    let b = TestUpstream::start("b").await;
    let (v1, v1_vars) = version(&a, "strip_prefix: true");
    let (v2, v2_vars) = version(&b, "rewrite_prefix: /v2");
    let proxy = start_proxy(&v1, &v1_vars).await;
    let url = proxy.url("/svc/x");

    let tally = Arc::new(Tally::default());
    let stop = Arc::new(AtomicBool::new(false));
    let mut workers = Vec::new();
    for _ in 0..4 {
        let (tally, stop, url) = (tally.clone(), stop.clone(), url.clone());
        workers.push(tokio::spawn(async move {
            let client = http1_client();
            while !stop.load(Ordering::Relaxed) {
                let outcome = async {
                    let response = client
                        .request(request("GET", &url).body(empty()).unwrap())
                        .await
                        .map_err(|e| format!("request failed: {e:?}"))?;
                    let status = response.status();
                    let upstream = response
                        .headers()
                        .get("x-upstream")
                        .map(|v| v.to_str().unwrap().to_owned());
                    let body = response
                        .into_body()
                        .collect()
                        .await
                        .map_err(|e| format!("body failed: {e:?}"))?
                        .to_bytes();
                    if status != 200 {
                        return Err(format!("{status}: {}", String::from_utf8_lossy(&body)));
                    }
                    let echo: serde_json::Value = serde_json::from_slice(&body).unwrap();
                    Ok((upstream, echo["path"].as_str().unwrap().to_owned()))
                }
                .await;
                match outcome {
                    Ok((Some(up), path)) if up == "a" && path == "/x" => {
                        tally.by_a.fetch_add(1, Ordering::SeqCst);
                    }
                    Ok((Some(up), path)) if up == "b" && path == "/v2/x" => {
                        tally.by_b.fetch_add(1, Ordering::SeqCst);
                    }
                    Ok(other) => tally
                        .failures
                        .lock()
                        .unwrap()
                        .push(format!("a response mixing versions: {other:?}")),
                    Err(e) => tally.failures.lock().unwrap().push(e),
                }
                tally.total.fetch_add(1, Ordering::SeqCst);
            }
        }));
    }

    // Switch versions back and forth while the load runs, each time until the new version has
    // demonstrably served traffic.
    let started = Instant::now();
    let mut applied = 0;
    while applied < 6 || started.elapsed() < Duration::from_secs(3) {
        let (yaml, vars, counter) = if applied % 2 == 0 {
            (&v2, &v2_vars, &tally.by_b)
        } else {
            (&v1, &v1_vars, &tally.by_a)
        };
        let before = counter.load(Ordering::SeqCst);
        proxy
            .apply(parse_config(yaml, vars))
            .expect("valid config applies");
        applied += 1;
        eventually("the new version to serve", Duration::from_secs(5), || {
            std::future::ready(counter.load(Ordering::SeqCst) >= before + 20)
        })
        .await;

        if applied == 3 {
            // A file with a dangling reference is refused and the running version stays.
            let serving = proxy.shared().snapshot().unwrap().version.clone();
            let dir = tempfile::tempdir().unwrap();
            let file = dir.path().join("broken.yaml");
            let broken = config_text(
                r#"
                upstreams:
                  - name: svc
                    targets: [{url: "http://127.0.0.1:9"}]
                routes:
                  - name: svc
                    match: {path: /svc/*}
                    upstream: nowhere
                "#,
                &[],
            );
            std::fs::write(&file, broken).unwrap();
            let error = proxy
                .reload_from_file(&file)
                .expect_err("a dangling upstream reference is refused");
            assert!(
                error.to_string().contains("nowhere"),
                "the error names the problem: {error}"
            );
            assert_eq!(proxy.shared().snapshot().unwrap().version, serving);
            let before = counter.load(Ordering::SeqCst);
            eventually(
                "the old version to keep serving",
                Duration::from_secs(5),
                || std::future::ready(counter.load(Ordering::SeqCst) >= before + 20),
            )
            .await;
        }
    }
    stop.store(true, Ordering::Relaxed);
    for worker in workers {
        worker.await.unwrap();
    }

    let failures = tally.failures.lock().unwrap();
    assert!(
        failures.is_empty(),
        "{} of {} requests failed across {applied} reloads, first: {:?}",
        failures.len(),
        tally.total.load(Ordering::SeqCst),
        failures.iter().take(5).collect::<Vec<_>>()
    );
    assert!(tally.by_a.load(Ordering::SeqCst) > 0 && tally.by_b.load(Ordering::SeqCst) > 0);
}
