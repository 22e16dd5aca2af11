#!/usr/bin/env bash
# Runs every fuzz target (fuzz/fuzz_targets) for a number of executions on stable Rust (no
# sanitizer: `-s none`), seeded from the golden vectors. Not part of CI; run it after touching a
# decoder and commit any crash input under tests/fuzz-regressions/ with a test that replays it.
#
#   bash scripts/fuzz.sh [runs-per-target (default 10000000)] [target ...]
set -euo pipefail
cd "$(dirname "$0")/../fuzz"
command -v cargo-fuzz >/dev/null 2>&1 || cargo install cargo-fuzz
runs="${1:-10000000}"
shift || true
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  mapfile -t targets < <(cargo fuzz list)
fi
golden=../tests/golden/v1
for target in "${targets[@]}"; do
  mkdir -p "corpus/$target"
  case "$target" in
    hll_from_bytes) cp "$golden"/hll_*.bin "corpus/$target/" ;;
    hll_from_redis) cp "$golden"/redis_*.bin "corpus/$target/" ;;
    snapshot_decode) cp "$golden"/snapshot_*.bin "corpus/$target/" ;;
    counter_from_bytes) cp "$golden"/counter_*.bin "corpus/$target/" ;;
    window_from_bytes) cp "$golden"/window_*.bin "corpus/$target/" ;;
    unique_series_from_bytes) cp "$golden"/unique_series_*.bin "corpus/$target/" ;;
    ledger_from_bytes) cp "$golden"/ledger*.bin "corpus/$target/" ;;
    leaderboard_from_bytes) cp "$golden"/leaderboard_*.bin "corpus/$target/" ;;
    top_k_from_bytes) cp "$golden"/top_k*.bin "corpus/$target/" ;;
    count_min_from_bytes) cp "$golden"/count_min*.bin "corpus/$target/" ;;
    quantiles_from_bytes) cp "$golden"/quantiles*.bin "corpus/$target/" ;;
    sketch_from_bytes)
      cp "$golden"/{hll_p,counter_,window_,unique_series_,leaderboard_,top_k,count_min,quantiles}*.bin "corpus/$target/" ;;
  esac
  echo "== $target: $runs runs"
  cargo fuzz run -s none "$target" -- -runs="$runs" -max_len=20000 -print_final_stats=1 2>&1 |
    grep -E "stat::number_of_executed_units|stat::average_exec_per_sec|Done|ERROR|panicked" || true
done
