//! The JSON Schema of `flexgate/v1` and the operator reference generated from it.
//!
//! The schema is derived from the model types, so their doc comments are the descriptions;
//! `docs/config-reference.md` is generated from the schema and checked by a test, so the
//! reference cannot drift from the code.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde_json::{Map, Value};

use crate::model::Config;

/// The schema identifier and title.
pub const SCHEMA_ID: &str = "flexgate/v1";

/// The JSON Schema (draft 2020-12) of a `flexgate/v1` document.
pub fn json_schema() -> Value {
    let mut schema = serde_json::to_value(schemars::schema_for!(Config)).unwrap_or(Value::Null);
    if let Value::Object(root) = &mut schema {
        root.insert("$id".into(), Value::from(SCHEMA_ID));
        root.insert("title".into(), Value::from(SCHEMA_ID));
    }
    // The Rust type is a `u32`, but only `1` loads as this schema; say so, so editors flag other
    // values right away.
    if let Some(Value::Object(version)) = schema.pointer_mut("/properties/version") {
        version.insert("const".into(), Value::from(1));
    }
    // serde's internal tag has no doc comment to take a description from.
    if let Some(Value::Array(variants)) = schema.pointer_mut("/$defs/Policy/oneOf") {
        for variant in variants {
            if let Some(Value::Object(tag)) = variant.pointer_mut("/properties/type") {
                let kind = tag.get("const").and_then(Value::as_str).unwrap_or("");
                let text = format!("Policy type; `{kind}` for this kind of policy.");
                tag.insert("description".into(), Value::from(text));
            }
        }
    }
    schema
}

/// What a `$defs` entry is, which decides how it is documented.
enum DefKind<'a> {
    /// An object with properties: a table of keys.
    Object(&'a Map<String, Value>),
    /// A string enum: a table of values.
    Enum(&'a [Value]),
    /// A union of objects told apart by `type`: a table per variant.
    Tagged(&'a [Value]),
    /// A scalar with its own syntax (durations, sizes).
    Scalar,
}

fn def_kind(def: &Value) -> DefKind<'_> {
    if let Some(Value::Object(props)) = def.get("properties") {
        return DefKind::Object(props);
    }
    if let Some(Value::Array(variants)) = def.get("oneOf") {
        if variants.iter().all(|v| v.get("const").is_some()) {
            return DefKind::Enum(variants);
        }
        if variants.iter().all(|v| v.get("properties").is_some()) {
            return DefKind::Tagged(variants);
        }
    }
    DefKind::Scalar
}

fn ref_name(schema: &Value) -> Option<&str> {
    schema.get("$ref")?.as_str()?.strip_prefix("#/$defs/")
}

/// Definitions a property schema refers to, directly or through `anyOf`, `oneOf` or `items`.
fn refs_of(schema: &Value) -> Vec<&str> {
    let mut out = Vec::new();
    if let Some(name) = ref_name(schema) {
        out.push(name);
    }
    for key in ["anyOf", "oneOf"] {
        if let Some(Value::Array(items)) = schema.get(key) {
            for item in items {
                out.extend(refs_of(item));
            }
        }
    }
    if let Some(items) = schema.get("items") {
        out.extend(refs_of(items));
    }
    out
}

fn anchor(name: &str) -> String {
    name.to_ascii_lowercase()
}

fn type_of(schema: &Value) -> String {
    if let Some(name) = ref_name(schema) {
        return format!("[{name}](#{})", anchor(name));
    }
    if let Some(c) = schema.get("const") {
        return format!("`{}`", scalar_text(c));
    }
    for key in ["anyOf", "oneOf"] {
        if let Some(Value::Array(options)) = schema.get(key) {
            let parts: Vec<String> = options
                .iter()
                .filter(|o| o.get("type").and_then(Value::as_str) != Some("null"))
                .map(type_of)
                .collect();
            return parts.join(" or ");
        }
    }
    let types: Vec<&str> = match schema.get("type") {
        Some(Value::String(t)) => vec![t.as_str()],
        Some(Value::Array(ts)) => ts
            .iter()
            .filter_map(Value::as_str)
            .filter(|t| *t != "null")
            .collect(),
        _ => Vec::new(),
    };
    let parts: Vec<String> = types
        .iter()
        .map(|t| match *t {
            "array" => format!(
                "list of {}",
                schema
                    .get("items")
                    .map(type_of)
                    .unwrap_or_else(|| "values".into())
            ),
            "object" => "mapping".into(),
            other => other.to_owned(),
        })
        .collect();
    if parts.is_empty() {
        "any".into()
    } else {
        parts.join(" or ")
    }
}

fn scalar_text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn default_of(schema: &Value, required: bool) -> String {
    if required {
        return "**required**".into();
    }
    match schema.get("default") {
        // Lists that are left out of serialized output when empty have no schema default.
        None if schema.get("type").and_then(Value::as_str) == Some("array") => "`[]`".into(),
        None => "not set".into(),
        Some(Value::Object(_)) => "see fields".into(),
        Some(Value::Array(items)) if items.is_empty() => "`[]`".into(),
        Some(Value::Array(items)) if items.iter().all(|i| !i.is_object() && !i.is_array()) => {
            let texts: Vec<String> = items.iter().map(scalar_text).collect();
            format!("`[{}]`", texts.join(", "))
        }
        Some(other @ Value::Array(_)) => format!("`{other}`"),
        Some(Value::String(s)) if s.is_empty() => "`\"\"`".into(),
        Some(other) => format!("`{}`", scalar_text(other)),
    }
}

/// Makes a description fit in one table cell.
fn cell(text: &str) -> String {
    text.replace("\n\n", "<br><br>")
        .replace('\n', " ")
        .replace('|', "\\|")
}

fn description(schema: &Value) -> &str {
    schema
        .get("description")
        .and_then(Value::as_str)
        .unwrap_or("")
}

/// Property names with required ones first, then alphabetical (the schema does not keep the
/// declaration order).
fn ordered_keys<'a>(props: &'a Map<String, Value>, required: &[&str]) -> Vec<&'a String> {
    let mut keys: Vec<&String> = props.keys().collect();
    keys.sort_by_key(|k| (!required.contains(&k.as_str()), k.as_str().to_owned()));
    keys
}

