#!/usr/bin/env bash
# Ethereum indexing benchmark: fills anvil with >= 5,000 blocks of mixed
# activity (ETH, ERC-20, WETH, internal calls), then prints blocks/s and
# transfers/s indexed, a fetch-only baseline measured in the same run (the
# same JSON-RPC requests, answers parsed and dropped), and their ratio.
#
# Tunables (environment): BENCH_BLOCKS (5000), BENCH_TXS_PER_BLOCK (4),
# BENCH_FETCH_CONCURRENCY (8).
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
"$repo/scripts/install-test-deps.sh"
cd "$repo"
cargo test --release -q --workspace --test bench -- --ignored --nocapture 2>&1 |
  grep -E '^(\||eth benchmark|filled|store:)' || { echo "bench-eth: the benchmark failed" >&2; exit 1; }
