#!/usr/bin/env bash
# Bitcoin scale benchmark (called by `scripts/bench.sh btc-scale`): how the
# cost of indexing grows with the chain, and a projection to mainnet.
#
# For each size, builds a simulated regtest chain with mainnet-like shapes
# (address reuse, long-lived coins so the UTXO set grows, four exchange-like
# hot wallets with huge histories, a growing population, 1- to 100-input and
# output transactions; placeholder signatures, so generation is fast) into a
# Bitcoin Core blocks directory, cached under
# $TARGET/bench-data/btc-scale/<parameters>, then measures in one run
# (crates/btc/examples/scale_bench.rs): parse-only and indexing tx/s per
# tenth of the chain, their ratios, last tenth / first tenth, store size per
# table and per transaction, peak memory (VmHWM), and a projection to 1.1
# billion transactions (rate fitted against ln(store size), stated in the
# output). Prints one report per size; with BENCH_ROWS set, appends rows.
#
# Environment: BTC_SCALE_SIZES ("2m 20m"; a size is 2m, 20m or a block
# count), BTC_SCALE_TXS_PER_BLOCK (2000), BTC_SCALE_SEED (1),
# BTC_BENCH_WORKERS (2). Sizes: 2m = 1,105 blocks (2.0M txs), 20m = 10,105
# blocks (about 20M txs, 7.5 GB of blocks, tens of minutes on 2 cores).
# Extra arguments go to the benchmark binary (e.g. --keep-store).
set -euo pipefail

cd "$(dirname "$0")/.."
target="${CARGO_TARGET_DIR:-target}"
cargo build --release --quiet --workspace --example scale_bench
bin="$target/release/examples/scale_bench"
for size in ${BTC_SCALE_SIZES:-2m 20m}; do
  case "$size" in
    2m) blocks=1105 ;;
    20m) blocks=10105 ;;
    *[!0-9]* | '') echo "bench-btc-scale.sh: unknown size $size (2m, 20m or a block count)" >&2; exit 2 ;;
    *) blocks="$size" ;;
  esac
  args=(--blocks "$blocks" --txs-per-block "${BTC_SCALE_TXS_PER_BLOCK:-2000}"
        --seed "${BTC_SCALE_SEED:-1}" --workers "${BTC_BENCH_WORKERS:-2}"
        --cache "$target/bench-data/btc-scale")
  # Build the chain in its own process so that the generator's memory does not count in the peak.
  "$bin" "${args[@]}" --build-only
  echo "## Bitcoin scale benchmark, $size ($blocks blocks)"
  echo
  "$bin" "${args[@]}" "$@"
  echo
done
