//! The shipped examples load cleanly, and the v0 example migrates to the checked-in file.

use flexgate_config::v0::render_migrated;
use flexgate_config::{load_file, migrate_v0, parse_str, validate, SourceFormat};

use crate::{assert_matches_file, workspace_file};

#[test]
fn v1_example_validates_without_problems() {
    let loaded = load_file(&workspace_file("examples/flexgate.yaml")).expect("example loads");
    assert!(!loaded.migrated_from_v0);
    assert!(loaded.warnings.is_empty(), "{:#?}", loaded.warnings);
    assert!(loaded.config.routes.len() >= 4);
}

fn migrate_example() -> (flexgate_config::Config, Vec<flexgate_config::Diagnostic>) {
    let text =
        std::fs::read_to_string(workspace_file("examples/v0/proxy.yml")).expect("read example");
    let value: serde_json::Value = serde_yaml::from_str(&text).expect("example is YAML");
    migrate_v0(value).expect("example migrates")
}

#[test]
fn v0_example_migrates_to_the_checked_in_file() {
    let (config, notes) = migrate_example();
    let rendered = render_migrated(&config, &notes).expect("render");
    assert_matches_file(
        &workspace_file("examples/v0/proxy.migrated.yaml"),
        &rendered,
    );

    // The checked-in file is a valid v1 document equal to the migration.
    let text = std::fs::read_to_string(workspace_file("examples/v0/proxy.migrated.yaml"))
        .expect("read migrated");
    let loaded = parse_str(&text, SourceFormat::Yaml).expect("migrated file loads");
    assert_eq!(loaded.config, config);
    assert!(validate(&config).iter().all(|d| !d.is_error()));
}

#[test]
fn v0_example_migration_reports_what_it_drops() {
    let (config, notes) = migrate_example();
    let paths: Vec<&str> = notes.iter().map(|n| n.path.as_str()).collect();
    for expected in [
        "redis",
        "backpressure",
        "proxy.trustProxy",
        "proxy.cors",
        "logging.level",
        "upstreams[0].circuitBreaker.failureThreshold",
        "upstreams[0].circuitBreaker.successThreshold",
        "routes[2].path",
        "metrics",
        "upstreams[2].url",
    ] {
        assert!(paths.contains(&expected), "{expected} not in {paths:?}");
    }
    assert!(notes.iter().all(|n| !n.is_error()));

    assert_eq!(config.listeners[0].bind, "0.0.0.0:3000");
    assert_eq!(config.server.max_request_body.get(), 5 << 20);
    let orders = &config.upstreams[0];
    assert_eq!(orders.timeouts.request.to_string(), "10s");
    assert_eq!(orders.timeouts.connect.to_string(), "3s");
    assert_eq!(config.upstreams[1].timeouts.request.to_string(), "20s");
    assert_eq!(
        config.upstreams[1].targets[0].url,
        "https://inventory.internal:8443"
    );
    // The private literal target stays reachable under the SSRF guard.
    assert_eq!(config.upstreams[2].allow_networks, ["10.20.0.5/32"]);
    let names: Vec<&str> = config.routes.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(names, ["api-orders", "api-inventory", "reports", "status"]);
    assert_eq!(config.routes[0].rewrite_prefix.as_deref(), Some("/orders"));
    assert_eq!(config.routes[1].rewrite_prefix.as_deref(), Some("/service"));
    assert_eq!(config.routes[0].policies, ["api-orders-rate-limit"]);
    assert_eq!(config.policies.len(), 1);
    assert!((config.observability.access_log.sampling.success_rate - 0.25).abs() < 1e-9);
}

#[test]
fn v0_example_loads_through_load_file() {
    let loaded = load_file(&workspace_file("examples/v0/proxy.yml")).expect("v0 example loads");
    assert!(loaded.migrated_from_v0);
    let (config, _) = migrate_example();
    assert_eq!(loaded.config, config);
}
