#!/usr/bin/env bash
# Tests the npm package as users get it: builds and packs it (scripts/build-npm.sh), installs the
# tarball into a scratch project, and runs js-test/ there under Node (ESM and CJS).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

bash scripts/build-npm.sh
tarball=$(ls "$root"/pkg/edgesketch-*.tgz)

scratch="$root/target/npm-test"
rm -rf "$scratch"
mkdir -p "$scratch"
cp js-test/*.mjs js-test/*.cjs "$scratch/"
cd "$scratch"
echo '{ "name": "edgesketch-npm-test", "private": true }' > package.json
npm install --no-audit --no-fund --no-save "$tarball" >/dev/null
EDGESKETCH_GOLDEN="$root/tests/golden/v1" node --test node.test.mjs node.test.cjs

# The README's JavaScript tour runs as written.
awk '/^## JavaScript API tour/{on=1} on && /^```js$/{code=1; next} code && /^```$/{exit} code' \
  "$root/README.md" > readme-tour.mjs
[ -s readme-tour.mjs ] || { echo "no JavaScript tour found in README.md" >&2; exit 1; }
node readme-tour.mjs
echo "README JavaScript tour: ran"