fn required_of(schema: &Value) -> Vec<&str> {
    schema
        .get("required")
        .and_then(Value::as_array)
        .map(|r| r.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default()
}

fn property_table(out: &mut String, schema: &Value, props: &Map<String, Value>) {
    let required = required_of(schema);
    out.push_str("| Key | Type | Default | Description |\n|---|---|---|---|\n");
    for key in ordered_keys(props, &required) {
        let prop = &props[key];
        let _ = writeln!(
            out,
            "| `{key}` | {} | {} | {} |",
            type_of(prop),
            default_of(prop, required.contains(&key.as_str())),
            cell(description(prop))
        );
    }
}

/// Walks the schema from the root, recording for each definition the document paths where it
/// appears, in the order a reader meets them.
fn discover(schema: &Value) -> (Vec<String>, BTreeMap<String, Vec<String>>) {
    let defs = schema.get("$defs").cloned().unwrap_or(Value::Null);
    let mut order: Vec<String> = Vec::new();
    let mut paths: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut queue: Vec<(Value, String)> = vec![(schema.clone(), String::new())];
    let mut next = 0;
    while next < queue.len() {
        let (node, base) = queue[next].clone();
        next += 1;
        let mut visit_props = |props: &Map<String, Value>, node: &Value| {
            for key in ordered_keys(props, &required_of(node)) {
                let prop = &props[key];
                let is_list = prop.get("type").and_then(Value::as_str) == Some("array");
                let path = if base.is_empty() {
                    key.clone()
                } else {
                    format!("{base}.{key}")
                };
                let path = if is_list { format!("{path}[]") } else { path };
                for name in refs_of(prop) {
                    let seen = paths.entry(name.to_owned()).or_default();
                    if seen.is_empty() {
                        order.push(name.to_owned());
                        if let Some(def) = defs.get(name) {
                            queue.push((def.clone(), path.clone()));
                        }
                    }
                    if !seen.contains(&path) {
                        seen.push(path.clone());
                    }
                }
            }
        };
        match def_kind(&node) {
            DefKind::Object(props) => visit_props(props, &node),
            DefKind::Tagged(variants) => {
                for variant in variants {
                    if let Some(Value::Object(props)) = variant.get("properties") {
                        visit_props(props, variant);
                    }
                }
            }
            DefKind::Enum(_) | DefKind::Scalar => {}
        }
    }
    (order, paths)
}

/// The operator reference of every option, generated from [`json_schema`] as Markdown.
pub fn reference_markdown() -> String {
    let schema = json_schema();
    let defs = schema.get("$defs").cloned().unwrap_or(Value::Null);
    let (order, paths) = discover(&schema);
    let mut out = String::new();
    out.push_str("# FlexGate configuration reference (`flexgate/v1`)\n\n");
    out.push_str(
        "<!-- Generated from the config model by `flexgate_config::schema::reference_markdown()`. \
         Do not edit by hand: change the doc comments in `crates/config/src/model.rs` and run \
         `FLEXGATE_BLESS=1 cargo test -p flexgate-config`. -->\n\n",
    );
    out.push_str(
        "A config file is YAML or JSON (`.json` files are read as JSON, anything else as YAML). \
         Unknown keys are errors, reported with their path and a suggestion. Durations and sizes \
         are written with units; see [Duration](#duration) and [ByteSize](#bytesize). Files \
         without a `version` key are read as the original FlexGate `proxy.yml` format (version 0), \
         migrated, and loaded with a deprecation warning.\n\n",
    );
    out.push_str("## Config\n\nThe top level of the document.\n\n");
    if let Some(Value::Object(props)) = schema.get("properties") {
        property_table(&mut out, &schema, props);
    }
    let mut scalars = Vec::new();
    for name in &order {
        let Some(def) = defs.get(name) else { continue };
        let kind = def_kind(def);
        if matches!(kind, DefKind::Scalar) {
            scalars.push(name);
            continue;
        }
        let _ = write!(out, "\n## {name}\n\n{}\n\n", cell(description(def)));
        if let Some(at) = paths.get(name) {
            let list: Vec<String> = at.iter().map(|p| format!("`{p}`")).collect();
            let _ = write!(out, "Used at {}.\n\n", list.join(", "));
        }
        match kind {
            DefKind::Object(props) => property_table(&mut out, def, props),
            DefKind::Enum(variants) => {
                out.push_str("| Value | Description |\n|---|---|\n");
                for v in variants {
                    let value = v.get("const").map(scalar_text).unwrap_or_default();
                    let _ = writeln!(out, "| `{value}` | {} |", cell(description(v)));
                }
            }
            DefKind::Tagged(variants) => {
                out.push_str("Each entry has a `type` that selects its kind:\n");
                for v in variants {
                    let tag = v
                        .pointer("/properties/type/const")
                        .map(scalar_text)
                        .unwrap_or_default();
                    let _ = write!(out, "\n### `type: {tag}`\n\n{}\n\n", cell(description(v)));
                    if let Some(Value::Object(props)) = v.get("properties") {
                        property_table(&mut out, v, props);
                    }
                }
            }
            DefKind::Scalar => {}
        }
    }
    for name in scalars {
        let Some(def) = defs.get(name) else { continue };
        let _ = write!(out, "\n## {name}\n\n{}\n", cell(description(def)));
        if let Some(Value::Array(examples)) = def.get("examples") {
            let list: Vec<String> = examples
                .iter()
                .map(|e| format!("`{}`", scalar_text(e)))
                .collect();
            let _ = write!(out, "\nExamples: {}.\n", list.join(", "));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every property of every object in the schema, with a readable location.
    fn all_properties(schema: &Value) -> Vec<(String, Value)> {
        let mut out = Vec::new();
        let mut objects: Vec<(String, &Value)> = vec![("Config".into(), schema)];
        if let Some(Value::Object(defs)) = schema.get("$defs") {
            for (name, def) in defs {
                objects.push((name.clone(), def));
                if let Some(Value::Array(variants)) = def.get("oneOf") {
                    for (i, v) in variants.iter().enumerate() {
                        objects.push((format!("{name}.oneOf[{i}]"), v));
                    }
                }
            }
        }
        for (owner, object) in objects {
            if let Some(Value::Object(props)) = object.get("properties") {
                for (key, prop) in props {
                    out.push((format!("{owner}.{key}"), prop.clone()));
                }
            }
        }
        out
    }

    #[test]
    fn every_property_has_a_description() {
        let schema = json_schema();
        let missing: Vec<String> = all_properties(&schema)
            .into_iter()
            .filter(|(_, p)| description(p).trim().is_empty())
            .map(|(at, _)| at)
            .collect();
        assert!(
            missing.is_empty(),
            "properties without description: {missing:?}"
        );
    }

    #[test]
    fn every_definition_and_enum_value_has_a_description() {
        let schema = json_schema();
        let defs = schema["$defs"].as_object().expect("$defs");
        for (name, def) in defs {
            assert!(!description(def).is_empty(), "{name} has no description");
            if let DefKind::Enum(variants) = def_kind(def) {
                for v in variants {
                    assert!(
                        !description(v).is_empty(),
                        "{name} value {v} has no description"
                    );
                }
            }
        }
    }

    #[test]
    fn schema_is_identified() {
        let schema = json_schema();
        assert_eq!(schema["$id"], "flexgate/v1");
        assert_eq!(schema["title"], "flexgate/v1");
        assert_eq!(schema["properties"]["version"]["const"], 1);
    }

    #[test]
    fn reference_covers_every_definition() {
        let md = reference_markdown();
        let schema = json_schema();
        for name in schema["$defs"].as_object().expect("$defs").keys() {
            assert!(md.contains(&format!("\n## {name}\n")), "{name} missing");
        }
        assert!(md.contains("| `version` | `1` | **required** |"));
        assert!(md.contains("Used at `upstreams[].health_check`."));
    }
}
