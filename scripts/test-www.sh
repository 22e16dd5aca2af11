#!/usr/bin/env bash
# Tests the dashboard (www/): its browser-side math in Node with the packed package, then the
# page itself in headless Chromium (Debian's, through playwright-core) against the real server
# running the demo on 127.0.0.1. Needs the packed package (scripts/build-npm.sh; scripts/test-npm.sh
# runs it first) and the npm dev tools (npm ci). Screenshots of each panel: target/dashboard-artifacts/.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/build-www.sh
[ -d node_modules/playwright-core ] || npm ci --no-audit --no-fund
cargo build -p edgesketch-server
rm -rf target/dashboard-artifacts
EDGESKETCH_SERVER_BIN=target/debug/edgesketch-server EDGESKETCH_WWW=www PLAYWRIGHT_CORE=package.json \
  EDGESKETCH_ARTIFACTS=target/dashboard-artifacts \
  node --test --test-concurrency=1 --test-timeout=600000 js-test/www-lib.test.mjs js-test/dashboard.test.mjs
ls target/dashboard-artifacts
