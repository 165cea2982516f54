#!/usr/bin/env bash
# Short vs keep-alive vs pipelined vs parallel connections, at concurrency 1,
# 10, 100 and 1000, against holdfast and (when installed, or installable with
# apt-get) nginx with `worker_processes 1` serving the same content. The load
# is holdfast-load --json; see docs/connection-limits.md for the reading.
#
#   scripts/connection-modes.sh [SECONDS=3] [RUNS=3]
#   NGINX=0 scripts/connection-modes.sh        # holdfast only
#   CONCS="1 100" MODES="short keepalive" scripts/connection-modes.sh 2 1
#
# Modes (holdfast-load): short (a new connection per request, Connection:
# close), keepalive (persistent connections), pipeline 16 (16 requests per
# write), parallel (waves of -c simultaneous short connections). The short
# and parallel modes at concurrency >= 100 bind their connections to
# 127.0.0.2-127.0.0.50 (--source-ips) so one source address's ephemeral
# ports are never the limit.
#
# Both servers: GET /plaintext -> return 200 "Hello, World!", keepalive_requests
# 1000000, no access log, listen backlog=4096, worker_connections 10000,
# worker_rlimit_nofile 20000, error_log at warn to a file. Server pinned to CPU
# 0, the tool to CPU 1 (PIN=0: no pinning -- better when something else keeps
# one of the two cores busy, as a pinned process then waits out that
# process's time slices: p99 ~3.5 ms at concurrency 1). Each (mode, concurrency, server) is run RUNS times,
# interleaved, SECONDS each; the medians go to docs/connection-modes.csv, all
# runs to docs/connection-modes-runs.csv (also: the server's CPU time per
# request, from /proc/PID/stat of holdfast and of nginx's worker), the chart to docs/connection-modes.png
# and a markdown table to stdout. ~32 x RUNS x (SECONDS + 0.3) s in all.
#
# Loopback only; every run is bounded (-d SECONDS, and `timeout`); the servers
# started here are stopped at exit. Honours CARGO_TARGET_DIR (default target/).
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/limits/common.sh

SECS=${1:-3}
RUNS=${2:-3}
CONCS=${CONCS:-"1 10 100 1000"}
MODES=${MODES:-"short parallel keepalive pipeline16"}
SOURCES=127.0.0.2-127.0.0.50
OUT_CSV=${OUT_CSV:-docs/connection-modes.csv}
OUT_PNG=${OUT_PNG:-docs/connection-modes.png}
OUT_RUNS=${OUT_RUNS:-docs/connection-modes-runs.csv}

build
if [ "${NGINX:-1}" = 1 ] && ! command -v nginx >/dev/null 2>&1; then
    echo "nginx missing: apt-get install nginx-light" >&2
    (apt-get update -qq && apt-get install -y -qq nginx-light >/dev/null) ||
        echo "could not install nginx; holdfast only" >&2
fi
SERVERS=holdfast
if [ "${NGINX:-1}" = 1 ] && command -v nginx >/dev/null 2>&1; then SERVERS="holdfast nginx"; fi
python3 -c 'import matplotlib' 2>/dev/null || pip install -q matplotlib >&2 ||
    echo "matplotlib missing: no chart" >&2

PIN=${PIN:-1}
if [ "$PIN" = 1 ]; then SRV_CPU=(taskset -c 0); CLI_CPU=(taskset -c 1); else SRV_CPU=(); CLI_CPU=(); fi

tmp=$(mktemp -d)
trap 'kill_started; rm -rf "$tmp"' EXIT
HF_PORT=$(pick_port 28480)
NG_PORT=$(pick_port $((HF_PORT + 1)))
mkdir -p "$tmp/hf/conf" "$tmp/ng" "$tmp/runs"
cp conf/mime.types "$tmp/hf/conf/"

cat > "$tmp/hf/conf/holdfast.conf" <<CONF
worker_rlimit_nofile 20000;
error_log $tmp/hf/error.log warn;
events { worker_connections 10000; }
http {
    include mime.types;
    access_log off;
    keepalive_requests 1000000;
    server {
        listen 127.0.0.1:$HF_PORT backlog=4096;
        location = /plaintext { return 200 "Hello, World!"; }
        location = /status { stub_status; }
    }
}
CONF
cat > "$tmp/ng/nginx.conf" <<CONF
worker_processes 1;
worker_rlimit_nofile 20000;
error_log $tmp/ng/error.log warn;
pid $tmp/ng/nginx.pid;
events { worker_connections 10000; }
http {
    access_log off;
    default_type text/plain;
    keepalive_requests 1000000;
    server {
        listen 127.0.0.1:$NG_PORT backlog=4096;
        location = /plaintext { return 200 "Hello, World!"; }
        location = /status { stub_status; }
    }
}
CONF

"${SRV_CPU[@]}" "$BIN/holdfast" -p "$tmp/hf" -c "$tmp/hf/conf/holdfast.conf" &
STARTED_PIDS+=($!)
wait_http "http://127.0.0.1:$HF_PORT/plaintext"
if [[ $SERVERS == *nginx* ]]; then
    "${SRV_CPU[@]}" nginx -p "$tmp/ng" -c "$tmp/ng/nginx.conf" -g 'daemon off;' 2>>"$tmp/ng/error.log" &
    STARTED_PIDS+=($!)
    wait_http "http://127.0.0.1:$NG_PORT/plaintext"
