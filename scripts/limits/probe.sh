#!/usr/bin/env bash
# Meets each connection limit on purpose, briefly, and shows how it looks from
# both ends: the holdfast-load error kind and the holdfast error-log line.
# The figures quoted in docs/connection-limits.md come from this script.
#
#   scripts/limits/probe.sh [SECTION...]
#   sections: limits backlog nofile rlimit tool-nofile ports workers timewait
#   (default: all, ~1 minute)
#
# Loopback only; every run is bounded (-d, --timeout, `timeout`); the servers
# started here are stopped at exit. Honours CARGO_TARGET_DIR (default target/).
set -euo pipefail
cd "$(dirname "$0")/../.."
. scripts/limits/common.sh
SECTIONS=${*:-"limits backlog nofile rlimit tool-nofile ports workers timewait"}
build
LOAD=$BIN/holdfast-load
tmp=$(mktemp -d)
trap 'kill_started; rm -rf "$tmp"' EXIT
cp conf/mime.types "$tmp/"

# server NAME MAIN_DIRECTIVES EVENTS LISTEN_PARAMS -> starts holdfast, sets
# PORT and SPID; the error log is $tmp/NAME.log (warn).
server() {
    local name=$1
    PORT=$(pick_port "${BASE_PORT:-28520}")
    cat > "$tmp/$name.conf" <<CONF
$2
error_log $tmp/$name.log warn;
events { $3 }
http {
    include mime.types;
    keepalive_timeout 300s;
    server {
        listen 127.0.0.1:$PORT $4;
        location = /plaintext { return 200 "Hello, World!"; }
        location = /status { stub_status; }
    }
}
CONF
    "$BIN/holdfast" -p "$tmp" -c "$tmp/$name.conf" 2>>"$tmp/$name.log" &
    SPID=$!
    STARTED_PIDS+=($SPID)
    wait_http "http://127.0.0.1:$PORT/plaintext"
}
stop() { kill -TERM "$SPID" 2>/dev/null || true; wait "$SPID" 2>/dev/null || true; }
# log_summary NAME: the distinct lines of the error log, with counts.
log_summary() {
    sed -E 's/^[0-9\/]+ [0-9:]+ //; s/ [0-9]+#[0-9]+: / /; s/\*[0-9]+ //' "$tmp/$1.log" |
        sort | uniq -c | sort -rn | head -8 | sed 's/^/    log: /'
}
indent() { sed 's/^/    /'; }
counter_delta() { echo $(( $(netstat_counter "$1") - $2 )); }

for section in $SECTIONS; do
case $section in
limits)
    echo "== limits read on this machine"
    limits_snapshot | indent
    echo "    prlimit --nofile=30000:30000 (raise the hard limit): $(prlimit --pid $$ --nofile=30000:30000 2>&1 || true)"
    ;;

backlog)
    BASE_PORT=28600
    echo "== accept backlog: listen backlog= is capped by somaxconn ($(cat /proc/sys/net/core/somaxconn))"
    server backlog "worker_rlimit_nofile 20000;" "worker_connections 10000;" "backlog=65535"
    echo "    listen ... backlog=65535 -> ss -ltn Send-Q (the effective backlog): $(ss -Hltn "sport = :$PORT" | awk '{ print $3 }')"
    stop
    echo "== accept queue overflow: backlog=16, holdfast stopped (SIGSTOP) for 2 s, 200 connections at once"
    server backlog "worker_rlimit_nofile 20000;" "worker_connections 10000;" "backlog=16"
    o0=$(netstat_counter ListenOverflows); d0=$(netstat_counter ListenDrops)
    kill -STOP "$SPID"
    timeout 30 "$LOAD" hold -c 200 --open-batch 200 -d 10 --timeout 6s -q --json \
        "http://127.0.0.1:$PORT/plaintext" > "$tmp/backlog.json" &
    lp=$!
    sleep 2
    echo "    after 2 s: ss -ltn Recv-Q/Send-Q $(ss -Hltn "sport = :$PORT" | awk '{ print $2 "/" $3 }'), client sockets in SYN-SENT: $(ss -Htn state syn-sent "dport = :$PORT" | wc -l), ESTABLISHED: $(ss -Htn state established "dport = :$PORT" | wc -l)"
    kill -CONT "$SPID"
    wait $lp || true
    echo "    TcpExtListenOverflows +$(counter_delta ListenOverflows "$o0"), TcpExtListenDrops +$(counter_delta ListenDrops "$d0") (whole network namespace)"
    python3 scripts/limits/latency_clusters.py "$tmp/backlog.json" | indent
    stop
    log_summary backlog
    ;;

