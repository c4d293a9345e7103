//! Bounded random-input run of the fuzz targets' bodies, on stable Rust without libFuzzer.
//!
//! This is not fuzzing: there is no coverage feedback. It feeds each body a deterministic stream
//! of pseudo-random inputs (seeded, so a failure can be replayed) built from a small seed corpus
//! and a dictionary of tokens that matter to the target, mutated at random, for a bounded time.
//! CI uses it where the nightly toolchain that cargo-fuzz needs cannot be installed.
//!
//! Usage: `bounded-run <config_parse|request_front> [--seconds N] [--seed N]`. On a failing
//! input the body's panic message is printed with the input as hex and the process exits 101.

use std::cell::RefCell;
use std::time::{Duration, Instant};

#[path = "../../bodies/config_parse.rs"]
mod config_parse;
#[path = "../../bodies/request_front.rs"]
mod request_front;

/// xorshift64*: small, fast and reproducible; quality is plenty for picking mutations.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }

    fn pick<'a>(&mut self, items: &[&'a [u8]]) -> &'a [u8] {
        items[self.below(items.len())]
    }
}

const FRONT_TOKENS: &[&[u8]] = &[
    b"/",
    b"//",
    b".",
    b"..",
    b"/..",
    b"/.",
    b"%2e",
    b"%2E",
    b"%2f",
    b"%2F",
    b"%5c",
    b"%5C",
    b"\\",
    b"%00",
    b"%0d%0a",
    b"%25",
    b"%252e",
    b";",
    b";x=1",
    b"?",
    b"?a=1&b=..%2f",
    b"#",
    b"a",
    b"api",
    b"%41",
    b"%7e",
    b"~",
    b"%",
    b"%z",
    b"%4",
    b"%e2%82%ac",
    "\u{e9}".as_bytes(),
    b" ",
    b"*",
    b"http://h.test",
    b"http://169.254.169.254",
    b":80",
    b"\n",
    b"\nhost: a",
    b"\nhost: b",
    b"\ncontent-length: 1",
    b"\ncontent-length: -1",
    b"\ncontent-length: 1, 1",
    b"\ntransfer-encoding: chunked",
    b"\ntransfer-encoding: gzip, chunked",
    b"\nx: \r",
];

const FRONT_SEEDS: &[&[u8]] = &[
    b"/",
    b"/api/users/42?x=1",
    b"/a/../b//c/./d",
    b"/public/%2e%2e/admin",
    b"/public/..;/admin",
    b"http://app.test/a/b?c",
    b"*",
    b"/upload\ncontent-length: 10\ntransfer-encoding: chunked",
];

const CONFIG_TOKENS: &[&[u8]] = &[
    b"\n",
    b"  ",
    b"- ",
    b": ",
    b"{",
    b"}",
    b"[",
    b"]",
    b",",
    b"\"",
    b"'",
    b"&a",
    b"*a",
    b"!!str",
    b"version: 1",
    b"upstreams:",
    b"routes:",
    b"name: u",
    b"url: http://127.0.0.1:1",
    b"targets: [{url: \"http://10.0.0.1:80\"}]",
    b"allow_networks: [\"127.0.0.0/8\"]",
    b"match: {path: /a/*}",
    b"upstream: u",
    b"security: {ssrf: {enabled: false}}",
    b"10MiB",
    b"30s",
    b"0",
    b"-1",
    b"null",
    b"~",
    b"true",
    b"1e999",
];

const CONFIG_SEEDS: &[&[u8]] = &[
    b"version: 1\nupstreams:\n  - name: u\n    targets: [{url: \"http://127.0.0.1:9000\"}]\n    allow_networks: [\"127.0.0.0/8\"]\nroutes:\n  - name: r\n    match: {path: /a/*}\n    upstream: u\n",
    b"{\"version\": 1, \"upstreams\": [{\"name\": \"u\", \"targets\": [{\"url\": \"http://a:1\"}]}], \"routes\": [{\"name\": \"r\", \"match\": {\"path\": \"/x\"}, \"upstream\": \"u\"}]}",
    b"upstreams:\n  - name: a\n    url: http://localhost:3001\nroutes:\n  - path: /a/*\n    upstream: a\n",
];

/// One input: a seed or a token string, then a few random mutations.
fn generate(rng: &mut Rng, seeds: &[&[u8]], tokens: &[&[u8]]) -> Vec<u8> {
    let mut input: Vec<u8> = match rng.below(4) {
        0 => (0..rng.below(64)).map(|_| rng.next() as u8).collect(),
        1 => {
            let mut v = Vec::new();
            for _ in 0..1 + rng.below(24) {
                v.extend_from_slice(rng.pick(tokens));
            }
            v
        }
        _ => rng.pick(seeds).to_vec(),
    };
    for _ in 0..rng.below(6) {
        let at = rng.below(input.len() + 1);
        match rng.below(6) {
            0 => {
                let token = rng.pick(tokens);
                input.splice(at..at, token.iter().copied());
            }
            1 if at < input.len() => input[at] = rng.next() as u8,
            2 if at < input.len() => {
                input.remove(at);
            }
            3 => input.truncate(at),
            4 if !input.is_empty() => {
                let from = rng.below(input.len());
                let to = (from + 1 + rng.below(16)).min(input.len());
                let copy = input[from..to].to_vec();
                input.splice(at..at, copy);
            }
            _ => input.insert(at, rng.pick(tokens).first().copied().unwrap_or(b'/')),
        }
    }
    input
}

/// A target: its body, seed inputs and dictionary.
type Target = (
    fn(&[u8]),
    &'static [&'static [u8]],
    &'static [&'static [u8]],
);

thread_local! {
    static CURRENT: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let target = args.first().map(String::as_str).unwrap_or("");
    let option = |name: &str, default: u64| -> u64 {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .and_then(|v| v.parse().ok())
            .unwrap_or(default)
    };
    let seconds = option("--seconds", 60);
    let seed = option("--seed", 0x5eed_f1e7_c0ff_ee00).max(1);
    let (body, seeds, tokens): Target = match target {
        "config_parse" => (config_parse::run, CONFIG_SEEDS, CONFIG_TOKENS),
        "request_front" => (request_front::run, FRONT_SEEDS, FRONT_TOKENS),
        _ => {
            eprintln!("usage: bounded-run <config_parse|request_front> [--seconds N] [--seed N]");
            std::process::exit(2);
        }
    };
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        default_hook(info);
        CURRENT.with(|c| eprintln!("failing input (hex): {}", hex(&c.borrow())));
    }));

    let mut rng = Rng(seed);
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let mut runs: u64 = 0;
    // The seeds themselves first, then generated inputs until the time is up.
    for input in seeds.iter().map(|s| s.to_vec()) {
        CURRENT.with(|c| *c.borrow_mut() = input.clone());
        body(&input);
        runs += 1;
    }
    while Instant::now() < deadline {
        for _ in 0..256 {
            let input = generate(&mut rng, seeds, tokens);
            CURRENT.with(|c| c.borrow_mut().clone_from(&input));
            body(&input);
            runs += 1;
        }
    }
    println!("{target}: {runs} inputs in {seconds}s (seed {seed}), no failure");
}
