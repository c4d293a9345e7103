//! The checked-in operator reference is generated from the schema.

use std::path::Path;

use crate::assert_matches_file;

#[test]
fn config_reference_is_up_to_date() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../docs/config-reference.md"
    );
    assert_matches_file(
        Path::new(path),
        &flexgate_config::schema::reference_markdown(),
    );
}
