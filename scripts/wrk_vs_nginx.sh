#!/usr/bin/env bash
# One wrk comparison of holdfast and nginx (worker_processes 1), same
# `return 200 "Hello, World!"` location, keep-alive, 50 connections; both
# with keepalive_requests 1000000 so wrk never has to reconnect (holdfast's
# stub_status, printed at the end, shows the accepts).
# Server pinned to CPU 0, wrk to CPU 1. Prints the median of RUNS runs of
# each and the ratio holdfast/nginx. Loopback only; every run is bounded.
#
#   scripts/wrk_vs_nginx.sh [RUNS=3] [SECONDS=5] [CONNS=50]
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${1:-3}; SECS=${2:-5}; CONNS=${3:-50}

need() { command -v "$1" >/dev/null 2>&1; }
if ! need wrk || ! need nginx; then
    apt-get update -qq && apt-get install -y -qq wrk nginx-light >/dev/null
fi
cargo build --release -q

tmp=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$tmp"' EXIT
HF_PORT=18080; NG_PORT=18081
mkdir -p "$tmp/hf/conf" "$tmp/ng/logs"
cp conf/mime.types "$tmp/hf/conf/"
cat > "$tmp/hf/conf/holdfast.conf" <<CONF
error_log stderr error;
events { worker_connections 1024; }
http {
    include mime.types;
    keepalive_requests 1000000;
    server {
        listen 127.0.0.1:$HF_PORT;
        location = /plaintext { return 200 "Hello, World!"; }
        location = /status { stub_status; }
    }
}
CONF
cat > "$tmp/ng/nginx.conf" <<CONF
worker_processes 1;
error_log stderr error;
pid $tmp/ng/nginx.pid;
events { worker_connections 1024; }
http {
    access_log off;
    default_type text/plain;
    keepalive_requests 1000000;
    server {
        listen 127.0.0.1:$NG_PORT;
        location = /plaintext { return 200 "Hello, World!"; }
    }
}
CONF

taskset -c 0 ./target/release/holdfast -p "$tmp/hf" -c "$tmp/hf/conf/holdfast.conf" &
taskset -c 0 nginx -p "$tmp/ng" -c "$tmp/ng/nginx.conf" -g 'daemon off;' &
for port in $HF_PORT $NG_PORT; do
    for _ in $(seq 50); do curl -fs "http://127.0.0.1:$port/plaintext" >/dev/null && break; sleep 0.1; done
done

run() { # port -> "rps p50_us p99_us"
    taskset -c 1 wrk -t1 -c"$CONNS" -d"${SECS}s" --latency "http://127.0.0.1:$1/plaintext" 2>/dev/null |
        awk '/Requests\/sec/ {rps=$2}
             /^ +50%/ {p50=$2} /^ +99%/ {p99=$2}
             /Socket errors/ {err=$0}
             END {
               print rps, p50, p99
             }'
}
to_us() { # 12.3us / 1.2ms / 0.5s -> microseconds
    awk -v v="$1" 'BEGIN { n=v+0; if (v ~ /ms$/) n*=1000; else if (v ~ /us$/) n*=1; else if (v ~ /s$/) n*=1000000; printf "%.1f", n }'
}
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

declare -A RPS P50 P99
for name in holdfast nginx; do
    port=$HF_PORT; [ "$name" = nginx ] && port=$NG_PORT
    r=(); l50=(); l99=()
    for i in $(seq "$RUNS"); do
        read -r rps p50 p99 < <(run "$port")
        r+=("$rps"); l50+=("$(to_us "$p50")"); l99+=("$(to_us "$p99")")
        echo "  $name run $i: $rps req/s, p50 $p50, p99 $p99" >&2
    done
    RPS[$name]=$(printf '%s\n' "${r[@]}" | median)
    P50[$name]=$(printf '%s\n' "${l50[@]}" | median)
    P99[$name]=$(printf '%s\n' "${l99[@]}" | median)
done

# Keep-alive reuse: holdfast accepted only the connections wrk opened.
curl -fs "http://127.0.0.1:$HF_PORT/status" | sed 's/^/  holdfast stub_status: /' >&2

printf '\nkeep-alive GET /plaintext, %s connections, %ss x %s runs (medians)\n' "$CONNS" "$SECS" "$RUNS"
printf '%-10s %12s %10s %10s\n' server req/s p50_us p99_us
for name in holdfast nginx; do
    printf '%-10s %12s %10s %10s\n' "$name" "${RPS[$name]}" "${P50[$name]}" "${P99[$name]}"
done
awk -v a="${RPS[holdfast]}" -v b="${RPS[nginx]}" -v c="${P99[holdfast]}" -v d="${P99[nginx]}" \
    'BEGIN { printf "ratio holdfast/nginx: req/s %.2f, p99 %.2f\n", a/b, c/d }'
