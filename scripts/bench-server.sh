#!/usr/bin/env bash
# The merge server beside Redis 7 (server/examples/loadgen.rs): builds release, starts
# edgesketch-server --open on 127.0.0.1 with a temporary data directory, runs the load generator
# (which starts and stops its own redis-server instances), then stops everything. Not part of the
# tests; docs/BENCHMARKS.md ("Merge server") shows the results and what each column measures.
#
#   scripts/bench-server.sh                 # the benchmark: small and dense envelopes, ~2 minutes
#   scripts/bench-server.sh --soak 600      # small envelopes for 600 s, server memory every 10 s
#   scripts/bench-server.sh -- --clients 64 # anything after -- goes to the load generator
#   SERVER_BIN=/tmp/old/edgesketch-server scripts/bench-server.sh  # another build (A/B runs)
#
# Needs redis-server on the PATH (Debian: apt-get install redis-server). Everything listens on
# 127.0.0.1 only.
set -euo pipefail
cd "$(dirname "$0")/.."

soak=""
extra=()
while [ $# -gt 0 ]; do
    case "$1" in
        --soak)
            soak="${2:?--soak needs a number of seconds}"
            shift 2
            ;;
        --)
            shift
            extra=("$@")
            break
            ;;
        *)
            echo "usage: $0 [--soak SECONDS] [-- LOADGEN-ARGS...]" >&2
            exit 2
            ;;
    esac
done

command -v redis-server >/dev/null || {
    echo "redis-server is needed on the PATH (Debian: apt-get install redis-server)" >&2
    exit 1
}

cargo build --release --quiet -p edgesketch-server --bins --examples
bin="${CARGO_TARGET_DIR:-target}/release"

work=$(mktemp -d)
server_pid=""
loadgen_pid=""
cleanup() {
    # `timeout` leads its own process group: the load generator and its redis-servers.
    if [ -n "$loadgen_pid" ] && kill -0 "$loadgen_pid" 2>/dev/null; then
        kill -TERM -- "-$loadgen_pid" 2>/dev/null || true
        wait "$loadgen_pid" 2>/dev/null || true
    fi
    if [ -n "$server_pid" ]; then
        kill "$server_pid" 2>/dev/null || true
        wait "$server_pid" 2>/dev/null || true
    fi
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

EDGESKETCH_LOG=warn "${SERVER_BIN:-$bin/edgesketch-server}" --open --listen 127.0.0.1:0 \
    --data-dir "$work/data" --www-dir "$work/www" >"$work/server.out" 2>"$work/server.err" &
server_pid=$!
url=""
for _ in $(seq 100); do
    url=$(sed -n 's/^listening on //p' "$work/server.out")
    [ -n "$url" ] && break
    kill -0 "$server_pid" 2>/dev/null || break
    sleep 0.1
done
if [ -z "$url" ]; then
    echo "the server did not start:" >&2
    cat "$work/server.err" >&2
    exit 1
fi

echo "$(date -u +%Y-%m-%d), $(nproc) cores, $(redis-server --version | cut -d' ' -f1-3)," \
    "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
echo
# In the background and waited for, so that an interrupt reaches the cleanup at once.
if [ -n "$soak" ]; then
    # Bounded: the soak's own length plus a minute.
    timeout $((soak + 60)) "$bin/examples/loadgen" --server "$url" --server-pid "$server_pid" \
        --data-dir "$work/data" --soak "$soak" "${extra[@]}" &
else
    # Bounded: building the envelopes plus eight runs of at most 10 s each.
    timeout 300 "$bin/examples/loadgen" --server "$url" --server-pid "$server_pid" \
        "${extra[@]}" &
fi
loadgen_pid=$!
wait "$loadgen_pid"
loadgen_pid=""
echo
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
if grep -qE 'WARN|ERROR' "$work/server.err"; then
    echo "the server logged warnings or errors (last 5):"
    grep -E 'WARN|ERROR' "$work/server.err" | tail -5
fi
