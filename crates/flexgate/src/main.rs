//! flexgate binary.
fn main() {}