nofile)
    BASE_PORT=28620
    echo "== RLIMIT_NOFILE of the server: worker_rlimit_nofile 512 with worker_connections 2000, 600 connections"
    server nofile "worker_rlimit_nofile 512;" "worker_connections 2000;" "backlog=4096"
    timeout 30 "$LOAD" hold -c 600 --open-batch 100 -d 5 --timeout 3s -q \
        "http://127.0.0.1:$PORT/plaintext" | grep -E 'connections|errors|hold' | indent
    stop
    log_summary nofile
    if command -v nginx >/dev/null 2>&1; then
        echo "   nginx, same settings:"
        NPORT=$(pick_port 28630)
        cat > "$tmp/ng-nofile.conf" <<CONF
worker_processes 1;
worker_rlimit_nofile 512;
error_log $tmp/ng-nofile.log warn;
pid $tmp/ng-nofile.pid;
events { worker_connections 2000; }
http {
    access_log off;
    keepalive_timeout 300s;
    server { listen 127.0.0.1:$NPORT backlog=4096; location = /plaintext { return 200 "Hello, World!"; } }
}
CONF
        nginx -p "$tmp" -c "$tmp/ng-nofile.conf" -g 'daemon off;' 2>>"$tmp/ng-nofile.log" &
        NGPID=$!
        STARTED_PIDS+=($NGPID)
        wait_http "http://127.0.0.1:$NPORT/plaintext"
        timeout 30 "$LOAD" hold -c 600 --open-batch 100 -d 5 --timeout 3s -q \
            "http://127.0.0.1:$NPORT/plaintext" | grep -E 'connections|errors|hold' | indent
        kill -TERM "$NGPID"; wait "$NGPID" 2>/dev/null || true
        log_summary ng-nofile
    fi
    ;;

rlimit)
    BASE_PORT=28640
    echo "== worker_rlimit_nofile above the hard limit ($(ulimit -Hn))"
    server rlimit "worker_rlimit_nofile 30000;" "worker_connections 25000;" "backlog=4096"
    echo "    holdfast's limit now: $(awk '/Max open files/ { print $4 " soft, " $5 " hard" }' "/proc/$SPID/limits")"
    stop
    log_summary rlimit
    ;;

tool-nofile)
    BASE_PORT=28660
    echo "== RLIMIT_NOFILE of the client: one holdfast-load process asked for 20,500 connections"
    server toolnofile "worker_processes 2; worker_rlimit_nofile 20000;" "worker_connections 20000;" "reuseport backlog=4096"
    timeout 60 "$LOAD" hold -c 20500 --open-batch 64 -d 6 --timeout 5s -q \
        --source-ips 127.0.0.2-127.0.0.50 "http://127.0.0.1:$PORT/plaintext" |
        grep -E 'connections|errors|hold' | indent
    stop
    log_summary toolnofile
    ;;

