#!/usr/bin/env bash
# The proxy's ephemeral-port / TIME_WAIT wall, measured (issue 11, "the seed's
# story measured"; documented in docs/connection-limits.md section 6).
#
#   scripts/proxy-ports.sh                          # 7 runs of SECS=60 s: ~7.5 minutes
#   RUNS=3 scripts/proxy-ports.sh                   # 3 repetitions, medians: ~21 minutes
#   CASES="http11:0 pool:0" SECS=50 scripts/proxy-ports.sh    # a subset
#   RANGE="40000 43999" SECS=20 scripts/proxy-ports.sh        # a narrower port range (inside the
#                                                  # private namespace only): the wall comes sooner
#   HOLDFAST_BIN=/path/to/holdfast HOLDFAST_LOAD_BIN=/path/to/holdfast-load scripts/proxy-ports.sh
#
# One backend address (an nginx, worker_processes 1, answering
# `return 200 "hello from backend\n"` with keepalive_requests 1000000, and
# stub_status on a port of its own: its `accepts` counter is the number of
# upstream connections the proxy opened), holdfast in front of it as a
# reverse proxy, and `holdfast-load keepalive -c CONNS -d SECS` as the
# clients: keep-alive client connections, so the clients open only CONNS
# connections and the only side that can run out of ports is the proxy's,
# towards 127.0.0.1:BACKEND.
#
# Cases (CASES, each NAME:TW_REUSE[:CLIENT_CONNECTIONS], default CONNS=32 connections):
#   http10  upstream b { server 127.0.0.1:BE; }            proxy_pass http://b;
#           holdfast's default request to a block without `keepalive`: HTTP/1.0
#           and `Connection: close`; the backend closes first after each response.
#   http11  the same block, plus proxy_http_version 1.1; proxy_set_header Connection "";
#           the backend keeps the connection open; holdfast has no pool, so it
#           closes the connection after the response itself: holdfast closes first.
#   pool    upstream b { server 127.0.0.1:BE; keepalive POOL; }   proxy_pass http://b;
#           (holdfast sends HTTP/1.1 without `Connection` to a block with keepalive).
#           With more client connections than POOL (the default list has pool:0:50),
#           more upstream connections are busy at once than the pool keeps idle: the
#           extra ones are closed by holdfast when they come back (nginx's rule, the
#           least recently used idle one goes), and new ones are opened again.
# TW_REUSE is net.ipv4.tcp_tw_reuse for the run: 2 is Linux's default and lets
# connect() take over a TIME_WAIT port older than 1 s, but only for loopback
# addresses; 0 is what connect() gets towards any other address with the same
# default, i.e. what a proxy in front of a backend on another machine gets.
#
# Every run happens in a network namespace of its own (`unshare --net`, root):
# its own loopback, its own TIME_WAIT table, its own sysctls. So the sysctls set
# for the run (tcp_tw_reuse, and ip_local_port_range if RANGE is given) change
# nothing outside it, every run starts with 0 TIME_WAIT sockets, other people's
# sockets do not count, and the namespace and its TIME_WAIT sockets go away
# when the run ends. With NETNS=0 (or without root/unshare) the runs use the
# machine's namespace and sysctls as they are: only the cases whose TW_REUSE is
# the machine's value run, nothing is changed, TIME_WAIT counts are taken per
# port with ss, and each run first waits (at most 66 s) for the TIME_WAIT
# sockets of the one before to expire.
#
# Per run: responses by status (200 = requests OK; 502 = holdfast could not
# reach the backend), holdfast-load's errors by kind, requests/s, p50/p99, the
# upstream connections opened (the backend's accepts), the TIME_WAIT sockets at
# the end split by side (proxy side: local port = an ephemeral port, remote port
# = the backend's; backend side: local port = the backend's), the ports of the
# range in use, holdfast's error log grouped by message (first and last line
# verbatim, the second of the run they appeared in), and a timeline sampled
# every second: responses/s, TIME_WAIT, holdfast's user and system CPU, error
# log lines. STRACE_AT=T additionally attaches `strace -c -e trace=connect` to
# holdfast for 2 s from second T of each unpooled run (connect() µs per call;
# it slows those 2 s).
#
# Loopback only (127.0.0.1, and in the private namespace nothing else exists);
# every client run is bounded by -d and timeout(1), every wait is bounded, and
# the servers, the sampler and strace are killed at the end of each run.
# Installs what it lacks (nginx-light, curl, iproute2 for ss; apt-get). Builds
# holdfast and holdfast-load in release mode (honours CARGO_TARGET_DIR) unless
# HOLDFAST_BIN and HOLDFAST_LOAD_BIN name binaries. Raw results and summary.md
# go to $OUT_DIR (default <target dir>/proxy-ports/<UTC time>).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
SELF=$ROOT/scripts/proxy-ports.sh

