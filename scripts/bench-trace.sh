#!/usr/bin/env bash
# Tracer benchmark: two simulated regtest chains of about SMALL and LARGE
# transactions (default 1M and 5M) from the same simulator seed, so the
# small chain is a prefix of the large one. 100 seed addresses from the
# small chain are traced on both stores, 10 hops, all four models in one
# run, in a window of the last WINDOW blocks (default 40) of the small
# chain: funds that moved in that window, followed to its end, so both
# traces follow the same reachable set through stores of different sizes.
# Prints the command's and the kernels' time (from the trace's log line),
# coins visited and peak memory for both, and their ratios.
#
# Chains and stores are cached under target/bench-data/trace (several GB;
# the first run simulates and indexes them, about 25 minutes on 2 cores).
# A store this build cannot read (after a store format change) is indexed
# again from the cached chain.
# Usage: scripts/bench-trace.sh [SMALL_TXS] [LARGE_TXS] [WINDOW]
set -euo pipefail

small="${1:-1000000}"
large="${2:-5000000}"
window="${3:-40}"
per_block=200   # asked per block; the simulator makes about 160
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
source scripts/lib/bench-row.sh
cargo build --release --quiet --bin chainsleuth
bin="$root/target/release/chainsleuth"
cache="$root/target/bench-data/trace"
mkdir -p "$cache"

blocks_for() { echo $(( $1 / 160 + 100 )); }
b_small="$(blocks_for "$small")"
b_large="$(blocks_for "$large")"
b_from=$(( b_small - window ))

prepare() { # blocks
  local dir="$cache/chain-$1"
  if [[ ! -f "$dir/done" ]]; then
    rm -rf "$dir"
    echo "simulating $1 blocks (once; cached in $dir)" >&2
    "$bin" -q simulate btc --out "$dir/chain" --blocks "$1" --txs-per-block "$per_block" --seed 42 >/dev/null
  elif "$bin" -q --data-dir "$dir/data" status >/dev/null 2>&1; then
    return
  else
    echo "indexing $dir/chain again: this build cannot read its store (format change?)" >&2
    rm -rf "$dir/data"
  fi
  "$bin" -q --data-dir "$dir/data" index btc --network regtest --blocks-dir "$dir/chain/blocks"
  touch "$dir/done"
}
prepare "$b_small"
prepare "$b_large"

# 100 seeds: addresses of the small chain with at least 3 transactions,
# picked by a hash of the address so the choice is fixed and spread out.
seeds="$cache/seeds-$b_small.txt"
python3 - "$cache/chain-$b_small/chain/truth.json" "$seeds" <<'PY'
import hashlib, json, sys
truth = json.load(open(sys.argv[1]))
addresses = truth["addresses"]
busy = sorted((a for a, t in addresses.items() if t["tx_count"] >= 3),
              key=lambda a: hashlib.sha256(a.encode()).hexdigest())
with open(sys.argv[2], "w") as f:
    for a in busy[:100]:
        f.write(f"btc:{a}\n")
PY

run() { # blocks -> "seconds kernel_seconds visited peak_mib txs"
  local dir="$cache/chain-$1" log out
  log="$(mktemp)"; out="$(mktemp)"
  local trace=(trace --seeds-file "$seeds" --max-hops 10 --from-block "$b_from" --to-block "$b_small" --format json)
  "$bin" -q --data-dir "$dir/data" "${trace[@]}" --out "$out" >/dev/null  # warm the page cache once
  /usr/bin/time -v "$bin" --log-format json --data-dir "$dir/data" "${trace[@]}" --out "$out" 2>"$log"
  local secs kernel peak visited txs
  secs="$(awk -F': ' '/Elapsed \(wall clock\)/ {n=split($2,p,":"); s=0; for(i=1;i<=n;i++) s=s*60+p[i]; print s}' "$log")"
  kernel="$(python3 -c 'import json,sys
for line in open(sys.argv[1]):
    if line.startswith("{") and "\"traced\"" in line: print(round(json.loads(line)["fields"]["seconds"], 3))' "$log")"
  peak="$(peak_rss_mib "$log")"
  visited="$(python3 -c 'import json,sys; r=json.load(open(sys.argv[1])); print(sum(m["visited"] for m in r["models"].values()))' "$out")"
  txs="$("$bin" -q --data-dir "$dir/data" status --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["btc"]["transactions"])')"
  rm -f "$log" "$out"
  echo "$secs $kernel $visited $peak $txs"
}

read -r s_secs s_kernel s_visited s_peak s_txs < <(run "$b_small")
read -r l_secs l_kernel l_visited l_peak l_txs < <(run "$b_large")

echo "100 seeds, 10 hops, 4 models, window blocks $b_from..=$b_small"
echo
echo "| chain | blocks | transactions | command seconds | kernel seconds | coins visited (4 models) | peak RSS MiB |"
echo "|---|---:|---:|---:|---:|---:|---:|"
echo "| small | $b_small | $s_txs | $s_secs | $s_kernel | $s_visited | $s_peak |"
echo "| large | $b_large | $l_txs | $l_secs | $l_kernel | $l_visited | $l_peak |"
python3 - "$s_secs" "$l_secs" "$s_kernel" "$l_kernel" "$s_visited" "$l_visited" "$s_txs" "$l_txs" <<'PY'
import sys
s, l, sk, lk, sv, lv, st, lt = map(float, sys.argv[1:])
print(f"\nlarge/small: chain {lt/st:.2f}, coins visited {lv/sv:.2f}, command time {l/s:.2f}, kernel time {lk/sk:.2f}")
print(f"kernel cost per coin visited: small {sk/sv*1e6:.2f} us, large {lk/lv*1e6:.2f} us")
PY

ratio() { python3 -c 'import sys; print(f"{float(sys.argv[1]) / float(sys.argv[2]):.2f}")' "$1" "$2"; }
chains="$((l_txs / 1000))k vs $((s_txs / 1000))k txs"
bench_row "trace: command time, 100 seeds, 10 hops, 4 models ($chains)" "$l_secs s" "$s_secs s" \
  "$(ratio "$l_secs" "$s_secs")" "ratio under 1.3 (issue 7)"
bench_row "trace: kernel time on the large chain" "$l_kernel s" "$s_kernel s" "$(ratio "$l_kernel" "$s_kernel")" \
  "under 1 s on 2 cores (issue 7)"
bench_row "trace: coins visited (4 models)" "$l_visited" "$s_visited" "$(ratio "$l_visited" "$s_visited")"
bench_row "trace: peak memory (RSS)" "$l_peak MiB" "$s_peak MiB" "$(ratio "$l_peak" "$s_peak")"
