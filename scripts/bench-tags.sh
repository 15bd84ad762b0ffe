#!/usr/bin/env bash
# Tag store benchmark: imports ROWS generated CSV tags (default 1,000,000)
# into a fresh store, then looks up LOOKUPS random tagged addresses.
# Prints rows/s, peak memory (from /usr/bin/time -v) and lookup p50/p99.
#
# Usage: scripts/bench-tags.sh [ROWS] [LOOKUPS]
set -euo pipefail

rows="${1:-1000000}"
lookups="${2:-100000}"
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
source scripts/lib/bench-row.sh

cargo build --release --quiet --workspace --example bench_tags
bin="$root/target/release/examples/bench_tags"

log="$(mktemp)"
trap 'rm -f "$log"' EXIT
/usr/bin/time -v -o "$log" "$bin" "$rows" "$lookups"
peak="$(peak_rss_mib "$log")"
echo "| peak memory (RSS, whole run) | $peak MiB |"
bench_row "tags: peak memory (RSS, $rows tags)" "$peak MiB"
