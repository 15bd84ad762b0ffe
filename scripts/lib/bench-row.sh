# Sourced by the benchmark scripts: bench_row FIGURE VALUE BASELINE RATIO AIM
# appends one row to the file named by $BENCH_ROWS, if set (the format is in
# scripts/bench.sh). An empty field is written as "—".
bench_row() {
  [[ -n "${BENCH_ROWS:-}" ]] || return 0
  printf '%s\t%s\t%s\t%s\t%s\n' "$1" "${2:-—}" "${3:-—}" "${4:-—}" "${5:-—}" >>"$BENCH_ROWS"
}
