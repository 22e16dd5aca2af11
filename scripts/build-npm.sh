#!/usr/bin/env bash
# Builds the npm package into pkg/ and packs it (pkg/edgesketch-<version>.tgz):
#   cargo (wasm32, release, simd128) -> wasm-bindgen (web + nodejs) -> wasm-opt -Oz -> pkg/
# assembled from pkg-template/. Installs what it needs, skipping what is there: the wasm32
# target, the wasm-bindgen CLI at the exact version of the `wasm-bindgen` crate (under
# $EDGESKETCH_TOOLS, default ~/.cache/edgesketch/tools) and npm's binaryen (never Debian's).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

tools="${EDGESKETCH_TOOLS:-$HOME/.cache/edgesketch/tools}"
bindgen_version=$(sed -n 's/^wasm-bindgen = "=\(.*\)"/\1/p' wasm/Cargo.toml)
[ -n "$bindgen_version" ] || { echo "wasm/Cargo.toml must pin wasm-bindgen with =" >&2; exit 1; }
bindgen="$tools/bin/wasm-bindgen"
if ! "$bindgen" --version 2>/dev/null | grep -qx "wasm-bindgen $bindgen_version"; then
  echo "installing wasm-bindgen-cli $bindgen_version into $tools (about 5 minutes)"
  # No --locked: a locked dependency version is missing from the registry mirror.
  cargo install wasm-bindgen-cli --version "$bindgen_version" --root "$tools" --force
fi
rustup target list --installed | grep -qx wasm32-unknown-unknown || rustup target add wasm32-unknown-unknown
[ -x node_modules/.bin/wasm-opt ] || npm ci --no-audit --no-fund

# A target directory of its own: the simd128 flag would otherwise rebuild the test builds.
export CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUSTFLAGS="-C target-feature=+simd128"
cargo build -p edgesketch-wasm --target wasm32-unknown-unknown --profile wasm-release --target-dir target/npm
wasm=target/npm/wasm32-unknown-unknown/wasm-release/edgesketch_wasm.wasm

rm -rf pkg
mkdir -p pkg
"$bindgen" "$wasm" --target web --out-dir pkg/web --out-name edgesketch
"$bindgen" "$wasm" --target nodejs --out-dir pkg/node --out-name edgesketch --no-typescript
for out in pkg/web/edgesketch_bg.wasm pkg/node/edgesketch_bg.wasm; do
  node_modules/.bin/wasm-opt -Oz --enable-simd --enable-bulk-memory --enable-nontrapping-float-to-int \
    --enable-sign-ext --enable-mutable-globals --enable-reference-types --enable-multivalue \
    "$out" -o "$out"
done
# Argument checks in front of the glue's copies into memory (scripts/glue-checks.js): rename each
# copy function, then append checked ones under the old names.
for glue in pkg/web/edgesketch.js pkg/node/edgesketch.js; do
  for fn in passStringToWasm0 passArray8ToWasm0 passArray32ToWasm0 passArray64ToWasm0 passArrayF64ToWasm0; do
    grep -q "^function $fn(" "$glue" || { echo "$glue: no $fn to check (a new wasm-bindgen?)" >&2; exit 1; }
    sed -i "s/^function $fn(/function ${fn}Unchecked(/" "$glue"
  done
  # Errors the module throws pass through edgesketchThrown (clearer words for wasm-bindgen's own);
  # a second free() (or a `using` block's dispose after one) does nothing.
  sed -i -E 's/^( +)throw new Error\(getStringFromWasm0\(arg0, arg1\)\);$/\1throw edgesketchThrown(getStringFromWasm0(arg0, arg1));/; s/^    free\(\) \{$/    free() {\n        if (this.__wbg_ptr === 0) return;/' "$glue"
  [ "$(grep -c 'throw edgesketchThrown' "$glue")" = 1 ] && grep -q 'if (this.__wbg_ptr === 0) return;' "$glue" ||
    { echo "$glue: the throw or free() patch did not apply" >&2; exit 1; }
  # initSync takes a WebAssembly.Module of another realm as a module (Vercel's Edge Runtime hands
  # the code a `?module` import made outside its sandbox); `instanceof` alone took it for bytes.
  if grep -q '^    if (!(module instanceof WebAssembly.Module)) {$' "$glue"; then
    sed -i "s/^    if (!(module instanceof WebAssembly.Module)) {$/    if (!(module instanceof WebAssembly.Module) \&\& Object.prototype.toString.call(module) !== '[object WebAssembly.Module]') {/" "$glue"
    grep -q "toString.call(module) !== '\[object WebAssembly.Module\]'" "$glue" ||
      { echo "$glue: the initSync realm patch did not apply" >&2; exit 1; }
  elif [ "$glue" = pkg/web/edgesketch.js ]; then
    echo "$glue: no initSync module check to patch (a new wasm-bindgen?)" >&2; exit 1
  fi
  cat scripts/glue-checks.js >> "$glue"
  node scripts/glue-numbers.mjs pkg/web/edgesketch.d.ts >> "$glue"
