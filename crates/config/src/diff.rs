//! Semantic diff between two configs, keyed by entity name rather than position.
//!
//! Used by reload logs and `flexgate config diff`: moving a route down the file is not "route 3
//! changed completely", it is "evaluation order changed". Entities (listeners, upstreams,
//! routes, policies) are matched by `name`; inside an entity, objects are compared field by field
//! and lists are compared as a whole, because the position of a target or header condition has
//! no identity of its own.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::Serialize;
use serde_json::Value;

use crate::model::Config;
use crate::validate::route_rank;

/// What happened to a value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ChangeKind {
    /// Present only in the new config.
    Added,
    /// Present only in the old config.
    Removed,
    /// Present in both with different values.
    Modified,
}

/// One difference between two configs.
#[derive(Debug, Clone, PartialEq)]
pub struct Change {
    /// What changed: `routes[users].upstream`, `upstreams[users]`, `server.drain_timeout`.
    /// Entities are addressed by name in brackets. `routes` alone is the evaluation order.
    pub path: String,
    /// Whether the value was added, removed or modified.
    pub kind: ChangeKind,
    /// The old value (absent for additions).
    pub before: Option<Value>,
    /// The new value (absent for removals).
    pub after: Option<Value>,
}

fn to_value<T: Serialize>(value: &T) -> Value {
    // Config types are plain data, so serialization cannot fail; `Null` keeps this total.
    serde_json::to_value(value).unwrap_or(Value::Null)
}

/// Differences from `a` (old) to `b` (new), in a stable order: version, listeners, status,
/// server, upstreams, routes (then route order), policies, observability.
pub fn diff(a: &Config, b: &Config) -> Vec<Change> {
    let mut changes = Vec::new();
    compare(
        "version",
        Some(&to_value(&a.version)),
        Some(&to_value(&b.version)),
        &mut changes,
    );
    compare_named(
        "listeners",
        a.listeners.iter().map(|l| (l.name.as_str(), to_value(l))),
        b.listeners.iter().map(|l| (l.name.as_str(), to_value(l))),
        &mut changes,
    );
    compare(
        "status",
        Some(&to_value(&a.status)),
        Some(&to_value(&b.status)),
        &mut changes,
    );
    compare(
        "server",
        Some(&to_value(&a.server)),
        Some(&to_value(&b.server)),
        &mut changes,
    );
    compare_named(
        "upstreams",
        a.upstreams.iter().map(|u| (u.name.as_str(), to_value(u))),
        b.upstreams.iter().map(|u| (u.name.as_str(), to_value(u))),
        &mut changes,
    );
    compare_named(
        "routes",
        a.routes.iter().map(|r| (r.name.as_str(), to_value(r))),
        b.routes.iter().map(|r| (r.name.as_str(), to_value(r))),
        &mut changes,
    );
    compare_route_order(a, b, &mut changes);
    compare_named(
        "policies",
        a.policies.iter().map(|p| (p.name(), to_value(p))),
        b.policies.iter().map(|p| (p.name(), to_value(p))),
        &mut changes,
    );
    compare(
        "observability",
        Some(&to_value(&a.observability)),
        Some(&to_value(&b.observability)),
        &mut changes,
    );
    changes
}

