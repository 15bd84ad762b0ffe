#!/usr/bin/env bash
# API load benchmark (called by `scripts/bench.sh load`): tests/load.rs with
# CHAINSLEUTH_LOAD_COMPARE=1, i.e. 200 keep-alive clients asking for address
# and history pages over loopback for CHAINSLEUTH_LOAD_SECS (30) seconds
# while the Bitcoin worker indexes a growing chain, once with the server's
# kept store handles and once with a store open per request (the baseline).
# Prints requests/s and latency percentiles of both runs.
set -euo pipefail
cd "$(dirname "$0")/.."
CHAINSLEUTH_LOAD_COMPARE=1 cargo test --release -q --workspace --test load -- --nocapture 2>&1 |
  grep -E '^(kept handles|an open per request)' || { echo "bench-load: the benchmark failed" >&2; exit 1; }
