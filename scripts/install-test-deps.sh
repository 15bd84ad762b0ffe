#!/usr/bin/env bash
# Installs what the test suites need beyond cargo, idempotently and quietly:
#   - libclang (RocksDB's bindgen), from apt when no libclang.so is found;
#   - Graphviz (tests parse trace reports with dot), from apt;
#   - Chromium and its chromedriver (tests/web.rs drives the web view
#     headless over WebDriver), Debian's chromium and chromium-driver, from apt;
#   - anvil, a real Ethereum dev node, from the npm package
#     @foundry-rs/anvil-linux-amd64 (pinned) into <repo>/.tools/anvil/.
#   - Java (Debian's default-jre-headless) and a Python venv at
#     <repo>/.tools/py with pyspark and duckdb from PyPI (pinned): tests/export.rs
#     runs scripts/spark/clusters.py on Spark and reads the Parquet back with DuckDB.
# Tests find anvil at <repo>/.tools/anvil/bin/anvil, or via $ANVIL_BIN.
# With --demo only what the demo needs: libclang and anvil.
# apt runs through sudo when the script is not run as root.
set -euo pipefail

demo_only=false
case "${1:-}" in
  --demo) demo_only=true ;;
  "") ;;
  *) echo "install-test-deps: unknown argument ${1:?}; usage: install-test-deps.sh [--demo]" >&2; exit 2 ;;
esac

ANVIL_VERSION=1.7.1
PY_PACKAGES="pyspark==4.3.0 duckdb==2.0.0"
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
tools="$repo/.tools"

# libclang itself (libclang.so, libclang-14.so.1), not libclang-cpp, which
# a fresh machine has but bindgen cannot use.
have_libclang() {
  ldconfig -p 2>/dev/null | grep -Eq 'libclang(-[0-9.]+)?\.so' && return 0
  compgen -G '/usr/lib/llvm-*/lib/libclang.so*' >/dev/null && return 0
  compgen -G '/usr/lib/x86_64-linux-gnu/libclang-[0-9]*.so*' >/dev/null
}

missing=()
have_libclang || missing+=(libclang-dev)
if ! $demo_only; then
  # Graphviz's dot checks that trace reports in DOT parse.
  command -v dot >/dev/null || missing+=(graphviz)
  # Headless Chromium and chromedriver drive the web view in tests/web.rs.
  command -v chromium >/dev/null || missing+=(chromium)
  command -v chromedriver >/dev/null || missing+=(chromium-driver)
  # Spark's JVM, and Python's venv with pip for .tools/py.
  command -v java >/dev/null || missing+=(default-jre-headless)
  python3 -c 'import ensurepip, venv' 2>/dev/null || missing+=(python3-venv)
fi
if ((${#missing[@]})); then
  sudo=()
  if ((EUID != 0)); then
    echo "install-test-deps: installing ${missing[*]} with apt (through sudo)" >&2
    sudo=(sudo)
  fi
  export DEBIAN_FRONTEND=noninteractive
  "${sudo[@]}" apt-get update -qq >/dev/null
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi

anvil_dir="$tools/anvil"
stamp="$anvil_dir/.version"
if [[ ! -x "$anvil_dir/bin/anvil" || "$(cat "$stamp" 2>/dev/null)" != "$ANVIL_VERSION" ]]; then
  rm -rf "$anvil_dir"
  mkdir -p "$anvil_dir/bin"
  work="$(mktemp -d)"
  trap 'rm -rf "$work"' EXIT
  (cd "$work" && npm pack --silent "@foundry-rs/anvil-linux-amd64@$ANVIL_VERSION" >/dev/null 2>&1)
  tar -xzf "$work"/foundry-rs-anvil-linux-amd64-*.tgz -C "$work"
  bin="$(find "$work/package" -type f -name anvil | head -n1)"
  if [[ -z "$bin" ]]; then
    echo "install-test-deps: no anvil binary in @foundry-rs/anvil-linux-amd64@$ANVIL_VERSION" >&2
    exit 1
  fi
  install -m 0755 "$bin" "$anvil_dir/bin/anvil"
  echo "$ANVIL_VERSION" >"$stamp"
fi

# The Python venv for the Spark job and DuckDB (not needed by the demo).
py_dir="$tools/py"
py_stamp="$py_dir/.packages"
if ! $demo_only && [[ ! -x "$py_dir/bin/python" || "$(cat "$py_stamp" 2>/dev/null)" != "$PY_PACKAGES" ]]; then
  rm -rf "$py_dir"
  python3 -m venv "$py_dir"
  # shellcheck disable=SC2086 # the pinned list splits into packages
  "$py_dir/bin/pip" install --quiet --disable-pip-version-check $PY_PACKAGES >/dev/null
  echo "$PY_PACKAGES" >"$py_stamp"
fi
