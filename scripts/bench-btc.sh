#!/usr/bin/env bash
# Bitcoin indexing benchmark (called by `scripts/bench.sh btc`).
#
# Builds a simulated regtest chain of >= 200,000 transactions into a Bitcoin
# Core blocks directory (xor.dat included), cached under
# $TARGET/bench-data keyed by its parameters, then measures in one run:
# parse-only (read + deserialize + txid) and indexing through the real sync
# loop into a fresh store (blocks/s, tx/s, MB/s), their ratio, store bytes
# per transaction and address-page latency p50/p99 (100 rows, random
# cursors) for the address with the longest history. Prints a table, then
# the run's peak memory (from /usr/bin/time -v).
#
# Environment: BTC_BENCH_BLOCKS (2000), BTC_BENCH_TXS_PER_BLOCK (110),
# BTC_BENCH_SEED (1), BTC_BENCH_WORKERS (2 runtime worker threads). Extra
# arguments go to the benchmark binary (e.g. --pages 5000, --keep-store).
set -euo pipefail

cd "$(dirname "$0")/.."
source scripts/lib/bench-row.sh
target="${CARGO_TARGET_DIR:-target}"
cargo build --release --quiet --workspace --example index_bench
log="$(mktemp)"
trap 'rm -f "$log"' EXIT
/usr/bin/time -v -o "$log" "$target/release/examples/index_bench" \
    --blocks "${BTC_BENCH_BLOCKS:-2000}" \
    --txs-per-block "${BTC_BENCH_TXS_PER_BLOCK:-110}" \
    --seed "${BTC_BENCH_SEED:-1}" \
    --workers "${BTC_BENCH_WORKERS:-2}" \
    --cache "$target/bench-data" \
    "$@"
peak="$(peak_rss_mib "$log")"
echo
echo "peak memory (RSS, the whole run: parse-only, indexing, pages): $peak MiB"
bench_row "btc: peak memory (RSS)" "$peak MiB" "" "" "under 4 GB (issue 10)"
