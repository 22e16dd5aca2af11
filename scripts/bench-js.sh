#!/usr/bin/env bash
# The npm package beside JS peers (bench/js/bench.mjs): builds and installs the package into a
# scratch project, then prints the tables docs/BENCHMARKS.md shows. Not part of the tests.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
bash scripts/build-npm.sh >/dev/null
[ -d node_modules/@datadog/sketches-js ] || npm ci --no-audit --no-fund
scratch="$root/target/npm-bench"
rm -rf "$scratch" && mkdir -p "$scratch"
cp bench/js/bench.mjs "$scratch/"
cd "$scratch"
echo '{ "name": "edgesketch-npm-bench", "private": true, "type": "module" }' > package.json
npm install --no-audit --no-fund --no-save "$(ls "$root"/pkg/edgesketch-*.tgz)" >/dev/null
PEERS_FROM="$root/package.json" node bench.mjs
