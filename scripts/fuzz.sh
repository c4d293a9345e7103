#!/usr/bin/env bash
# Runs both fuzz targets (fuzz/: config_parse, request_front) for a bounded time each.
#
#   scripts/fuzz.sh [SECONDS_PER_TARGET]     (default 60)
#
# With a nightly toolchain and cargo-fuzz (installed here when missing, if rustup and crates.io
# are reachable; FLEXGATE_FUZZ_INSTALL=0 skips that): coverage-guided fuzzing with libFuzzer,
# `cargo +nightly fuzz run <target> -- -max_total_time=SECONDS`.
# Otherwise: the bounded random-input run on stable (fuzz/bounded), which feeds the same target
# bodies a seeded pseudo-random input stream. That is not fuzzing (no coverage feedback); the
# script says which of the two ran. FLEXGATE_FUZZ_MODE=bounded forces the stable run.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-60}"
targets=(config_parse request_front)

have_fuzzer() {
  [ "${FLEXGATE_FUZZ_MODE:-}" != bounded ] &&
    command -v rustup >/dev/null 2>&1 &&
    rustup run nightly rustc --version >/dev/null 2>&1 &&
    cargo fuzz --version >/dev/null 2>&1
}

if ! have_fuzzer && [ "${FLEXGATE_FUZZ_INSTALL:-1}" = 1 ] && [ "${FLEXGATE_FUZZ_MODE:-}" != bounded ]; then
  echo "Setting up fuzzing: nightly toolchain and cargo-fuzz"
  if command -v rustup >/dev/null 2>&1; then
    rustup toolchain install nightly --profile minimal >/dev/null 2>&1 || echo "  nightly toolchain: not installable here"
  fi
  cargo install cargo-fuzz --locked >/dev/null 2>&1 || echo "  cargo-fuzz: not installable here"
fi

if have_fuzzer; then
  for target in "${targets[@]}"; do
    echo "fuzzing $target for ${seconds}s (cargo-fuzz, libFuzzer, $(rustup run nightly rustc --version))"
    # Only the summary and any failure are shown; with pipefail a crash fails the script.
    (cd fuzz && cargo +nightly fuzz run "$target" -- -max_total_time="$seconds" 2>&1 |
      grep -E '^(Done [0-9]+ runs|==[0-9]+==|SUMMARY|thread .* panicked|.*Test unit written|error)')
  done
else
  echo "bounded random-input run on stable (not coverage-guided): nightly or cargo-fuzz unavailable, or FLEXGATE_FUZZ_MODE=bounded"
  cargo build --quiet --manifest-path fuzz/Cargo.toml -p flexgate-fuzz-bounded --release
  for target in "${targets[@]}"; do
    cargo run --quiet --manifest-path fuzz/Cargo.toml -p flexgate-fuzz-bounded --release -- \
      "$target" --seconds "$seconds"
  done
fi
