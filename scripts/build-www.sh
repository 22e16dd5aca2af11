#!/usr/bin/env bash
# Puts what the dashboard (www/) imports into www/vendor/ (build output, not committed): the npm
# package exactly as users get it (the packed tarball, unpacked) and uPlot from npm. Builds the
# package first when pkg/ has no tarball or an older one than its sources (scripts/build-npm.sh
# installs its own tools).
set -euo pipefail
cd "$(dirname "$0")/.."

tarball=$(ls pkg/edgesketch-*.tgz 2>/dev/null || true)
# (Re)build the package when there is none or a source of it changed since.
if [ -z "$tarball" ] || [ -n "$(find src wasm pkg-template Cargo.toml Cargo.lock scripts/build-npm.sh \
    -newer "$tarball" -print -quit)" ]; then
  bash scripts/build-npm.sh
  tarball=$(ls pkg/edgesketch-*.tgz)
fi
[ -d node_modules/uplot ] || npm ci --no-audit --no-fund

rm -rf www/vendor
mkdir -p www/vendor/edgesketch www/vendor/uplot
tar -xzf "$tarball" -C www/vendor/edgesketch --strip-components=1
cp node_modules/uplot/dist/uPlot.esm.js node_modules/uplot/dist/uPlot.min.css node_modules/uplot/LICENSE \
  www/vendor/uplot/
echo "www/vendor: $(basename "$tarball") and uPlot $(node -p "require('./node_modules/uplot/package.json').version")"
