#!/usr/bin/env bash
# The README's main job: the merge server on its embedded store with the live dashboard and a
# fleet of synthetic edge workers sending it envelopes; prints the dashboard's URL. On a fresh
# machine it first installs what is missing (Node and npm from Debian, the npm dev tools, the
# wasm32 target and the wasm-bindgen CLI) and builds the npm package and the dashboard's vendor
# files; later runs skip all of that. Arguments go to `edgesketch-server demo` (see --help);
# EDGESKETCH_LISTEN (default 127.0.0.1:8080) and the other EDGESKETCH_* variables configure it.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  echo "installing: nodejs npm"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends nodejs npm
fi
bash scripts/build-www.sh
cargo build --release -p edgesketch-server
exec target/release/edgesketch-server demo "$@"
