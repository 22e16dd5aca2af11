#!/usr/bin/env bash
# Every test of the repository: the README's test command, and what .ci/run calls.
# Needs: the Rust toolchain with rustfmt, clippy and the wasm32-unknown-unknown target, and
# redis-server, node, npm and chromium on PATH (bash .ci/run installs all of it; the npm step
# installs the wasm-bindgen CLI and its npm tools itself).
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n== %s\n' "$*"; }
export RUSTDOCFLAGS="${RUSTDOCFLAGS:-} -D warnings"
# One pass over clean sources: incremental caches would only fill the disk.
export CARGO_INCREMENTAL="${CARGO_INCREMENTAL:-0}"
df -h . | awk 'NR == 2 { print "disk: " $4 " free at the start" }'

step "format"
cargo fmt --all -- --check

step "lints (every target, every feature; and the no_std build)"
cargo clippy --workspace --all-targets --all-features -- -D warnings
cargo clippy --workspace --lib --no-default-features -- -D warnings

step "tests, all features (includes the live Redis oracle)"
cargo test --workspace --all-features

step "tests, no default features (no_std + alloc)"
cargo test --workspace --exclude edgesketch-server --no-default-features

step "library, serde and doc tests of the other feature combinations"
for features in std serde; do
  cargo test --no-default-features --features "$features" --lib --test serde
  cargo test --no-default-features --features "$features" --doc
done

step "wasm32, no default features (and with serde)"
cargo build --target wasm32-unknown-unknown --no-default-features
cargo build --target wasm32-unknown-unknown --no-default-features --features serde --release

step "docs"
cargo doc --workspace --no-deps --all-features

step "benchmarks compile"
cargo bench --workspace --no-run

step "fuzz targets compile (stable, no sanitizer)"
cargo check --manifest-path fuzz/Cargo.toml --bins

step "npm package: build, pack, install the tarball, test it under Node (ESM and CJS), workerd, Next.js (edge), Deno and Chromium"
bash scripts/test-npm.sh

step "dashboard: in headless Chromium against the server running the demo"
bash scripts/test-www.sh

du -sh target | awk '{ print "disk: target/ holds " $1 }'
printf '\nall tests passed\n'
