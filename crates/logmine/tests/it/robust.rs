//! Random input: masking and mining never panic, and what they produce stays well formed.

use flexgate_logmine::{Miner, MinerConfig};

/// Pieces that exercise every rule and its edges, including multi-byte characters next to
/// delimiters and bytes that resemble the internal placeholders.
const PIECES: &[&str] = &[
    "a",
    "Z",
    "é",
    "日本",
    "0",
    "7",
    "42",
    "-",
    "_",
    ".",
    ":",
    "::",
    "/",
    "\\",
    "@",
    "=",
    "x",
    "0x",
    "ff",
    "v",
    "ms",
    "KB",
    " ",
    "  ",
    "\t",
    "(",
    ")",
    "[",
    "]",
    "\"",
    "'",
    ",",
    "%",
    "~",
    "\u{1}",
    "\u{10}",
    "\u{1f}",
    "\u{7f}",
    "password",
    "Bearer",
    "http",
    "://",
    "blk_",
    "-1",
    "Thu",
    "Aug",
    "eth0",
    "deadbeefcafe",
    "bf1a281b-ad7b-4476-ac95-f47682990ce7",
    "10.0.0.1",
    "fe80::1",
];

fn lines(seed: u64, count: usize) -> Vec<String> {
    let mut state = seed;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    (0..count)
        .map(|_| {
            let n = (next() % 24) as usize;
            (0..n)
                .map(|_| PIECES[(next() % PIECES.len() as u64) as usize])
                .collect()
        })
        .collect()
}

fn well_formed(text: &str) -> bool {
    !text.chars().any(|c| ('\u{10}'..='\u{1f}').contains(&c))
}

#[test]
fn random_lines_never_break_the_miner() {
    let mut miner = Miner::new(MinerConfig {
        max_clusters: 200,
        max_tokens: 16,
        ..MinerConfig::default()
    });
    for line in lines(0x9e37_79b9_7f4a_7c15, 20_000) {
        let masked = flexgate_logmine::mask::mask(&line);
        assert!(well_formed(&masked), "{line:?} -> {masked:?}");
        let id = miner.add(&line);
        let cluster = miner.cluster(id).expect("the line's cluster exists");
        assert!(well_formed(cluster.template()), "{:?}", cluster.template());
        assert!(well_formed(cluster.example()), "{:?}", cluster.example());
        assert!(miner.len() <= 200);
    }
    let saved = miner.save();
    let restored = Miner::load(&saved).unwrap();
    assert_eq!(restored.save(), saved);
}
