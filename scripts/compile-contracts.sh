#!/usr/bin/env bash
# Compiles contracts/*.sol with solcjs (npm package solc, pinned) into
# contracts/build/<Contract>.bin (creation bytecode, hex) and .abi (JSON).
# The build output is committed; run this after changing a source.
set -euo pipefail

SOLC_VERSION=0.8.28
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
solc_dir="$repo/.tools/solc"
if [[ ! -f "$solc_dir/node_modules/solc/package.json" ]] ||
   ! grep -q "\"version\": \"$SOLC_VERSION\"" "$solc_dir/node_modules/solc/package.json"; then
  mkdir -p "$solc_dir"
  npm install --silent --no-audit --no-fund --prefix "$solc_dir" "solc@$SOLC_VERSION" >/dev/null 2>&1
fi

mkdir -p "$repo/contracts/build"
NODE_PATH="$solc_dir/node_modules" node - "$repo/contracts" <<'JS'
const fs = require('fs');
const path = require('path');
const solc = require('solc');
const dir = process.argv[2];
const sources = {};
for (const f of fs.readdirSync(dir).filter((f) => f.endsWith('.sol')).sort()) {
  sources[f] = { content: fs.readFileSync(path.join(dir, f), 'utf8') };
}
const input = {
  language: 'Solidity',
  sources,
  settings: {
    optimizer: { enabled: true, runs: 200 },
    evmVersion: 'cancun',
    outputSelection: { '*': { '*': ['abi', 'evm.bytecode.object'] } },
  },
};
const out = JSON.parse(solc.compile(JSON.stringify(input)));
const errors = (out.errors || []).filter((e) => e.severity === 'error');
if (errors.length) {
  for (const e of errors) console.error(e.formattedMessage);
  process.exit(1);
}
for (const file of Object.keys(out.contracts)) {
  for (const [name, c] of Object.entries(out.contracts[file])) {
    fs.writeFileSync(path.join(dir, 'build', `${name}.bin`), c.evm.bytecode.object + '\n');
    fs.writeFileSync(path.join(dir, 'build', `${name}.abi`), JSON.stringify(c.abi) + '\n');
  }
}
JS
