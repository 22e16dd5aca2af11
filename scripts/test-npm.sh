#!/usr/bin/env bash
# Tests the npm package as users get it: builds and packs it (scripts/build-npm.sh), installs the
# tarball into a scratch project, and runs js-test/ there: Node (ESM and CJS), a real Worker on
# workerd (npm), the same app as Next.js routes (Vercel's Edge Runtime and Node.js), Deno (npm), a
# page in headless Chromium (Debian's, through playwright-core), pages bundled by Vite and webpack,
# and Node programs bundled by esbuild, all on 127.0.0.1; and the adapter's wasm-bindgen-test
# suite (wasm/tests) in Node and headless Chromium.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

bash scripts/build-npm.sh

# The adapter's own tests (wasm/tests) inside Node and headless Chromium (wasm-bindgen-test).
tools="${EDGESKETCH_TOOLS:-$HOME/.cache/edgesketch/tools}"
export CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUNNER="$tools/bin/wasm-bindgen-test-runner"
cargo test -p edgesketch-wasm --target wasm32-unknown-unknown --target-dir target/npm-wasm-test
printf '{ "goog:chromeOptions": { "args": [%s] } }\n' \
  '"--no-sandbox", "--headless", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run"' \
  > target/webdriver.json
WASM_BINDGEN_USE_BROWSER=1 CHROMEDRIVER="${CHROMEDRIVER:-/usr/bin/chromedriver}" \
  WASM_BINDGEN_TEST_WEBDRIVER_JSON="$root/target/webdriver.json" \
  cargo test -p edgesketch-wasm --target wasm32-unknown-unknown --target-dir target/npm-wasm-test
unset CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUNNER
[ -x node_modules/.bin/workerd ] && [ -d node_modules/playwright-core ] && [ -x node_modules/.bin/tsc ] &&
  [ -d node_modules/uplot ] && [ -d node_modules/@types/node ] && [ -d node_modules/vite ] && [ -d node_modules/webpack ] &&
  [ -x node_modules/.bin/deno ] && [ -d node_modules/next ] && [ -d node_modules/esbuild ] ||
  npm ci --no-audit --no-fund
tarball=$(ls "$root"/pkg/edgesketch-*.tgz)
# The merge server, for the client's end-to-end test (already built by `cargo test`).
cargo build -p edgesketch-server

scratch="$root/target/npm-test"
rm -rf "$scratch"
mkdir -p "$scratch"
cp js-test/*.mjs js-test/*.cjs js-test/*.ts js-test/tsconfig*.json js-test/workerd/worker.mjs "$scratch/"
cd "$scratch"
echo '{ "name": "edgesketch-npm-test", "private": true, "type": "module" }' > package.json
npm install --no-audit --no-fund --no-save "$tarball" >/dev/null
EDGESKETCH_GOLDEN="$root/tests/golden/v1" WORKERD_BIN="$root/node_modules/.bin/workerd" \
  PLAYWRIGHT_CORE="$root/package.json" BUNDLERS_FROM="$root/package.json" NEXT_FROM="$root/package.json" DENO_BIN="$root/node_modules/.bin/deno" \
  EDGESKETCH_SERVER_BIN="$root/target/debug/edgesketch-server" \
  node --test --test-concurrency=1 node.test.mjs node.test.cjs client.test.mjs server.test.mjs \
    workerd.test.mjs nextjs.test.mjs deno.test.mjs chromium.test.mjs bundlers.test.mjs

# The shipped types accept a typed user (and refuse misspelt options).
# Twice: a browser project (the dom lib) and a Node one (@types/node, no dom lib), neither
# skipping the package's own declarations.
"$root/node_modules/.bin/tsc" -p tsconfig.json
"$root/node_modules/.bin/tsc" -p tsconfig.node.json
echo "tsc --noEmit: the typed examples check, with the dom lib and with @types/node alone"

# The package README's samples type-check (strict, as .ts) and the first one runs, as written.
awk '/^```js$/{n++; code=1; next} code && /^```$/{code=0; next} code{print > ("readme-pkg-" n ".ts")}' \
  "$root/pkg-template/README.md"
[ -s readme-pkg-1.ts ] && [ -s readme-pkg-2.ts ] || { echo "no samples found in pkg-template/README.md" >&2; exit 1; }
sed 's/"files": \[[^]]*\]/"files": ["readme-pkg-1.ts", "readme-pkg-2.ts"]/' tsconfig.node.json > tsconfig.readme.json
grep -q readme-pkg-1.ts tsconfig.readme.json || { echo "tsconfig.readme.json: files not replaced" >&2; exit 1; }
"$root/node_modules/.bin/tsc" -p tsconfig.readme.json
cp readme-pkg-1.ts readme-pkg-1.mjs
node readme-pkg-1.mjs
echo "package README samples: type-checked, the first ran"

# The README's JavaScript tour runs as written.
awk '/^## JavaScript API tour/{on=1} on && /^```js$/{code=1; next} code && /^```$/{exit} code' \
  "$root/README.md" > readme-tour.mjs
[ -s readme-tour.mjs ] || { echo "no JavaScript tour found in README.md" >&2; exit 1; }
node readme-tour.mjs
echo "README JavaScript tour: ran"
