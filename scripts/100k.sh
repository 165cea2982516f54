#!/usr/bin/env bash
# 100,000 idle keep-alive connections on one machine whose hard
# RLIMIT_NOFILE is 20,000 per process: holdfast with `worker_processes 6`
# (a master and 6 workers, one SO_REUSEPORT listener each, worker_connections
# 20000, worker_rlimit_nofile 20000) and `holdfast-load hold --procs 6`
# (6 client processes, ~16,700 connections each, from 127.0.0.2-127.0.0.50).
# Reports how long it took to open them, how many were held, the RSS of the
# master, of each worker and of the tool's processes, the kernel's socket
# memory (/proc/net/sockstat, /proc/meminfo Slab, /proc/slabinfo), and bytes
# per connection.
#
#   scripts/100k.sh [CONNS=100000] [PROCS=6] [WORKERS=6]
#   HOLD_SECS=90 OPEN_BATCH=32 scripts/100k.sh
#
# Before it starts it checks MemAvailable (>= MIN_FREE_GIB, default 4), that
# ip_local_port_range x source addresses covers CONNS, and that CONNS/PROCS
# and CONNS/WORKERS fit under the hard RLIMIT_NOFILE. Loopback only. The hold
# run is bounded (-d HOLD_SECS, default 60, and `timeout`), the wait for the
# connections too (OPEN_LIMIT, default 45 s); holdfast and the tool are
# stopped at exit. Honours CARGO_TARGET_DIR (default target/).
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/limits/common.sh

CONNS=${1:-100000}
PROCS=${2:-6}
WORKERS=${3:-6}
HOLD_SECS=${HOLD_SECS:-60}
OPEN_LIMIT=${OPEN_LIMIT:-45}
OPEN_BATCH=${OPEN_BATCH:-16}
MIN_FREE_GIB=${MIN_FREE_GIB:-4}
SOURCES=127.0.0.2-127.0.0.50
NSOURCES=49
PAGE=$(getconf PAGESIZE)

echo "== checks"
free -g | sed 's/^/    /'
avail_gib=$(( $(meminfo_kib MemAvailable) / 1024 / 1024 ))
[ "$avail_gib" -ge "$MIN_FREE_GIB" ] || { echo "only $avail_gib GiB available (< $MIN_FREE_GIB)"; exit 1; }
read -r lo hi < /proc/sys/net/ipv4/ip_local_port_range
ports=$((hi - lo + 1))
echo "    ip_local_port_range $lo-$hi: $ports ports per (source address, destination) x $NSOURCES source addresses = $((ports * NSOURCES)) >= $CONNS"
[ $((ports * NSOURCES)) -ge "$CONNS" ] || { echo "not enough local ports"; exit 1; }
hard=$(ulimit -Hn)
per_proc=$(( (CONNS + PROCS - 1) / PROCS ))
per_worker=$(( (CONNS + WORKERS - 1) / WORKERS ))
echo "    hard RLIMIT_NOFILE $hard; per client process $per_proc, per worker ~$per_worker (+ the reuseport spread)"
[ $((per_proc + 100)) -le "$hard" ] || { echo "$per_proc connections per client process exceed $hard"; exit 1; }
[ $((per_worker + 1300)) -le 20000 ] || { echo "$per_worker per worker would make holdfast drain (free <= 20000/16)"; exit 1; }
echo "    fs.nr_open $(cat /proc/sys/fs/nr_open), fs.file-nr $(tr '\t' ' ' < /proc/sys/fs/file-nr), somaxconn $(cat /proc/sys/net/core/somaxconn)"
echo "    tcp_mem $(tr '\t' ' ' < /proc/sys/net/ipv4/tcp_mem) pages; $(grep '^TCP:' /proc/net/sockstat)"
echo "    cpus $(nproc), loadavg $(cut -d' ' -f1-3 /proc/loadavg)"
build

tmp=$(mktemp -d)
trap 'kill_started; rm -rf "$tmp"' EXIT
PORT=$(pick_port 28500)
mkdir -p "$tmp/conf"
cp conf/mime.types "$tmp/conf/"
cat > "$tmp/conf/holdfast.conf" <<CONF
worker_processes $WORKERS;
worker_rlimit_nofile 20000;
error_log $tmp/error.log warn;
events { worker_connections 20000; }
http {
    include mime.types;
    keepalive_timeout 600s;
    keepalive_requests 1000000;
    server {
        listen 127.0.0.1:$PORT reuseport backlog=4096;
        location = /plaintext { return 200 "Hello, World!"; }
        location = /status { stub_status; }
    }
}
CONF
echo "== holdfast configuration"
grep -v mime.types "$tmp/conf/holdfast.conf" | sed "s|$tmp|\$tmp|; s/^/    /"

