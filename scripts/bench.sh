#!/usr/bin/env bash
# Benchmarks, each printing a table with a baseline measured in the same run:
#   scripts/bench.sh btc    Bitcoin indexing vs. parse-only, store size, page latency
#   scripts/bench.sh eth    Ethereum indexing vs. fetch-only, against anvil
#   scripts/bench.sh tags   importing 1,000,000 tags, memory, lookup latency
#   scripts/bench.sh trace  tracing 100 seeds on 1M- and 5M-transaction chains
#   scripts/bench.sh all    all of the above
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
usage() { sed -n '2,7p' "$0" | sed 's/^# \{0,1\}//'; exit 2; }
[ $# -eq 1 ] || usage
case "$1" in
  btc | eth | tags | trace) exec bash "$here/bench-$1.sh" ;;
  all) for b in btc eth tags trace; do bash "$here/bench-$b.sh"; echo; done ;;
  *) usage ;;
esac
