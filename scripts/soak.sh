#!/usr/bin/env bash
# Soak (issue 5): DURATION seconds (default 600) of mixed traffic against one
# holdfast — keep-alive (wrk), 16-deep pipelined (wrk + Lua), short
# Connection: close requests (wrk), and 1,000 idle keep-alive connections
# held and then renewed half-way — sampling the server's RSS and open
# descriptors every INTERVAL seconds (default 10). Prints the samples as CSV
# (also written to soak.csv in the current directory) and a verdict: RSS and
# descriptors flat (last third within 10 % / equal to the first third once
# the idle set is steady).
#
#   scripts/soak.sh [DURATION=600] [INTERVAL=10]
#
# Loopback only; every load generator is bounded by its duration.
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION=${1:-600}
INTERVAL=${2:-10}

need() { command -v "$1" >/dev/null 2>&1; }
if ! need wrk; then
    apt-get update -qq && apt-get install -y -qq wrk >/dev/null
fi
cargo build --release -q
BIN=${CARGO_TARGET_DIR:-target}/release/holdfast
ulimit -n 20000

tmp=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$tmp"' EXIT
mkdir -p "$tmp/conf" "$tmp/html"
cp conf/mime.types "$tmp/conf/"
head -c 1024 /dev/zero | tr '\0' 'a' > "$tmp/html/1k.txt"
PORT=18191
cat > "$tmp/conf/holdfast.conf" <<CONF
worker_rlimit_nofile 20000;
error_log stderr warn;
events { worker_connections 8000; }
http {
    include mime.types;
    keepalive_requests 100000;
    keepalive_timeout 120s;
    server {
        listen 127.0.0.1:$PORT;
        root html;
        location = /plaintext { return 200 "Hello, World!"; }
    }
}
CONF
cat > "$tmp/pipeline.lua" <<'LUA'
init = function(args)
   local r = {}
   for i = 1, 16 do r[i] = wrk.format(nil, "/plaintext") end
   req = table.concat(r)
end
request = function() return req end
LUA
taskset -c 0 "$BIN" -p "$tmp" 2> "$tmp/error.log" &
HPID=$!
for _ in $(seq 50); do curl -fs "http://127.0.0.1:$PORT/plaintext" >/dev/null && break; sleep 0.1; done

url="http://127.0.0.1:$PORT"
half=$((DURATION / 2))
run() { taskset -c 1 timeout $((DURATION + 30)) "$@" > /dev/null 2>&1 || true; }
run wrk -t1 -c20 -d"${DURATION}s" "$url/plaintext" &
run wrk -t1 -c10 -d"${DURATION}s" -s "$tmp/pipeline.lua" "$url/plaintext" &
run wrk -t1 -c5 -d"${DURATION}s" -H "Connection: close" "$url/1k.txt" &
# 1,000 idle connections for the first half, another 1,000 for the second.
python3 scripts/bench/idle_conns.py --port "$PORT" --targets 1000 --hold --hold-max "$half" > /dev/null 2>&1 &
(sleep "$half"; python3 scripts/bench/idle_conns.py --port "$PORT" --targets 1000 --hold --hold-max "$half" > /dev/null 2>&1) &

echo "t_s,rss_kib,fds" | tee soak.csv
t=0
while [ "$t" -le "$DURATION" ]; do
    rss=$(awk '/VmRSS/ {print $2}' "/proc/$HPID/status")
    fds=$(ls "/proc/$HPID/fd" | wc -l)
    echo "$t,$rss,$fds" | tee -a soak.csv
    sleep "$INTERVAL"
    t=$((t + INTERVAL))
done
wait $(jobs -p | grep -v "^$HPID$") 2>/dev/null || true
awk -F, 'NR > 1 { n++; r[n] = $2; f[n] = $3 }
     END {
       a = int(n / 3); lo = 0; hi = 0; flo = 0; fhi = 0
       for (i = 2; i <= a + 1; i++) { lo += r[i]; flo += f[i] }
       for (i = n - a + 1; i <= n; i++) { hi += r[i]; fhi += f[i] }
       printf "\nRSS first third %.0f KiB, last third %.0f KiB (%+.1f%%); fds first third %.0f, last third %.0f\n", lo / a, hi / a, (hi - lo) * 100 / lo, flo / a, fhi / a
     }' soak.csv
echo "server errors:"; grep -cE '\[(error|crit|alert|emerg)\]' "$tmp/error.log" || true