cp /proc/slabinfo "$tmp/slab0"
slab0=$(meminfo_kib Slab); sunrec0=$(meminfo_kib SUnreclaim); avail0=$(meminfo_kib MemAvailable)
inuse0=$(sockstat_tcp inuse); mem0=$(sockstat_tcp mem)

"$BIN/holdfast" -p "$tmp" -c "$tmp/conf/holdfast.conf" &
MASTER=$!
STARTED_PIDS+=($MASTER)
wait_http "http://127.0.0.1:$PORT/plaintext"
for _ in $(seq 50); do [ "$(children "$MASTER" | wc -l)" -ge "$WORKERS" ] && break; sleep 0.1; done
mapfile -t WPIDS < <(children "$MASTER")
declare -A RSS0
for w in "${WPIDS[@]}"; do RSS0[$w]=$(rss_kib "$w"); done
MRSS0=$(rss_kib "$MASTER")
echo "== started: master $MASTER (RSS $MRSS0 KiB), workers ${WPIDS[*]} (RSS $(for w in "${WPIDS[@]}"; do printf '%s ' "${RSS0[$w]}"; done)KiB)"

CMD=("$BIN/holdfast-load" hold --procs "$PROCS" -c "$CONNS" --source-ips "$SOURCES"
     --open-batch "$OPEN_BATCH" --timeout 30s -d "${HOLD_SECS}s" --json
     "http://127.0.0.1:$PORT/plaintext")
echo "== ${CMD[*]#$BIN/}"
t0=$(date +%s.%N)
timeout $((HOLD_SECS + 60)) "${CMD[@]}" > "$tmp/hold.json" 2> "$tmp/hold.err" &
TOOL=$!
STARTED_PIDS+=($TOOL)

# Until the kernel has both ends of every connection (2 x CONNS more TCP
# sockets in use), the tool stops, or OPEN_LIMIT seconds.
want=$((inuse0 + 2 * CONNS))
t_open=""
last_print=0
while :; do
    now=$(date +%s.%N)
    el=$(awk -v a="$t0" -v b="$now" 'BEGIN { printf "%.1f", b - a }')
    inuse=$(sockstat_tcp inuse)
    if [ "$inuse" -ge "$want" ]; then t_open=$el; break; fi
    kill -0 "$TOOL" 2>/dev/null || break
    awk -v e="$el" -v l="$OPEN_LIMIT" 'BEGIN { exit !(e >= l) }' && break
    if awk -v e="$el" -v p="$last_print" 'BEGIN { exit !(e - p >= 2) }'; then
        echo "    ${el}s: TCP sockets in use $inuse ($(( (inuse - inuse0) / 2 )) connections)"
        last_print=$el
    fi
    sleep 0.2
done
inuse=$(sockstat_tcp inuse)
echo "    ${el}s: TCP sockets in use $inuse ($(( (inuse - inuse0) / 2 )) connections)${t_open:+ -- all open}"
sleep 2   # let the last requests finish and the processes settle

echo "== while holding"
mapfile -t TPIDS < <(children "$TOOL")   # `timeout` -> holdfast-load parent
TPARENT=${TPIDS[0]:-}
mapfile -t TCHILD < <([ -n "$TPARENT" ] && children "$TPARENT")
STARTED_PIDS+=(${TPARENT:+"$TPARENT"} "${TCHILD[@]}")
cp /proc/slabinfo "$tmp/slab1"
slab1=$(meminfo_kib Slab); sunrec1=$(meminfo_kib SUnreclaim); avail1=$(meminfo_kib MemAvailable)
sockline=$(grep '^TCP:' /proc/net/sockstat)
inuse1=$(sockstat_tcp inuse); mem1=$(sockstat_tcp mem)
filenr=$(tr '\t' ' ' < /proc/sys/fs/file-nr)
held_kernel=$(( (inuse1 - inuse0) / 2 ))
[ "$held_kernel" -gt 0 ] || held_kernel=1
echo "    /proc/net/sockstat: $sockline"
echo "    fs.file-nr: $filenr"
printf '    %-16s %8s %12s %12s %12s %14s\n' process pid "RSS0 KiB" "RSS KiB" "conns(fds)" "RSS+/conn (B)"
wsum=0; wsum0=0; wconns=0
for w in "${WPIDS[@]}"; do
    r=$(rss_kib "$w"); fds=$(ls "/proc/$w/fd" 2>/dev/null | wc -l)
    c=$((fds - 8)); [ "$c" -gt 0 ] || c=1
    wsum=$((wsum + r)); wsum0=$((wsum0 + RSS0[$w])); wconns=$((wconns + fds))
    printf '    %-16s %8s %12s %12s %12s %14s\n' "holdfast worker" "$w" "${RSS0[$w]}" "$r" "$fds" \
        "$(( (r - RSS0[$w]) * 1024 / c ))"
