#!/usr/bin/env bash
# Slow and abusive clients (issue 5): slowhttptest in slow-headers, slow-body
# and slow-read modes, 4,000 connections each, against holdfast
# (worker_connections 10000, short timeouts) while wrk plays a well-behaved
# keep-alive client. For each mode it prints the well-behaved client's p99
# next to its p99 without the attack, whether all its requests succeeded, the
# server's descriptors and RSS before, at the peak and after, and whether the
# attack connections were closed by the server's timeouts.
#
#   scripts/slowloris.sh [CONNECTIONS=4000] [SECONDS=40]
#
# Loopback only; every run is bounded by -l / -d and by `timeout`.
set -euo pipefail
cd "$(dirname "$0")/.."
CONNS=${1:-4000}
SECS=${2:-40}

need() { command -v "$1" >/dev/null 2>&1; }
if ! need slowhttptest || ! need wrk; then
    apt-get update -qq && apt-get install -y -qq slowhttptest wrk >/dev/null
fi
cargo build --release -q
BIN=${CARGO_TARGET_DIR:-target}/release/holdfast
ulimit -n 20000

tmp=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; kill "$HPID" 2>/dev/null || true; rm -rf "$tmp"' EXIT
mkdir -p "$tmp/conf" "$tmp/html"
cp conf/mime.types "$tmp/conf/"
head -c 1048576 /dev/zero | tr '\0' 'x' > "$tmp/html/big.bin"
PORT=18190
cat > "$tmp/conf/holdfast.conf" <<CONF
worker_rlimit_nofile 20000;
error_log stderr warn;
events { worker_connections 10000; }
http {
    include mime.types;
    client_header_timeout 5s;
    keepalive_timeout 5s;
    send_timeout 5s;
    lingering_timeout 5s;
    lingering_time 10s;
    server {
        listen 127.0.0.1:$PORT;
        root html;
        location = /plaintext { return 200 "Hello, World!"; }
        location = /status { stub_status; }
    }
}
CONF
taskset -c 0 "$BIN" -p "$tmp" 2> "$tmp/error.log" &
HPID=$!
for _ in $(seq 50); do curl -fs "http://127.0.0.1:$PORT/plaintext" >/dev/null && break; sleep 0.1; done

fds() { ls "/proc/$HPID/fd" | wc -l; }
rss() { awk '/VmRSS/ {print $2}' "/proc/$HPID/status"; }
active() { curl -fs "http://127.0.0.1:$PORT/status" | awk 'NR==1 {print $3}'; }

good() { # seconds -> "p99_us requests errors"
    taskset -c 1 timeout $(($1 + 10)) wrk -t1 -c10 -d"${1}s" --latency "http://127.0.0.1:$PORT/plaintext" 2>&1 |
        awk '/^ +99%/ {v=$2; if (v ~ /ms$/) p=v*1000; else if (v ~ /us$/) p=v+0; else p=v*1000000}
             /requests in/ {n=$1}
             /Socket errors/ {e=$0}
             /Non-2xx/ {e=e" "$0}
             END {printf "%.0f %d %s\n", p, n, (e=="" ? "none" : e)}'
}

echo "baseline: fds $(fds), RSS $(rss) KiB"
read -r base_p99 base_n base_err < <(good 10)
echo "well-behaved client alone: p99 ${base_p99} us, $base_n requests, errors: $base_err"
fds0=$(fds); rss0=$(rss)

printf '\n%-13s %10s %10s %9s %8s %8s %8s %9s %9s %s\n' mode p99_us p99_base ratio fds_pk fds_end rss_pk rss_end conns_pk good_errors
for mode in H B X; do
    case $mode in
        H) args="-H -i 10 -x 24";;          # headers trickled every 10 s > client_header_timeout 5 s
        B) args="-B -i 10 -s 8192 -x 24";;  # body trickled every 10 s > lingering_timeout 5 s
        X) args="-X -k 1 -n 10 -w 512 -y 1024 -z 32 -u http://127.0.0.1:$PORT/big.bin";; # reads every 10 s > send_timeout 5 s
    esac
    url="http://127.0.0.1:$PORT/plaintext"
    timeout $((SECS + 30)) slowhttptest -c "$CONNS" -r 1000 -l "$SECS" -p 5 -u "$url" $args > "$tmp/slow-$mode.log" 2>&1 &
    SPID=$!
    sleep 8
    peak_fds=$(fds); peak_rss=$(rss); peak_conns=$(active)
    read -r p99 n err < <(good 15)
    # the attack's peak may come later: sample again
    f=$(fds); [ "$f" -gt "$peak_fds" ] && peak_fds=$f
    wait "$SPID" || true
    # every attack connection must be closed by the server (its timeouts)
    for _ in $(seq 60); do [ "$(fds)" -le "$fds0" ] && break; sleep 1; done
    end_fds=$(fds); end_rss=$(rss)
    ratio=$(awk -v a="$p99" -v b="$base_p99" 'BEGIN { printf "%.2f", (b > 0 ? a / b : 0) }')
    name=$(case $mode in H) echo slow-headers;; B) echo slow-body;; X) echo slow-read;; esac)
    printf '%-13s %10s %10s %9s %8s %8s %8s %9s %9s %s\n' "$name" "$p99" "$base_p99" "$ratio" "$peak_fds" "$end_fds" "$peak_rss" "$end_rss" "$peak_conns" "$err"
    grep -E "closed|connected|pending|service available" "$tmp/slow-$mode.log" | tail -4 | sed 's/^/    slowhttptest: /'
done
echo
echo "after all modes: fds $(fds) (baseline $fds0), RSS $(rss) KiB (baseline $rss0 KiB)"
echo "server log lines by level:"; grep -oE '\[(warn|error|crit|alert|emerg)\]' "$tmp/error.log" | sort | uniq -c || true