/// Compares two lists of named entities. Removals come first, then changes and additions in the
/// new config's order. With duplicate names (an invalid config) the first entity of a name wins.
fn compare_named<'a>(
    section: &str,
    old: impl Iterator<Item = (&'a str, Value)>,
    new: impl Iterator<Item = (&'a str, Value)>,
    out: &mut Vec<Change>,
) {
    let mut old_by_name: BTreeMap<&str, Value> = BTreeMap::new();
    let mut old_order = Vec::new();
    for (name, value) in old {
        if !old_by_name.contains_key(name) {
            old_order.push(name);
            old_by_name.insert(name, value);
        }
    }
    let mut new_by_name: BTreeMap<&str, Value> = BTreeMap::new();
    let mut new_order = Vec::new();
    for (name, value) in new {
        if !new_by_name.contains_key(name) {
            new_order.push(name);
            new_by_name.insert(name, value);
        }
    }
    for name in &old_order {
        if !new_by_name.contains_key(name) {
            out.push(Change {
                path: format!("{section}[{name}]"),
                kind: ChangeKind::Removed,
                before: old_by_name.get(name).cloned(),
                after: None,
            });
        }
    }
    for name in &new_order {
        let path = format!("{section}[{name}]");
        match old_by_name.get(name) {
            None => out.push(Change {
                path,
                kind: ChangeKind::Added,
                before: None,
                after: new_by_name.get(name).cloned(),
            }),
            Some(before) => compare(&path, Some(before), new_by_name.get(name), out),
        }
    }
}

/// Compares two values at `path`, descending into objects so that the change is reported at the
/// deepest field that differs.
fn compare(path: &str, before: Option<&Value>, after: Option<&Value>, out: &mut Vec<Change>) {
    match (before, after) {
        (None, None) => {}
        (None, Some(v)) => out.push(Change {
            path: path.to_owned(),
            kind: ChangeKind::Added,
            before: None,
            after: Some(v.clone()),
        }),
        (Some(v), None) => out.push(Change {
            path: path.to_owned(),
            kind: ChangeKind::Removed,
            before: Some(v.clone()),
            after: None,
        }),
        (Some(Value::Object(a)), Some(Value::Object(b))) => {
            for (key, va) in a {
                compare(&format!("{path}.{key}"), Some(va), b.get(key), out);
            }
            for (key, vb) in b {
                if !a.contains_key(key) {
                    compare(&format!("{path}.{key}"), None, Some(vb), out);
                }
            }
        }
        (Some(a), Some(b)) => {
            if a != b {
                out.push(Change {
                    path: path.to_owned(),
                    kind: ChangeKind::Modified,
                    before: Some(a.clone()),
                    after: Some(b.clone()),
                });
            }
        }
    }
}

/// Reports a change of evaluation order among routes present in both configs. Priority changes
/// already show up as field changes; this catches moves within the file too.
fn compare_route_order(a: &Config, b: &Config, out: &mut Vec<Change>) {
    let in_b = |name: &str| b.routes.iter().any(|r| r.name == name);
    let in_a = |name: &str| a.routes.iter().any(|r| r.name == name);
    let old: Vec<&str> = route_rank(a)
        .into_iter()
        .map(|i| a.routes[i].name.as_str())
        .filter(|n| in_b(n))
        .collect();
    let new: Vec<&str> = route_rank(b)
        .into_iter()
        .map(|i| b.routes[i].name.as_str())
        .filter(|n| in_a(n))
        .collect();
    if old != new {
        out.push(Change {
            path: "routes".into(),
            kind: ChangeKind::Modified,
            before: Some(to_value(&old)),
            after: Some(to_value(&new)),
        });
    }
}

/// The singular noun for an entity section, for `+ route users` lines.
fn entity_noun(section: &str) -> Option<&'static str> {
    match section {
        "listeners" => Some("listener"),
        "upstreams" => Some("upstream"),
        "routes" => Some("route"),
        "policies" => Some("policy"),
        _ => None,
    }
}

/// `routes[users]` → `("routes", "users")` when the path is a whole entity.
fn split_entity(path: &str) -> Option<(&str, &str)> {
    let (section, rest) = path.split_once('[')?;
    let name = rest.strip_suffix(']')?;
    // A name containing `]` followed by more text would be a field of the entity, not the entity.
    if name.contains("].") {
        return None;
    }
    Some((section, name))
}

fn render_value(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// `["a","b"]` → `a, b`, for the route order line.
fn render_names(value: &Value) -> String {
    match value {
        Value::Array(items) => items
            .iter()
            .map(render_value)
            .collect::<Vec<_>>()
            .join(", "),
        other => render_value(other),
    }
}

/// Renders changes as text, one line each:
/// `+ route users-v2`, `~ upstreams[users].targets: [...] -> [...]`, `- policy x`.
pub fn render_diff(changes: &[Change]) -> String {
    let mut out = String::new();
    for change in changes {
        let entity = split_entity(&change.path)
            .and_then(|(section, name)| entity_noun(section).map(|noun| (noun, name)));
        let line = match (change.kind, entity) {
            (ChangeKind::Added, Some((noun, name))) => format!("+ {noun} {name}"),
            (ChangeKind::Removed, Some((noun, name))) => format!("- {noun} {name}"),
            (ChangeKind::Modified, _) if change.path == "routes" => format!(
                "~ route evaluation order: {} -> {}",
                change.before.as_ref().map(render_names).unwrap_or_default(),
                change.after.as_ref().map(render_names).unwrap_or_default()
            ),
            (ChangeKind::Added, None) => format!(
                "+ {}: {}",
                change.path,
                change.after.as_ref().map(render_value).unwrap_or_default()
            ),
            (ChangeKind::Removed, None) => format!(
                "- {}: {}",
                change.path,
                change.before.as_ref().map(render_value).unwrap_or_default()
            ),
            (ChangeKind::Modified, _) => format!(
                "~ {}: {} -> {}",
                change.path,
                change.before.as_ref().map(render_value).unwrap_or_default(),
                change.after.as_ref().map(render_value).unwrap_or_default()
            ),
        };
        let _ = writeln!(out, "{line}");
    }
    out
}
