# Sourced by the benchmark scripts (the row format is in scripts/bench.sh).

# bench_row FIGURE VALUE BASELINE RATIO AIM: appends one row to the file
# named by $BENCH_ROWS, if set. An empty field is written as "—".
bench_row() {
  [[ -n "${BENCH_ROWS:-}" ]] || return 0
  printf '%s\t%s\t%s\t%s\t%s\n' "$1" "${2:-—}" "${3:-—}" "${4:-—}" "${5:-—}" >>"$BENCH_ROWS"
}

# peak_rss_mib LOG: the peak resident memory, in MiB, from a log written
# by `/usr/bin/time -v -o LOG`.
peak_rss_mib() {
  awk -F: '/Maximum resident set size/ {gsub(/ /, "", $2); print int($2 / 1024)}' "$1"
}