done
# The web glue (the slim entry's) before init: a clear error, not "reading 'hyperloglog_new' of
# undefined". `wasm` starts as an object that throws on use; "is it loaded" asks `wasmInstance`.
web=pkg/web/edgesketch.js
[ "$(grep -c '^let wasmModule, wasmInstance, wasm;$' $web)" = 1 ] && [ "$(grep -c 'if (wasm !== undefined) return wasm;' $web)" = 2 ] ||
  { echo "$web: no init state to patch (a new wasm-bindgen?)" >&2; exit 1; }
sed -i 's/^let wasmModule, wasmInstance, wasm;$/let wasmModule, wasmInstance, wasm = edgesketchNotLoaded();/; s/if (wasm !== undefined) return wasm;/if (wasmInstance !== undefined) return wasm;/' $web
# Typed options objects (wasm/src/lib.rs declares the interfaces): wasm-bindgen drops the `?` of
# an optional parameter whose type it is told, so put it back.
# Likewise an optional parameter before another (`weight` of `addTopK(key, item, weight?,
# options?)`): wasm-bindgen marks only the last ones optional.
sed -E -i 's/options_: ([A-Za-z]+Options)([,)])/options?: \1 | null\2/g; s/mode: AddMode \| undefined/mode?: AddMode | null/g; s/([a-z_]+): ([a-z]+) \| null \| undefined([,)])/\1?: \2 | null\3/g; s/: Uint8Array \| number\[\]/: Uint8Array/g; s/order_\?: string \| null/order?: "descending" | "ascending" | null/g' \
  pkg/web/edgesketch.d.ts
grep -q 'options_:' pkg/web/edgesketch.d.ts && { echo "an options parameter kept its bare type" >&2; exit 1; }
# A timestamp parameter takes a Date too (the glue converts it; scripts/glue-numbers.mjs).
sed -E -i 's/\b(timestamp_ms|now_ms|from_ms|to_ms|written_ms)(\??): number/\1\2: number | Date/g' pkg/web/edgesketch.d.ts
[ "$(grep -c ': number | Date' pkg/web/edgesketch.d.ts)" -ge 15 ] || { echo "fewer timestamp parameters typed with Date than expected" >&2; exit 1; }
# The loaders' types name the dom lib's RequestInfo, Response, BufferSource and WebAssembly, which
# a Node project (es2022 + @types/node) does not have: with skipLibCheck off, tsc failed on them.
# Each is now what the project's own libs declare (dom, @types/node, workers-types), or left out.
dts=pkg/web/edgesketch.d.ts
sed -E -i 's/RequestInfo \| URL \| Response \| BufferSource \| WebAssembly\.Module/string | EdgesketchRuntime<"Request"> | EdgesketchRuntime<"URL"> | EdgesketchRuntime<"Response"> | ArrayBuffer | ArrayBufferView | EdgesketchWasm<"Module">/; s/BufferSource \| WebAssembly\.Module/ArrayBuffer | ArrayBufferView | EdgesketchWasm<"Module">/; s/WebAssembly\.(Memory|Table)/EdgesketchWasm<"\1">/g' $dts
if grep -vE '^ *(\*|/\*\*)' $dts | grep -E 'RequestInfo|BufferSource|WebAssembly\.|: Response'; then echo "$dts: a dom-only type is left (above)" >&2; exit 1; fi
cat - $dts > $dts.new <<'TYPES'
/** The instances of the global class `K` where the project's libs declare one, else never. */
type EdgesketchRuntime<K extends string> =
  typeof globalThis extends { [P in K]: abstract new (...args: any) => infer T } ? T : never;
