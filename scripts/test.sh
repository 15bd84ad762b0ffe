#!/usr/bin/env bash
# README's second command: installs what the tests need (once; idempotent)
# and runs the whole test suite in the release profile. Extra arguments go to
# `cargo test` (a test name filters).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-test-deps.sh
if [[ ! -d target/release/deps ]]; then
  echo "test: first build: RocksDB (C++) and the Ethereum stack compile from source, about 12 minutes on 2 cores" >&2
fi
exec cargo test --release --workspace "$@"
