#!/usr/bin/env bash
# README's first command: installs what the build needs (once; idempotent),
# builds chainsleuth in release mode and runs its demo. Extra arguments go to
# `chainsleuth demo` (try --help).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-test-deps.sh --demo
if [[ ! -x target/release/chainsleuth ]]; then
  echo "demo: first build: RocksDB (C++) and the Ethereum stack compile from source, about 12 minutes on 2 cores" >&2
fi
exec cargo run --release --quiet -- demo "$@"