fi

HF_PID=${STARTED_PIDS[0]}
NG_WORKER=""
[[ $SERVERS == *nginx* ]] && NG_WORKER=$(children "${STARTED_PIDS[1]}" | head -1)
# cpu_ticks PID: user + system time of a process, in clock ticks.
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }
# retrans: TCP segments retransmitted (/proc/net/snmp, whole namespace);
# backlog_drops: packets dropped at the per-CPU input backlog
# (netdev_max_backlog; loopback traffic goes through it), all CPUs.
retrans() { awk '$1 == "Tcp:" { if (!h) { for (i = 2; i <= NF; i++) ix[$i] = i; h = 1 } else print $(ix["RetransSegs"]) }' /proc/net/snmp; }
backlog_drops() { python3 -c "print(sum(int(l.split()[1], 16) for l in open('/proc/net/softnet_stat')))"; }

echo "== limits at start" >&2
limits_snapshot >&2
echo "== $SERVERS; modes: $MODES; concurrency: $CONCS; $RUNS runs x ${SECS}s; PIN=$PIN" >&2
echo "busiest other processes: $(ps -eo pcpu=,comm= --sort=-pcpu | head -3 | awk '{ printf "%s %s%%; ", $2, $1 }')" >&2
overflows0=$(netstat_counter ListenOverflows)
twoverflow0=$(netstat_counter TCPTimeWaitOverflow)
t0=$(date +%s)
for rep in $(seq "$RUNS"); do
    for mode in $MODES; do
        for c in $CONCS; do
            for server in $SERVERS; do
                port=$HF_PORT; [ "$server" = nginx ] && port=$NG_PORT
                args=("$mode")
                [ "$mode" = pipeline16 ] && args=(pipeline 16)
                src=()
                if { [ "$mode" = short ] || [ "$mode" = parallel ]; } && [ "$c" -ge 100 ]; then
                    src=(--source-ips "$SOURCES")
                fi
                out="$tmp/runs/${server}__${mode}__${c}__${rep}.json"
                spid=$HF_PID; [ "$server" = nginx ] && spid=$NG_WORKER
                ticks0=$(cpu_ticks "$spid"); re0=$(retrans); bd0=$(backlog_drops)
                if ! timeout $((SECS + 30)) "${CLI_CPU[@]}" "$BIN/holdfast-load" "${args[@]}" \
                        -c "$c" -d "$SECS" --timeout 5s -q --json "${src[@]}" \
                        "http://127.0.0.1:$port/plaintext" > "$out" 2> "$out.err"; then
                    echo "  run failed: $server $mode c=$c rep $rep: $(tail -1 "$out.err")" >&2
                    rm -f "$out"
                    continue
                fi
                echo "$(( $(cpu_ticks "$spid") - ticks0 )) $(getconf CLK_TCK) $(( $(retrans) - re0 )) $(( $(backlog_drops) - bd0 ))" > "${out%.json}.cpu"
                python3 - "$out" "$server" "$mode" "$c" "$rep" >&2 <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
e = r["errors"]
kinds = ",".join(f"{k}={v}" for k, v in e.items() if v and k != "total")
print(f"  {sys.argv[5]} {sys.argv[2]:8} {sys.argv[3]:10} c={sys.argv[4]:>4}: "
      f"{r['requests_per_s']:>10.0f} req/s {r['connections_per_s']:>8.0f} conn/s "
      f"p50 {r['latency_us']['p50']} µs p99 {r['latency_us']['p99']} µs "
      f"errors {e['total']}{' (' + kinds + ')' if kinds else ''} TIME_WAIT {r['time_wait']['after']}"
      f" retrans +{open(sys.argv[1][:-5] + '.cpu').read().split()[2]}")
PY
            done
        done
    done
done
t1=$(date +%s)

echo "== after $((t1 - t0)) s of runs" >&2
echo "ListenOverflows +$(( $(netstat_counter ListenOverflows) - overflows0 )), TCPTimeWaitOverflow +$(( $(netstat_counter TCPTimeWaitOverflow) - twoverflow0 ))" >&2
echo "sockstat: $(grep '^TCP:' /proc/net/sockstat)" >&2
echo "holdfast stub_status: $(curl -fs "http://127.0.0.1:$HF_PORT/status" | tr '\n' ' ')" >&2
[[ $SERVERS == *nginx* ]] &&
    echo "nginx stub_status:    $(curl -fs "http://127.0.0.1:$NG_PORT/status" | tr '\n' ' ')" >&2
for s in hf ng; do
    [ -s "$tmp/$s/error.log" ] || continue
    echo "$s error log (warn and above), distinct messages:" >&2
    sed -E 's/^[0-9\/]+ [0-9:]+ //; s/[0-9]+#[0-9]+: //; s/\*[0-9]+ //' "$tmp/$s/error.log" |
        sort | uniq -c | sort -rn | head -10 >&2
done

if [ "$PIN" = 1 ]; then note="server on CPU 0, tool on CPU 1"; else note="not pinned"; fi
MODES_NOTE="$note, ${SECS} s x $RUNS runs, $(date -u +%F)" python3 scripts/limits/modes_report.py "$tmp/runs" "$OUT_CSV" "$OUT_PNG" "$OUT_RUNS"
echo "wrote $OUT_CSV $OUT_RUNS $OUT_PNG" >&2