# ====================================================================== one run
# (called by the driver below as `proxy-ports.sh --run CASE TW_REUSE DIR`,
# inside `unshare --net` unless NETNS=0; everything else comes in the environment)
if [ "${1:-}" = "--run" ]; then
    CASE=$2 TWR=$3 D=$4
    START=$(date +%s.%N)
    PIDS=()
    cleanup_run() {
        local p
        for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
        sleep 0.3
        for p in "${PIDS[@]}"; do kill -KILL "$p" 2>/dev/null || true; done
        wait 2>/dev/null || true
    }
    trap cleanup_run EXIT
    meta() { echo "$1: $2" >> "$D/meta.txt"; }
    elapsed() { awk -v a="$1" -v b="$START" 'BEGIN { printf "%.2f", a - b }'; }
    : > "$D/meta.txt"
    meta case "$CASE"
    if [ "$NETNS" = 1 ]; then
        ip link set lo up
        sysctl -q -w net.ipv4.tcp_tw_reuse="$TWR"
        [ -n "$RANGE" ] && sysctl -q -w net.ipv4.ip_local_port_range="$RANGE"
        meta netns "private (unshare --net)"
    else
        meta netns "the machine's"
    fi
    meta tcp_tw_reuse "$(cat /proc/sys/net/ipv4/tcp_tw_reuse)"
    meta ip_local_port_range "$(tr '\t' ' ' < /proc/sys/net/ipv4/ip_local_port_range)"
    meta tcp_max_tw_buckets "$(cat /proc/sys/net/ipv4/tcp_max_tw_buckets)"
    meta tcp_timestamps "$(cat /proc/sys/net/ipv4/tcp_timestamps)"

    tw_all() { awk '$1 == "TCP:" { for (i = 2; i < NF; i++) if ($i == "tw") print $(i + 1) }' /proc/net/sockstat; }
    tw_proxy() { ss -Htan state time-wait "dport = :$BE_PORT" 2>/dev/null | wc -l; }   # local: ephemeral
    tw_backend() { ss -Htan state time-wait "sport = :$BE_PORT" 2>/dev/null | wc -l; } # local: the backend's
    be_accepts() {
        curl -fs --max-time 5 "http://127.0.0.1:$ST_PORT/status" 2>/dev/null |
            awk 'NR == 3 {print $1; ok = 1} END {if (!ok) print -1}'
    }
    wait_up() { # url pid
        for _ in $(seq 100); do
            kill -0 "$2" 2>/dev/null || return 1
            curl -fs --max-time 1 -o /dev/null "$1" && return 0
            sleep 0.1
        done
        return 1
    }

    mkdir -p "$D/be" "$D/hf/logs"
    cp "$CONF_DIR/backend.conf" "$D/be/backend.conf"
    cp "$CONF_DIR/$CASE.conf" "$D/hf/holdfast.conf"
    "$NGINX" -p "$D/be/" -e stderr -c "$D/be/backend.conf" \
        -g "daemon off; pid $D/be/nginx.pid;" 2>>"$D/backend.stderr" &
    PIDS+=($!)
    wait_up "http://127.0.0.1:$BE_PORT/" "${PIDS[0]}" || { echo "backend did not start" >&2; exit 1; }
    "$HF" -p "$D/hf" -c "$D/hf/holdfast.conf" 2>>"$D/holdfast.stderr" &
    HF_PID=$!
    PIDS+=("$HF_PID")
    wait_up "http://127.0.0.1:$HF_PORT/" "$HF_PID" || { echo "holdfast did not start" >&2; exit 1; }
    body=$(curl -fs --max-time 2 "http://127.0.0.1:$HF_PORT/")
    [ "$body" = "$BODY" ] || { echo "holdfast did not relay the backend's body: '$body'" >&2; exit 1; }

    a0=$(be_accepts)
    meta tw_before "$(tw_all)"
    meta tw_proxy_side_before "$(tw_proxy)"

    # The sampler: one line a second until the run ends.
    (
        clk=$(getconf CLK_TCK)
        printf 't_s\tepoch\ttw\thf_utime_ticks\thf_stime_ticks\tclk_tck\n'
        while kill -0 "$HF_PID" 2>/dev/null; do
            now=$(date +%s.%N)
            if [ "$NETNS" = 1 ]; then tw=$(tw_all); else tw=$(tw_proxy); fi
            read -r ut st < <(sed 's/^.*) //' "/proc/$HF_PID/stat" 2>/dev/null | awk '{print $12, $13}' || echo "0 0")
            printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$(elapsed "$now")" "${now%.*}" "$tw" "$ut" "$st" "$clk"
            sleep 1
        done
    ) > "$D/samples.tsv" 2>/dev/null &
    SAMPLER=$!
    PIDS+=("$SAMPLER")

    if [ -n "$STRACE_AT" ] && [ "$CASE" != pool ] && command -v strace >/dev/null; then
        (
            sleep "$STRACE_AT"
            timeout -s INT 2 strace -c -e trace=connect -p "$HF_PID" -o "$D/strace-connect.txt" 2>/dev/null || true
        ) &
        PIDS+=($!)
    fi

    LOAD_START=$(date +%s.%N)
    meta load_start_offset_s "$(elapsed "$LOAD_START")"
    meta load_command "holdfast-load keepalive -c $CONNS -d ${SECS}s --timeout 5s --json http://127.0.0.1:$HF_PORT/"
    timeout -k 5 $((SECS + 40)) "$LOAD" keepalive -c "$CONNS" -d "${SECS}s" --timeout 5s --json \
        "http://127.0.0.1:$HF_PORT/" > "$D/load.json" 2> "$D/load.stderr" || true

    a1=$(be_accepts)
    # The accepts counter counts the stub_status request itself (+1).
    meta upstream_conns_opened "$(( a1 >= 0 && a0 >= 0 ? a1 - a0 - 1 : -1 ))"
    meta tw_after "$(tw_all)"
    meta tw_proxy_side_after "$(tw_proxy)"
    meta tw_backend_side_after "$(tw_backend)"
    # connect() tries even ports first (bind() odd ones): how many of the proxy side's are even.
    meta tw_proxy_side_even_ports "$(ss -Htan state time-wait "dport = :$BE_PORT" | awk '{n = split($3, a, ":"); if (a[n] % 2 == 0) e++} END {print e + 0}')"
    meta tw_client_side_after "$(ss -Htan state time-wait "dport = :$HF_PORT or sport = :$HF_PORT" | wc -l)"
    # Local ports in use towards the backend (any state), against the range.
    meta proxy_ports_in_use "$(ss -Htan "dport = :$BE_PORT" | awk '{n = split($4, a, ":"); print a[n]}' | sort -u | wc -l)"
    meta run_seconds "$(elapsed "$(date +%s.%N)")"
    cp "$D/hf/logs/error.log" "$D/error.log" 2>/dev/null || : > "$D/error.log"
    exit 0
