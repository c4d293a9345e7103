#!/usr/bin/env bash
# Runs FlexGate's whole test suite. Installs the system tools the tests use when they are missing
# (as root, with apt-get) so that it passes on a fresh Debian machine:
#   promtool (Debian package `prometheus`): checks the /metrics output;
#   redis-server (Debian package `redis-server`): the tests of shared rate limits start their own.
set -euo pipefail
cd "$(dirname "$0")/.."

need_packages=()
command -v promtool >/dev/null 2>&1 || need_packages+=(prometheus)
command -v redis-server >/dev/null 2>&1 || need_packages+=(redis-server)
if [ "${#need_packages[@]}" -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "Installing test prerequisites: ${need_packages[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${need_packages[@]}" >/dev/null
  else
    echo "Missing test prerequisites (Debian packages): ${need_packages[*]}" >&2
    echo "Install them, then run this script again." >&2
    exit 1
  fi
fi

if cargo nextest --version >/dev/null 2>&1; then
  cargo nextest run --workspace --no-fail-fast "$@"
else
  cargo test --workspace --no-fail-fast "$@"
fi