ports)
    BASE_PORT=28680
    echo "== ephemeral ports: 30,000 connections from one source address (127.0.0.1) to one address:port"
    read -r lo hi < /proc/sys/net/ipv4/ip_local_port_range
    echo "    ip_local_port_range $lo-$hi = $((hi - lo + 1)) ports per (source address, destination address:port)"
    echo "    TCP sockets of this network namespace (everyone's) with a local port in that range now: $(ss -Htan | awk -v lo="$lo" -v hi="$hi" '{ n = split($4, a, ":"); p = a[n] + 0; if (p >= lo && p <= hi) c++ } END { print c + 0 }')"
    server ports "worker_processes 2; worker_rlimit_nofile 20000;" "worker_connections 20000;" "reuseport backlog=4096"
    timeout 60 "$LOAD" hold --procs 2 -c 30000 --open-batch 64 -d 25 --timeout 5s \
        "http://127.0.0.1:$PORT/plaintext" 2> "$tmp/ports.progress" | grep -E 'connections|errors|hold' | indent
    echo "    progress (every 3 s):"
    tr '\r' '\n' < "$tmp/ports.progress" | grep '^\[' | awk 'NR % 3 == 0' | head -9 | sed 's/^/      /'
    echo "   the same from 127.0.0.2-127.0.0.3 (--source-ips):"
    timeout 60 "$LOAD" hold --procs 2 -c 30000 --open-batch 64 -d 10 --timeout 5s -q \
        --source-ips 127.0.0.2-127.0.0.3 "http://127.0.0.1:$PORT/plaintext" |
        grep -E 'connections|errors|hold' | indent
    stop
    log_summary ports
    ;;

workers)
    BASE_PORT=28700
    echo "== worker_connections 100, no idle connection to reuse: 100 connections stuck in a request header"
    server workers "" "worker_connections 100;" "backlog=4096"
    timeout 20 python3 - "$PORT" <<'PY' &
import socket, sys, time
socks = []
for _ in range(100):
    s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
    s.sendall(b"GET /plaintext HTTP/1.1\r\nHost: x\r\n")   # headers never finished
    socks.append(s)
    time.sleep(0.005)   # let holdfast read it: a connection in a request is not reusable
time.sleep(6)
PY
    pp=$!
    sleep 1
    echo "    stub_status unreachable now: $(curl -fs --max-time 1 "http://127.0.0.1:$PORT/status" >/dev/null && echo no || echo yes)"
    timeout 20 "$LOAD" short -c 5 -n 200 -d 3 --timeout 2s -q "http://127.0.0.1:$PORT/plaintext" |
        grep -E 'requests|errors' | indent
    wait $pp || true
    echo "   worker_connections 100 with 200 keep-alive clients (all idle between requests, so drained):"
    timeout 20 "$LOAD" keepalive -c 200 -d 3 --timeout 2s -q "http://127.0.0.1:$PORT/plaintext" |
        grep -E 'requests|connections|errors' | indent
    stop
    log_summary workers
    ;;

timewait)
    BASE_PORT=28720
    echo "== TIME_WAIT: which side keeps it (tcp_max_tw_buckets $(cat /proc/sys/net/ipv4/tcp_max_tw_buckets), tcp_fin_timeout $(cat /proc/sys/net/ipv4/tcp_fin_timeout) s is not its length: 60 s is fixed)"
    server timewait "worker_rlimit_nofile 20000;" "worker_connections 10000;" "backlog=4096"
    ov0=$(netstat_counter TCPTimeWaitOverflow)
    timeout 20 "$LOAD" short -c 50 -d 3 -q --source-ips 127.0.0.2-127.0.0.50 \
        "http://127.0.0.1:$PORT/plaintext" | grep -E 'connections|TIME_WAIT' | indent
    echo "    short (server closes first): TIME_WAIT with local port $PORT (server side) $(ss -Htan state time-wait "sport = :$PORT" | wc -l), with remote port $PORT (client side) $(ss -Htan state time-wait "dport = :$PORT" | wc -l)"
    timeout 20 "$LOAD" keepalive -c 1000 -d 2 -q "http://127.0.0.1:$PORT/plaintext" | grep -E 'connections|TIME_WAIT' | indent
    echo "    after keepalive -c 1000 (the tool closes its 1000 at the end): client side $(ss -Htan state time-wait "dport = :$PORT" | wc -l)"
    echo "    TCPTimeWaitOverflow +$(counter_delta TCPTimeWaitOverflow "$ov0") (namespace-wide; TIME_WAIT now $(sockstat_tcp tw))"
    stop
    ;;
*) echo "unknown section $section" >&2; exit 2 ;;
esac
done
