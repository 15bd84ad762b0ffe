#!/usr/bin/env bash
# Ethereum scale benchmark (called by `scripts/bench.sh eth-scale`): indexing
# at least 1M transfers with the node not the bottleneck.
#
# The block stream is SYNTHETIC, generated once in the exact JSON shapes anvil
# answers (captured from anvil: eth_getBlockByNumber with full transactions,
# eth_getBlockReceipts, debug_traceBlockByHash with callTracer) - filling
# anvil with a million transfers one block at a time would take hours. It
# holds ETH payments, ERC-20 transfers over 40 tokens and contract calls
# paying out internally, among 400k addresses with a few hot ones, and is
# cached under $TARGET/bench-data/eth-scale/<parameters>. A loopback JSON-RPC
# server written in Rust (a child process of the benchmark) replays it. In
# one run (crates/eth/examples/eth_scale_bench.rs): fetch-only (the index's
# requests, parsed and dropped; best of a pass before and one after indexing),
# fetch + decode (the sync loop's fetch pipeline) and indexing through the
# sync loop into a fresh store; prints transfers/s and CPU seconds of each,
# the ratio, bytes per transfer per table and peak memory. With
# BENCH_ROWS set, appends rows (see scripts/bench.sh).
#
# Environment: ETH_SCALE_BLOCKS (3200), ETH_SCALE_TXS_PER_BLOCK (100; about
# 3.2 transfers per transaction, so 1.0M transfers by default),
# ETH_SCALE_SEED (1), ETH_SCALE_CONCURRENCY (8). Extra arguments go to the
# benchmark binary (e.g. --keep-store).
set -euo pipefail

cd "$(dirname "$0")/.."
target="${CARGO_TARGET_DIR:-target}"
cargo build --release --quiet --workspace --example eth_scale_bench
mkdir -p "$target/bench-data/eth-scale"
echo "## Ethereum scale benchmark"
echo
exec "$target/release/examples/eth_scale_bench" \
    --blocks "${ETH_SCALE_BLOCKS:-3200}" \
    --txs-per-block "${ETH_SCALE_TXS_PER_BLOCK:-100}" \
    --seed "${ETH_SCALE_SEED:-1}" \
    --concurrency "${ETH_SCALE_CONCURRENCY:-8}" \
    --cache "$target/bench-data/eth-scale" \
    "$@"
