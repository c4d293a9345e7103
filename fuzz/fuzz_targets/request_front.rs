//! Feeds arbitrary bytes as request targets and header fields to the data plane's front end:
//! path normalisation and the head checks (see `bodies/request_front.rs`, which the bounded
//! random-input runner in `bounded/` shares).
#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "../bodies/request_front.rs"]
mod body;

fuzz_target!(|data: &[u8]| body::run(data));
