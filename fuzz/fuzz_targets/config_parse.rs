//! Feeds arbitrary bytes to the config parser as YAML and as JSON (see `bodies/config_parse.rs`,
//! which the bounded random-input runner in `bounded/` shares).
#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "../bodies/config_parse.rs"]
mod body;

fuzz_target!(|data: &[u8]| body::run(data));
