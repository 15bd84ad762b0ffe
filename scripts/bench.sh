#!/usr/bin/env bash
# Benchmarks of chainsleuth, each quoting its figures against a baseline
# measured in the same run (the machine may be shared and noisy).
#
# Usage:
#   scripts/bench.sh          run every benchmark in turn, then print one
#                             Markdown table: figure | value | baseline | ratio | aim
#   scripts/bench.sh NAME     run one benchmark; it prints its own table
#   scripts/bench.sh --help   this text
#
# Names:
#   btc    Bitcoin indexing vs. parse-only, store size, page latency
#   eth    Ethereum indexing vs. fetch-only, against anvil
#   tags   importing 1,000,000 tags, memory, lookup latency
#   trace  tracing 100 seeds on 1M- and 5M-transaction chains
#   load   200 API clients while indexing: kept store handles vs. an open per request
#   eth-scale  Ethereum, 1M transfers replayed from a loopback server: indexing vs. fetch-only
#   btc-scale  Bitcoin at 2M and 20M txs: tx/s per tenth, memory, B/tx and bytes written per table, mainnet projection
#   all    the same as no argument
# Each script's header lists its size variables; a whole run with the
# default sizes takes about an hour on 2 cores, most of it btc-scale's 20M
# chain (BTC_SCALE_SIZES=2m leaves it out). Simulated chains are cached
# under target/bench-data (several GB; keep it between runs).
#
# Rows. When the environment variable BENCH_ROWS names a file, a benchmark
# appends one line per figure to it (and still prints its own table):
#     figure<TAB>value<TAB>baseline<TAB>ratio<TAB>aim
# - figure: "<name>: <what>", e.g. "btc: indexing rate"
# - value, baseline: numbers with their unit, e.g. "16.2k tx/s", "330 B/tx"
# - ratio: value / baseline (or the ratio the aim is about) as a plain
#   decimal, e.g. "0.05"
# - aim: the issue's aim for this figure, e.g. ">= 0.25 of parse-only"
# Any field with nothing to say is "—"; no tab or newline inside a field.
# Shell benchmarks source scripts/lib/bench-row.sh and call bench_row; Rust
# ones call chainsleuth_store::bench::bench_row. With no argument this
# script sets BENCH_ROWS to a fresh file, runs every benchmark in ALL (their
# own output and progress lines on stderr) and prints the rows as one table.
#
# A benchmark NAME is the script scripts/bench-NAME.sh; add it to ALL below.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
ALL=(btc eth tags trace load eth-scale btc-scale)

usage() { awk 'NR > 1 && !/^#/ { exit } NR > 1 { sub(/^# ?/, ""); print }' "$0"; }

run_all() {
  local failed=()
  rows="$(mktemp)"  # global: the EXIT trap runs after this function returns
  trap 'rm -f "$rows"' EXIT
  for b in "${ALL[@]}"; do
    echo "bench.sh: [$(date +%H:%M:%S)] $b ..." >&2
    local start=$SECONDS
    if BENCH_ROWS="$rows" bash "$here/bench-$b.sh" >&2; then
      echo "bench.sh: [$(date +%H:%M:%S)] $b done in $((SECONDS - start)) s" >&2
    else
      echo "bench.sh: $b FAILED (exit $?)" >&2
      failed+=("$b")
    fi
  done
  echo "| figure | value | baseline | ratio | aim |"
  echo "|---|---:|---:|---:|---|"
  awk -F'\t' '{ printf "| %s | %s | %s | %s | %s |\n", $1, $2, $3, $4, $5 }' "$rows"
  if ((${#failed[@]})); then
    echo
    echo "failed: ${failed[*]}"
    return 1
  fi
}

case "${1:-all}" in
  -h | --help) usage ;;
  all) [[ $# -le 1 ]] || { usage >&2; exit 2; }; run_all ;;
  *)
    name="$1"; shift
    if [[ ! "$name" =~ ^[a-z0-9-]+$ || ! -f "$here/bench-$name.sh" ]]; then
      echo "bench.sh: no benchmark named $name" >&2
      usage >&2
      exit 2
    fi
    exec bash "$here/bench-$name.sh" "$@"
    ;;
esac
