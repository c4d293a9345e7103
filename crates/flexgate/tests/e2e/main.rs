//! End-to-end tests of the flexgate binary.
