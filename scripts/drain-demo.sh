#!/usr/bin/env bash
# worker_connections at work: holdfast with `worker_connections 1000`, 990
# idle keep-alive connections held by `holdfast-load hold`, then 5,000 short
# requests. When free connection slots fall to worker_connections/16 (62),
# holdfast (as nginx's ngx_drain_connections) closes the oldest idle
# connections of its reusable queue, max(min(32, reusable/8), 1) at a time,
# and logs, at most once a second,
#   1000 worker_connections are not enough, reusing connections   [warn]
# The demo checks that every short request is served (0 errors), that the
# connections holdfast closed are the oldest idle ones, closed oldest first
# (the hold report), and prints stub_status before / during / after and the
# count of `reusing connections` warnings in the error log. Then, when nginx
# is installed (and NGINX is not 0), the same sequence against nginx
# (worker_processes 1, same settings), for comparison.
#
#   scripts/drain-demo.sh [SHORT_REQUESTS=5000] [SHORT_CONCURRENCY=50] [HELD=990]
#   SHORT_MODE=parallel scripts/drain-demo.sh 5000 100   # waves of 100 instead
#
# Loopback only; the hold run is bounded (-d HOLD_SECS, default 15) and so is
# everything else; the servers are stopped at exit. Exit status 1 if a check
# on holdfast fails. Honours CARGO_TARGET_DIR (default target/).
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/limits/common.sh

SHORT_N=${1:-5000}
SHORT_C=${2:-50}
HELD=${3:-990}
SHORT_MODE=${SHORT_MODE:-short}
HOLD_SECS=${HOLD_SECS:-15}
build

tmp=$(mktemp -d)
trap 'kill_started; rm -rf "$tmp"' EXIT

# demo NAME PORT: the sequence against the server listening on PORT, whose
# error log is $tmp/NAME/error.log. Returns 1 when a check fails.
demo() {
    local name=$1 port=$2 d=$tmp/$1
    local url=http://127.0.0.1:$port
    status() { curl -fs --max-time 2 "$url/status" | sed 's/^/    /'; }

    echo "== [$name] stub_status before"
    status

    echo "== [$name] holdfast-load hold -c $HELD -d $HOLD_SECS (in the background)"
    timeout $((HOLD_SECS + 30)) "$BIN/holdfast-load" hold -c "$HELD" -d "$HOLD_SECS" -q --json \
        "$url/plaintext" > "$d/hold.json" 2> "$d/hold.err" &
    local hold_pid=$!
    STARTED_PIDS+=($hold_pid)
    # Until the server has accepted all of them (stub_status `accepts`), at most 10 s.
    local accepts
    for _ in $(seq 100); do
        accepts=$(curl -fs --max-time 1 "$url/status" | awk 'NR == 3 { print $1 }')
        [ "${accepts:-0}" -ge $((HELD + 1)) ] && break
        sleep 0.1
    done
    # A pause, so that drains during the short run fall in another second than
    # those during the opening (the warning is logged at most once a second).
    sleep 1.2
    echo "== [$name] stub_status once the $HELD held connections are open"
    status | tee "$d/status1.txt"

    echo "== [$name] holdfast-load $SHORT_MODE -c $SHORT_C -n $SHORT_N"
    timeout 60 "$BIN/holdfast-load" "$SHORT_MODE" -c "$SHORT_C" -n "$SHORT_N" -d 30 -q \
        "$url/plaintext" | tee "$d/short.txt" | sed 's/^/    /'
    echo "== [$name] stub_status after the short requests"
    status | tee "$d/status2.txt"

    echo "== [$name] waiting for the hold run to end (${HOLD_SECS}s from its start)"
    wait "$hold_pid" || echo "hold run failed: $(tail -3 "$d/hold.err")"
    echo "== [$name] stub_status after the hold run"
    status

    local reusing notenough
    reusing=$(grep -c 'reusing connections' "$d/error.log" || true)
    notenough=$(grep -v 'reusing' "$d/error.log" | grep -c 'worker_connections are not enough' || true)
    echo "== [$name] error log: $reusing 'reusing connections' warnings, $notenough 'worker_connections are not enough' alerts"
    grep -E 'worker_connections|accept4' "$d/error.log" | sed 's/^/    /' | head -5

    echo "== [$name] the hold report"
    waiting() { awk '/Waiting:/ { print $6 }' "$1"; }
    python3 - "$d/hold.json" "$d/short.txt" "$HELD" "$SHORT_N" \
        "$(waiting "$d/status1.txt")" "$(waiting "$d/status2.txt")" <<'PY'
import json, re, sys
h = json.load(open(sys.argv[1]))
waiting1, waiting2 = int(sys.argv[5]), int(sys.argv[6])
short = open(sys.argv[2]).read()
held_want, short_n = int(sys.argv[3]), int(sys.argv[4])
s = h["hold"]
print(f"    held {s['held']} (all open at {s['all_open_s']} s), kept {s['kept']}, "
      f"closed by the server {s['closed']} ({s['closed_reset']} by RST), "
      f"first close at {s['first_close_s']} s, last at {s['last_close_s']} s")
print(f"    closed are the oldest: {s['closed_are_oldest']}; closed in opening order "
      f"(oldest first): {s['oldest_first']} ({s['order_inversions']} inversions); "
      f"hold errors: {h['errors']['total']}")
print(f"    by stub_status Waiting: {held_want - waiting1} closed while the {held_want} were being "
      f"opened, {waiting1 - waiting2} more during the short run")
closes = s["closes"]
if closes:
    print("    closes (opening index, went idle at s, closed at s), by close time:")
    show = closes if len(closes) <= 8 else closes[:4] + [None] + closes[-3:]
    for c in show:
        print("      ..." if c is None else f"      #{c[0]:<4} idle at {c[1]:.4f} s  closed at {c[2]:.4f} s")
m = re.search(r"requests\s+(\d+) responses of (\d+) sent", short)
e = re.search(r"errors\s+(.*)", short)
responses = int(m.group(1)) if m else -1
errors = e.group(1).strip() if e else "?"
ok = [
    ("every short request served", responses == short_n and errors == "none"),
    (f"all {held_want} held connections opened", s["held"] == held_want),
    ("the server closed some idle connections", s["closed"] > 0),
    ("the closed ones are the oldest, oldest first", s["oldest_first"]),
]
print("== checks")
for what, good in ok:
    print(f"    {'ok  ' if good else 'FAIL'} {what}")
sys.exit(0 if all(g for _, g in ok) else 1)
PY
}