/** `WebAssembly.K` where the project's libs declare it, else an object. */
type EdgesketchWasm<K extends string> =
  typeof globalThis extends { WebAssembly: { [P in K]: abstract new (...args: any) => infer T } } ? T : object;
TYPES
mv $dts.new $dts
# The ES entries name what they export (not the glue's `export *`, which would export the
# internals): entry.js (re-exported whole by browser.js, workerd.js and edge-light.js) and slim.js
# must name every public export of the glue.
for name in $(grep -oE '^export (class|function) [A-Za-z0-9_]+' pkg/web/edgesketch.js | awk '{print $3}' | grep -v '^__') initSync; do
  for entry in entry slim; do
    grep -qE "[ {,]$name[,} ]" "pkg-template/$entry.js" ||
      { echo "pkg-template/$entry.js does not export $name" >&2; exit 1; }
  done
done
for entry in browser workerd edge-light; do
  grep -qx "export \* from './entry.js';" "pkg-template/$entry.js" ||
    { echo "pkg-template/$entry.js does not re-export entry.js" >&2; exit 1; }
done
# The nodejs glue is CommonJS inside a "type": "module" package.
echo '{ "type": "commonjs" }' > pkg/node/package.json
# Node's glue takes the module from a JS file instead of reading `${__dirname}/edgesketch_bg.wasm`:
# server bundlers (Next.js's Turbopack, esbuild) move the glue and leave the .wasm behind
# (Next 16 failed with ENOENT on every Node route and proxy). Deno then needs no read permission.
node -e '
const fs = require("fs");
const base64 = fs.readFileSync("pkg/node/edgesketch_bg.wasm").toString("base64");
fs.writeFileSync("pkg/node/edgesketch_bg_wasm.cjs", `// The module of edgesketch_bg.wasm, inlined (base64) so that bundlers carry it along.
"use strict";
// A function, so that the bytes can be collected once compiled.
const base64 = "${base64}";
module.exports = () => typeof Buffer === "function" ? Buffer.from(base64, "base64") : Uint8Array.from(atob(base64), (c) => c.charCodeAt(0));
`);'
rm pkg/node/edgesketch_bg.wasm
node=pkg/node/edgesketch.js
[ "$(grep -c '^const wasmPath = `${__dirname}/edgesketch_bg.wasm`;$' $node)" = 1 ] &&
  [ "$(grep -c "^const wasmBytes = require('fs').readFileSync(wasmPath);$" $node)" = 1 ] &&
  [ "$(grep -c '^const wasmModule = new WebAssembly.Module(wasmBytes);$' $node)" = 1 ] &&
  [ "$(grep -c 'wasmBytes' $node)" = 2 ] ||
  { echo "$node: no wasm read to replace (a new wasm-bindgen?)" >&2; exit 1; }
sed -i '/^const wasmPath = `${__dirname}\/edgesketch_bg.wasm`;$/d; /^const wasmBytes = require(.fs.).readFileSync(wasmPath);$/d; s|^const wasmModule = new WebAssembly.Module(wasmBytes);$|const wasmModule = new WebAssembly.Module(require("./edgesketch_bg_wasm.cjs")());|' $node
grep -qE 'edgesketch_bg.wasm`|wasmBytes' $node && { echo "$node: still reads the .wasm" >&2; exit 1; }
cp pkg-template/* pkg/
cp LICENSE-MIT LICENSE-APACHE pkg/
# The client and the batch helpers for CommonJS: the same source with its one export turned into
# module.exports.
for module in client batch; do
  fn=$(sed -n 's/^export function \([A-Za-z]*\).*/\1/p' "pkg/$module.js")
  [ "$(grep -c '^export ' "pkg/$module.js")" = 1 ] && [ -n "$fn" ] ||
    { echo "pkg-template/$module.js must have exactly one export, a function" >&2; exit 1; }
  { echo "'use strict';"; sed "s/^export function $fn/function $fn/" "pkg/$module.js"
    echo "module.exports = { $fn };"; } > "pkg/$module.cjs"
done

raw=$(wc -c < pkg/web/edgesketch_bg.wasm)
gz=$(gzip -9 -c pkg/web/edgesketch_bg.wasm | wc -c)
echo "edgesketch_bg.wasm: $raw bytes, $gz gzipped"
(cd pkg && npm pack --silent >/dev/null)
ls "$root"/pkg/edgesketch-*.tgz