fi

# ====================================================================== the driver
START_TS=$(date +%s)
RUNS=${RUNS:-1}                 # repetitions of every case (medians reported when > 1)
SECS=${SECS:-60}                # seconds of load per run
CONNS=${CONNS:-32}              # keep-alive client connections (a case may name its own)
POOL=${POOL:-32}                # `keepalive N` of the pooled case
CASES=${CASES:-"http10:2 http11:2 pool:2 http10:0 http11:0 pool:0 pool:0:50"}
RANGE=${RANGE:-}                # "LOW HIGH": ip_local_port_range inside the namespace
STRACE_AT=${STRACE_AT:-}        # second of the run to sample connect() with strace (unpooled cases)
NETNS=${NETNS:-1}
BODY="hello from backend"

log() { printf '[proxy-ports %4ss] %s\n' "$(( $(date +%s) - START_TS ))" "$*" >&2; }
die() { log "error: $*"; exit 1; }

need() { command -v "$1" >/dev/null 2>&1; }
missing=()
need nginx   || [ -x /usr/sbin/nginx ] || missing+=(nginx-light)
need curl    || missing+=(curl)
need ss      || missing+=(iproute2)
need python3 || missing+=(python3)
if ((${#missing[@]})); then
    log "installing ${missing[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi
NGINX=$(command -v nginx || echo /usr/sbin/nginx)

if [ "$NETNS" = 1 ]; then
    if [ "$(id -u)" != 0 ] || ! unshare --net true 2>/dev/null; then
        log "no private network namespace here (needs root and unshare --net): NETNS=0"
        NETNS=0
    fi
fi
[ -z "$RANGE" ] || [ "$NETNS" = 1 ] || die "RANGE needs a private network namespace (it is never set on the machine)"
if [ "$NETNS" = 0 ]; then
    # Only what the machine's own settings allow: nothing is changed.
    mine=$(cat /proc/sys/net/ipv4/tcp_tw_reuse)
    kept=""
    for c in $CASES; do
        t=${c#*:}; t=${t%%:*}
        if [ "$t" = "$mine" ]; then kept="$kept $c"; else log "skipping $c: tcp_tw_reuse is $mine here and is not changed outside a private namespace"; fi
    done
    CASES=$kept
    [ -n "$CASES" ] || die "no case left"
fi
for c in $CASES; do
    case ${c%%:*} in http10|http11|pool) ;; *) die "unknown case ${c%%:*} (http10 http11 pool)" ;; esac
    IFS=: read -r _ t cc x <<<"$c"
    case $t in 0|1|2) ;; *) die "tcp_tw_reuse must be 0, 1 or 2 in $c" ;; esac
    [[ -z "$cc" || "$cc" =~ ^[1-9][0-9]*$ ]] && [ -z "${x:-}" ] || die "bad case $c (NAME:TW_REUSE[:CONNECTIONS])"