# holdfast
PORT=$(pick_port 28490)
mkdir -p "$tmp/holdfast/conf"
cp conf/mime.types "$tmp/holdfast/conf/"
cat > "$tmp/holdfast/conf/holdfast.conf" <<CONF
error_log $tmp/holdfast/error.log warn;
events { worker_connections 1000; }
http {
    include mime.types;
    keepalive_timeout 300s;
    keepalive_requests 1000000;
    server {
        listen 127.0.0.1:$PORT backlog=4096;
        location = /plaintext { return 200 "Hello, World!"; }
        location = /status { stub_status; }
    }
}
CONF
echo "== holdfast configuration"
grep -v mime.types "$tmp/holdfast/conf/holdfast.conf" | sed "s|$tmp|\$tmp|; s/^/    /"
"$BIN/holdfast" -p "$tmp/holdfast" -c "$tmp/holdfast/conf/holdfast.conf" &
STARTED_PIDS+=($!)
wait_http "http://127.0.0.1:$PORT/plaintext"
rc=0
demo holdfast "$PORT" || rc=1

# nginx, the same way (its listening socket takes one of the 1000 connections).
if [ "${NGINX:-1}" != 0 ] && command -v nginx >/dev/null 2>&1; then
    NPORT=$(pick_port $((PORT + 1)))
    mkdir -p "$tmp/nginx"
    cat > "$tmp/nginx/nginx.conf" <<CONF
worker_processes 1;
error_log $tmp/nginx/error.log warn;
pid $tmp/nginx/nginx.pid;
events { worker_connections 1000; }
http {
    access_log off;
    default_type text/plain;
    keepalive_timeout 300s;
    keepalive_requests 1000000;
    server {
        listen 127.0.0.1:$NPORT backlog=4096;
        location = /plaintext { return 200 "Hello, World!"; }
        location = /status { stub_status; }
    }
}
CONF
    echo
    echo "== the same against $(nginx -v 2>&1 | sed 's/.*: //') (worker_processes 1, same settings)"
    nginx -p "$tmp/nginx" -c "$tmp/nginx/nginx.conf" -g 'daemon off;' 2>>"$tmp/nginx/error.log" &
    STARTED_PIDS+=($!)
    wait_http "http://127.0.0.1:$NPORT/plaintext"
    demo nginx "$NPORT" || echo "(a check failed against nginx)"
fi
exit $rc
