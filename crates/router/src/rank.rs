//! The order in which routes are tried: descending `priority`, then declaration order.
//!
//! The config crate defines the same ranking for its diagnostics; it is repeated here so the
//! router does not depend on validation internals, and the two must agree (the property tests
//! check the router against a reference written from the documented rule).

use flexgate_config::Config;

/// Route indices of `config.routes`, best-ranked first.
pub(crate) fn route_rank(config: &Config) -> Vec<usize> {
    let mut order: Vec<usize> = (0..config.routes.len()).collect();
    // `sort_by_key` is stable, so equal priorities keep their declaration order.
    order.sort_by_key(|&i| std::cmp::Reverse(config.routes[i].priority));
    order
}

#[cfg(test)]
mod tests {
    use super::*;
    use flexgate_config::{Observability, Route, RouteMatch, Server, StatusListener};

    fn route(name: &str, priority: i32) -> Route {
        Route {
            name: name.into(),
            matcher: RouteMatch {
                path: "/".into(),
                methods: vec![],
                hosts: vec![],
                headers: vec![],
            },
            priority,
            upstream: "u".into(),
            strip_prefix: false,
            rewrite_prefix: None,
            timeout: None,
            policies: vec![],
            retries: None,
            max_concurrent_requests: None,
        }
    }

    #[test]
    fn higher_priority_first_then_declaration_order() {
        let config = Config {
            version: 1,
            listeners: vec![],
            status: StatusListener::default(),
            server: Server::default(),
            upstreams: vec![],
            routes: vec![
                route("a", 0),
                route("b", 5),
                route("c", 0),
                route("d", -1),
                route("e", 5),
            ],
            policies: vec![],
            security: Default::default(),
            redis: None,
            observability: Observability::default(),
        };
        assert_eq!(route_rank(&config), vec![1, 4, 0, 2, 3]);
    }
}