done

TARGET_DIR=${CARGO_TARGET_DIR:-target}
case $TARGET_DIR in /*) ;; *) TARGET_DIR=$ROOT/$TARGET_DIR ;; esac
HOLDFAST_BIN=${HOLDFAST_BIN:-}
HOLDFAST_LOAD_BIN=${HOLDFAST_LOAD_BIN:-}
if [ -z "$HOLDFAST_BIN" ] || [ -z "$HOLDFAST_LOAD_BIN" ]; then
    log "cargo build --release (target dir $TARGET_DIR)"
    cargo build --release -q --bin holdfast --bin holdfast-load
    HOLDFAST_BIN=${HOLDFAST_BIN:-$TARGET_DIR/release/holdfast}
    HOLDFAST_LOAD_BIN=${HOLDFAST_LOAD_BIN:-$TARGET_DIR/release/holdfast-load}
fi
[ -x "$HOLDFAST_BIN" ] || die "no $HOLDFAST_BIN"
[ -x "$HOLDFAST_LOAD_BIN" ] || die "no $HOLDFAST_LOAD_BIN"

OUT=${OUT_DIR:-$TARGET_DIR/proxy-ports/$(date -u +%Y%m%dT%H%M%SZ)}
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
tmp=$(mktemp -d /tmp/holdfast-proxy-ports.XXXXXX)
chmod 755 "$tmp"
cp "$HOLDFAST_BIN" "$tmp/holdfast"          # private copies: rebuilds change nothing
cp "$HOLDFAST_LOAD_BIN" "$tmp/holdfast-load"
RUN_PID=""
cleanup() {
    if [ -n "$RUN_PID" ]; then kill -TERM "$RUN_PID" 2>/dev/null || true; fi
    rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Ports: in a private namespace nothing else listens; on the machine, the
# first free ones from 18680 on.
port_free() { ! ss -Hltn "sport = :$1" 2>/dev/null | grep -q .; }
pick_port() { local p=$1; while [[ " $2 " == *" $p "* ]] || ! port_free "$p"; do p=$((p + 1)); done; echo "$p"; }
HF_PORT=$(pick_port "${HF_PORT:-18680}" "")
BE_PORT=$(pick_port $((HF_PORT + 1)) "$HF_PORT")
ST_PORT=$(pick_port $((HF_PORT + 2)) "$HF_PORT $BE_PORT")

CONF_DIR=$tmp/conf
mkdir -p "$CONF_DIR"
cat > "$CONF_DIR/backend.conf" <<CONF
worker_processes 1;
worker_rlimit_nofile 20000;
error_log stderr error;
events { worker_connections 10000; multi_accept on; }
http {
    access_log off;
    default_type text/plain;
    keepalive_requests 1000000;
    keepalive_timeout 75s;
    server {
        listen 127.0.0.1:$BE_PORT backlog=4096;
        location / { return 200 "$BODY\n"; }
    }
    server {
        listen 127.0.0.1:$ST_PORT;
        location = /status { stub_status; }
    }
}
CONF
write_proxy_conf() { # case
    {
        echo "worker_processes 1;"
        echo "worker_rlimit_nofile 20000;"
        echo "error_log logs/error.log warn;"
        echo "events { worker_connections 10000; }"
        echo "http {"
        echo "    access_log off;"
        echo "    keepalive_timeout 300s;"
        echo "    keepalive_requests 1000000;"
        case $1 in
        pool) echo "    upstream b { server 127.0.0.1:$BE_PORT; keepalive $POOL; }" ;;
        *)    echo "    upstream b { server 127.0.0.1:$BE_PORT; }" ;;
        esac
        echo "    server {"
        echo "        listen 127.0.0.1:$HF_PORT backlog=4096;"
        echo "        location / {"
        echo "            proxy_pass http://b;"
        if [ "$1" = http11 ]; then
            echo "            proxy_http_version 1.1;"
            echo "            proxy_set_header Connection \"\";"
        fi
        echo "        }"
        echo "    }"
        echo "}"
    } > "$CONF_DIR/$1.conf"
}
for c in http10 http11 pool; do
    write_proxy_conf "$c"
    cp "$CONF_DIR/$c.conf" "$OUT/holdfast-$c.conf"
    mkdir -p "$tmp/t/logs"
    "$tmp/holdfast" -t -q -p "$tmp/t" -c "$CONF_DIR/$c.conf" 2>"$tmp/t.err" || die "holdfast -t $c: $(cat "$tmp/t.err")"
done
cp "$CONF_DIR/backend.conf" "$OUT/backend.conf"

{
    echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
    echo "nproc: $(nproc)"
    echo "kernel: $(uname -sr)"
    echo "nginx (backend): $("$NGINX" -v 2>&1 | sed 's/^nginx version: //')"
    echo "holdfast: $HOLDFAST_BIN"
    echo "machine sysctls: tcp_tw_reuse $(cat /proc/sys/net/ipv4/tcp_tw_reuse), ip_local_port_range $(tr '\t' ' ' < /proc/sys/net/ipv4/ip_local_port_range), tcp_max_tw_buckets $(cat /proc/sys/net/ipv4/tcp_max_tw_buckets), tcp_timestamps $(cat /proc/sys/net/ipv4/tcp_timestamps)"
    echo "loadavg_at_start: $(cut -d' ' -f1-3 /proc/loadavg)"
    echo "network namespace: $([ "$NETNS" = 1 ] && echo "a private one per run (unshare --net)" || echo "the machine's")"
    echo "runs: $RUNS x ($CASES), ${SECS} s each, $CONNS keep-alive client connections${RANGE:+, ip_local_port_range $RANGE in the namespace}"
    echo "ports: holdfast 127.0.0.1:$HF_PORT, backend 127.0.0.1:$BE_PORT, backend stub_status :$ST_PORT"
    echo "command: ${PROXY_PORTS_CMD:-scripts/proxy-ports.sh}"
} > "$OUT/machine.txt"
sed 's/^/    /' "$OUT/machine.txt" >&2

export HF="$tmp/holdfast" LOAD="$tmp/holdfast-load" NGINX CONF_DIR HF_PORT BE_PORT ST_PORT \
    SECS CONNS RANGE STRACE_AT NETNS BODY

n=0
for rep in $(seq "$RUNS"); do
    for c in $CASES; do
        n=$((n + 1))
        IFS=: read -r name twr cc <<<"$c"
        cc=${cc:-$CONNS}
        d=$OUT/run-$rep-$name-tw$twr-c$cc
        mkdir -p "$d"
        log "run $rep: $name, tcp_tw_reuse $twr, $cc client connections, ${SECS} s"
        if [ "$NETNS" = 0 ]; then
            # One namespace for all runs: let the last run's TIME_WAIT sockets expire (60 s) first.
            for _ in $(seq 66); do
                [ "$(ss -Htan state time-wait "dport = :$BE_PORT or sport = :$BE_PORT" | wc -l)" = 0 ] && break
                [ "${waited:-}" = "$n" ] || { log "  waiting (at most 66 s) for the TIME_WAIT sockets of the last run to expire"; waited=$n; }
                sleep 1
            done
        fi
        if [ "$NETNS" = 1 ]; then
            CONNS=$cc timeout -k 5 $((SECS + 90)) unshare --net -- bash "$SELF" --run "$name" "$twr" "$d" 2>>"$d/run.stderr" &
        else
            CONNS=$cc timeout -k 5 $((SECS + 90)) bash "$SELF" --run "$name" "$twr" "$d" 2>>"$d/run.stderr" &
        fi
        RUN_PID=$!
        wait "$RUN_PID" || log "  the run ended with status $? (see $d/run.stderr)"
        RUN_PID=""
        python3 - "$d" <<'PY' >&2 || true
import json, sys
d = sys.argv[1]
m = dict(l.rstrip("\n").split(": ", 1) for l in open(f"{d}/meta.txt") if ": " in l)
j = json.load(open(f"{d}/load.json"))
st = j.get("status", {})
print(f"  200: {st.get('200', 0)}, 502: {st.get('502', 0)}, tool errors: {j['errors']['total']}, "
      f"{j['requests_per_s']:.0f} req/s, upstream connections {m.get('upstream_conns_opened')}, "
      f"TIME_WAIT proxy side {m.get('tw_proxy_side_after')}, backend side {m.get('tw_backend_side_after')}")
PY
    done
done
echo "loadavg_at_end: $(cut -d' ' -f1-3 /proc/loadavg)" >> "$OUT/machine.txt"
echo "total_seconds: $(( $(date +%s) - START_TS ))" >> "$OUT/machine.txt"

python3 - "$OUT" "$CASES" "$RUNS" "$POOL" "$CONNS" <<'PY' | tee "$OUT/summary.md"
import datetime, json, os, re, statistics, sys
out, cases, runs, pool, conns0 = sys.argv[1], sys.argv[2].split(), int(sys.argv[3]), sys.argv[4], sys.argv[5]

def load(d):
    m = dict(l.rstrip("\n").split(": ", 1) for l in open(f"{d}/meta.txt") if ": " in l)
    try:
        j = json.load(open(f"{d}/load.json"))
    except (OSError, ValueError):
        j = None
    samples = []
    try:
        for i, l in enumerate(open(f"{d}/samples.tsv")):
            if i:
                f = l.split("\t")
                samples.append((float(f[0]), int(f[1]), int(f[2]), int(f[3]), int(f[4]), int(f[5])))
    except (OSError, ValueError, IndexError):
        pass
    prog = []  # (t, responses/s) from holdfast-load's progress lines
    try:
        txt = open(f"{d}/load.stderr", errors="replace").read().replace("\r", "\n")
        prog = [(float(a), int(b)) for a, b in re.findall(r"\[\s*([0-9.]+)s\]\s+([0-9]+) req/s", txt)]
    except OSError:
        pass
    errs = [l.rstrip("\n") for l in open(f"{d}/error.log", errors="replace")] if os.path.exists(f"{d}/error.log") else []
    return m, j, samples, prog, errs

def norm(l):
    k = re.sub(r"^\S+ \S+ ", "", l)                 # the time stamp
    k = re.sub(r"\d+#\d+: \*\d+ ", "", k)           # pid#tid: *conn
    k = re.sub(r", client: .*", "", k)
    return k

def epoch(l):
    try:
        return datetime.datetime.strptime(" ".join(l.split()[:2]), "%Y/%m/%d %H:%M:%S").timestamp()
    except ValueError:
        return None

desc = {"http10": "no keepalive; HTTP/1.0 + Connection: close (backend closes first)",
        "http11": "no keepalive; proxy_http_version 1.1, Connection \"\" (holdfast closes first)",
        "pool":   f"keepalive {pool}"}

def med(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None

def f0(v):
    return "-" if v is None else f"{v:,.0f}"

print("# The proxy's ephemeral-port / TIME_WAIT wall (scripts/proxy-ports.sh)")
print()
for l in open(f"{out}/machine.txt"):
    print(f"    {l.rstrip()}")
print()
print("Medians over the repetitions" if runs > 1 else "One run per case", end="")
print(" (the min–max in brackets when there are several). Clients: holdfast-load keepalive, so every "
      "client connection stays open and all new connections are holdfast's, towards one backend address:port.")
print()
print("| case | tcp_tw_reuse | 200 (requests OK) | 502 | client errors | req/s | p99 | upstream connections opened "
      "| per 1000 req | TIME_WAIT at end: proxy side | backend side | ports in use of range | first connect() error at | error log lines |")
print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
details = []
for c in cases:
    name, twr, cc = (c.split(":") + [conns0])[:3]
    rows = []
    for rep in range(1, runs + 1):
        d = f"{out}/run-{rep}-{name}-tw{twr}-c{cc}"
        if not os.path.exists(f"{d}/meta.txt"):
            continue
        m, j, samples, prog, errs = load(d)
        if j is None:
            continue
        st = j.get("status", {})
        ok, bad = st.get("200", 0), st.get("502", 0)
        conns = int(m.get("upstream_conns_opened", -1))
        lo, hi = map(int, m["ip_local_port_range"].split())
        t0 = float(m.get("load_start_offset_s", 0))
        start_epoch = samples[0][1] - samples[0][0] if samples else None
        first_err = None
        conn_errs = [l for l in errs if "connect() failed" in l]
        if conn_errs and start_epoch is not None and epoch(conn_errs[0]) is not None:
            first_err = max(0.0, epoch(conn_errs[0]) - start_epoch - t0)  # the log has whole seconds
        rows.append(dict(ok=ok, bad=bad, cerr=j["errors"]["total"], rps=j["requests_per_s"],
                         p99=j["latency_us"]["p99"], conns=conns,
                         per1k=conns * 1000 / (ok + bad) if ok + bad and conns >= 0 else None,
                         twp=int(m["tw_proxy_side_after"]), twb=int(m["tw_backend_side_after"]),
                         ports=int(m["proxy_ports_in_use"]), rng=hi - lo + 1, first_err=first_err,
                         nerr=len(errs), d=d, m=m, j=j, samples=samples, prog=prog, errs=errs, t0=t0))
    if not rows:
        continue
    def cell(k, fmt=f0):
        v = med(r[k] for r in rows)
        s = fmt(v)
        if len(rows) > 1 and v is not None:
            xs = [r[k] for r in rows if r[k] is not None]
            if min(xs) != max(xs):
                s += f" ({fmt(min(xs))}–{fmt(max(xs))})"
        return s
    p99 = lambda v: "-" if v is None else (f"{v / 1e3:.1f} ms" if v >= 1000 else f"{v:.0f} µs")
    fe = lambda v: "never" if v is None else f"{v:.0f} s"
    print(f"| {name}: {desc[name]}; {cc} clients | {twr} | {cell('ok')} | {cell('bad')} | {cell('cerr')} | {cell('rps')} | "
          f"{cell('p99', p99)} | {cell('conns')} | {cell('per1k', lambda v: '-' if v is None else f'{v:.1f}')} | "
          f"{cell('twp')} | {cell('twb')} | {cell('ports')} of {rows[0]['rng']:,} | "
          f"{fe(med(r['first_err'] for r in rows)) if any(r['first_err'] is not None for r in rows) else 'never'} | {cell('nerr')} |")
    details.append((name, twr, cc, rows))
print()
print("200/502: responses by status, as holdfast-load counted them; client errors: holdfast-load's "
      "(timeouts, resets, ...: none means every request got an answer). upstream connections opened: the backend's "
      "stub_status accepts over the run. TIME_WAIT proxy side: `ss state time-wait dport = :BACKEND` "
      "(holdfast's sockets: their local port is the ephemeral one); backend side: `sport = :BACKEND`. "
      "ports in use: distinct local ports of the sockets towards the backend at the end, any state. "
      "first connect() error at: seconds after the load started, from the error log's time stamps (1 s resolution).")
print()
for name, twr, cc, rows in details:
    r = rows[0]
    print(f"## {name}, tcp_tw_reuse {twr}, {cc} client connections (run {os.path.basename(r['d'])})")
    print()
    j = r["j"]
    print(f"    {r['m'].get('load_command')}")
    print(f"    namespace {r['m'].get('netns')}; tcp_tw_reuse {r['m'].get('tcp_tw_reuse')}, "
          f"ip_local_port_range {r['m'].get('ip_local_port_range')}, tcp_max_tw_buckets {r['m'].get('tcp_max_tw_buckets')}")
    print(f"    status {json.dumps(j.get('status', {}))}, client errors {json.dumps({k: v for k, v in j['errors'].items() if v})}, "
          f"{j['requests_per_s']:.0f} req/s, p50 {j['latency_us']['p50']} µs, p99 {j['latency_us']['p99']} µs, "
          f"max {j['latency_us']['max']} µs")
    print(f"    upstream connections opened {r['conns']:,}; TIME_WAIT at the end {r['m']['tw_after']} "
          f"(proxy side {r['twp']:,}, {int(r['m'].get('tw_proxy_side_even_ports', -1)):,} of them on even ports; backend side {r['twb']:,}; "
          f"client side {r['m']['tw_client_side_after']}); "
          f"ports in use towards the backend {r['ports']:,} of {r['rng']:,} ({r['m']['ip_local_port_range']})")
    groups = {}
    for l in r["errs"]:
        g = groups.setdefault(norm(l), [0, l, l])
        g[0] += 1
        g[2] = l
    if groups:
        print(f"    holdfast error log: {len(r['errs'])} lines")
        for k, (cnt, first, last) in sorted(groups.items(), key=lambda x: -x[1][0])[:6]:
            print(f"      {cnt} x {k}")
            print(f"         first: {first[:260]}")
            if cnt > 1:
                print(f"         last:  {last[:260]}")
    else:
        print("    holdfast error log: empty (warn and above)")
    sf = f"{r['d']}/strace-connect.txt"
    if os.path.exists(sf):
        for l in open(sf):
            if re.search(r"\bconnect\b", l) and not l.startswith("%"):
                f = l.split()
                print(f"    strace -c -e trace=connect (2 s from second {os.environ.get('STRACE_AT')} of the run): {f[3]} calls, "
                      f"{f[2]} µs per call (strace counts a non-blocking connect's EINPROGRESS as an error: {f[4] if len(f) > 5 else 0})")
    # Timeline: one line per second: responses/s, TIME_WAIT, holdfast CPU (user/sys % of a core), error log lines.
    s = r["samples"]
    if s:
        start_epoch = s[0][1] - s[0][0]
        per_sec = {}
        for l in r["errs"]:
            e = epoch(l)
            if e is not None:
                k = int(e - start_epoch - r["t0"])
                per_sec[k] = per_sec.get(k, 0) + 1
        prog = dict((int(round(t)), v) for t, v in r["prog"])
        print("    timeline (s after the load started: responses/s | TIME_WAIT | holdfast user%/sys% | error log lines that second):")
        last_line = None
        lines = []
        for i in range(1, len(s)):
            t = s[i][0] - r["t0"]
            if t < 0.5:
                continue
            dt = (s[i][0] - s[i - 1][0]) or 1
            u = (s[i][3] - s[i - 1][3]) / s[i][5] / dt * 100
            y = (s[i][4] - s[i - 1][4]) / s[i][5] / dt * 100
            k = int(round(t))
            lines.append(f"      {t:5.1f}s  {prog.get(k, 0):7} req/s  tw {s[i][2]:6}  cpu {u:3.0f}/{y:3.0f}  errlog {per_sec.get(k - 1, 0)}")
        step = 1 if len(lines) <= 30 else 2
        for i, l in enumerate(lines):
            if i % step == 0 or i == len(lines) - 1:
                print(l)
    print()
PY
log "done in $(( $(date +%s) - START_TS )) s; raw results in $OUT"
