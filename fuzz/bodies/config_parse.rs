//! Body of the `config_parse` target: arbitrary bytes to the config parser as YAML and as JSON.
//!
//! Config files come from operators, reloads and (later) the control plane; whatever they
//! contain, loading must return an error rather than panic, hang or blow the stack. When a
//! document does load, it must also survive a YAML round trip unchanged, since
//! `flexgate config migrate` and exports rely on that.

use flexgate_config::load::to_yaml;
use flexgate_config::{parse_str, validate, SourceFormat};

/// Runs one input; panics when an invariant breaks.
pub fn run(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    for format in [SourceFormat::Yaml, SourceFormat::Json] {
        match parse_str(&text, format) {
            Ok(loaded) => {
                assert!(validate(&loaded.config).iter().all(|d| !d.is_error()));
                let yaml = to_yaml(&loaded.config).expect("a loaded config serializes");
                let again = parse_str(&yaml, SourceFormat::Yaml)
                    .unwrap_or_else(|e| panic!("re-parsing a loaded config failed: {e}\n{yaml}"));
                assert_eq!(again.config, loaded.config);
            }
            Err(error) => {
                // Rendering the error walks every diagnostic; it must not panic either.
                let _ = error.to_string();
            }
        }
    }
}