done
printf '    %-16s %8s %12s %12s %12s\n' "holdfast master" "$MASTER" "$MRSS0" "$(rss_kib "$MASTER")" \
    "$(ls "/proc/$MASTER/fd" | wc -l)"
tsum=0
for p in ${TPARENT:+"$TPARENT"} "${TCHILD[@]}"; do
    r=$(rss_kib "$p"); tsum=$((tsum + r))
    printf '    %-16s %8s %12s %12s %12s\n' "holdfast-load" "$p" "" "$r" "$(ls "/proc/$p/fd" 2>/dev/null | wc -l)"
done
echo "    (conns(fds): open descriptors, i.e. connections + a few for the listener, epoll, logs, pipes)"
echo "    workers: RSS $wsum KiB in all, +$((wsum - wsum0)) KiB for $held_kernel connections = $(( (wsum - wsum0) * 1024 / held_kernel )) B per connection"
echo "    holdfast-load: RSS $tsum KiB in all = $(( tsum * 1024 / held_kernel )) B per connection"
echo "    kernel: sockstat TCP mem $mem0 -> $mem1 pages ($(( (mem1 - mem0) * PAGE / 1024 )) KiB of socket buffers)"
echo "    kernel: Slab $slab0 -> $slab1 KiB (+$((slab1 - slab0)) KiB, unreclaimable +$((sunrec1 - sunrec0)) KiB) = $(( (slab1 - slab0) * 1024 / held_kernel )) B per connection (2 sockets)"
echo "    MemAvailable $avail0 -> $avail1 KiB (-$((avail0 - avail1)) KiB = $(( (avail0 - avail1) * 1024 / held_kernel )) B per connection, everything included)"
echo "    slab caches that grew most (per connection = both of its sockets):"
python3 scripts/limits/slabdiff.py "$tmp/slab0" "$tmp/slab1" 10 "$held_kernel"

echo "== waiting for the hold run to end (-d ${HOLD_SECS}s)"
rc=0
wait "$TOOL" || rc=$?
[ $rc = 0 ] || echo "    holdfast-load exited with $rc: $(tail -3 "$tmp/hold.err")"
python3 - "$tmp/hold.json" "$CONNS" "${t_open:-}" <<'PY' || true
import json, sys
r = json.load(open(sys.argv[1]))
h = r.get("hold", {})
e = r["errors"]
kinds = ", ".join(f"{k} {v}" for k, v in e.items() if v and k != "total")
print(f"    holdfast-load: {r['connections_opened']} connections opened of {r['connect_attempts']} attempted, "
      f"{r['responses']} responses, peak open {r['peak_open_connections']}, errors {e['total']}"
      + (f" ({kinds})" if kinds else ""))
print(f"    held {h.get('held')} (all open at {h.get('all_open_s')} s after the start), "
      f"kept {h.get('kept')}, closed by holdfast {h.get('closed')}")
print(f"    opening rate {r['connections_per_s']} conn/s over the whole run; "
      f"{int(sys.argv[2]) / h['all_open_s']:.0f} conn/s while opening" if h.get("all_open_s") else "")
print(f"    latency of the one request per connection: p50 {r['latency_us']['p50']} µs, "
      f"p99 {r['latency_us']['p99']} µs, max {r['latency_us']['max']} µs")
print(f"    TIME_WAIT before {r['time_wait']['before']}, after {r['time_wait']['after']}")
PY
echo "== holdfast error log (warn and above)"
sed 's/^/    /' "$tmp/error.log" | head -20
echo "    ($(wc -l < "$tmp/error.log") lines)"
