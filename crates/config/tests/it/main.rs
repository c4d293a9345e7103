//! Integration tests of `flexgate-config`, in one binary so they build once.

mod cases;
mod diff;
mod docs;
mod examples;
mod load;
mod roundtrip;
mod shadowing;
mod ssrf;

use std::path::PathBuf;

/// Path of a file relative to the workspace root.
pub fn workspace_file(relative: &str) -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../..")).join(relative)
}

/// Whether checked-in generated files should be rewritten instead of compared.
pub fn blessing() -> bool {
    std::env::var_os("FLEXGATE_BLESS").is_some_and(|v| v == "1")
}

/// Compares `actual` with the checked-in file at `path`, or rewrites the file when blessing.
pub fn assert_matches_file(path: &std::path::Path, actual: &str) {
    let relative = path.display();
    if blessing() {
        std::fs::write(path, actual).expect("write blessed file");
        return;
    }
    let expected = std::fs::read_to_string(path).unwrap_or_default();
    assert!(
        expected == actual,
        "{relative} is out of date; regenerate it with `FLEXGATE_BLESS=1 cargo test -p flexgate-config`\n--- first difference at line {} ---",
        expected
            .lines()
            .zip(actual.lines())
            .position(|(a, b)| a != b)
            .map_or_else(|| expected.lines().count().min(actual.lines().count()) + 1, |i| i + 1)
    );
}
