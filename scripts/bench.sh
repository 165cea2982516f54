#!/usr/bin/env bash
# holdfast vs nginx (worker_processes 1), side by side: the benchmark suite of
# issue 4, documented in docs/performance.md.
#
#   scripts/bench.sh                      # everything, 10-14 minutes
#   RUNS=5 SECS=5 scripts/bench.sh        # more runs per row
#   SCENARIOS="1 2" RSS=0 TIMERS=0 scripts/bench.sh   # a quick subset
#   SENDFILE=off TCP_NOPUSH=on SCENARIOS="4 5" RSS=0 TIMERS=0 scripts/bench.sh
#                                         # file output settings (both servers;
#                                         # scripts/bench-sendfile.sh runs the combinations)
#   TCP_NODELAY=off SCENARIOS="1 4" RSS=0 TIMERS=0 scripts/bench.sh
#                                         # tcp_nodelay (both servers; default on;
#                                         # NODELAY=1 scripts/bench-sendfile.sh runs on and off)
#
# Installs what it lacks (nginx-light, wrk, strace, curl, h2load from
# nghttp2-client; apt-get), builds
# holdfast in release mode (honours CARGO_TARGET_DIR, default target/; or
# measures the binary HOLDFAST_BIN names, without building), writes
# equivalent configs for both servers into a temp dir and runs each scenario
# against both in turn, the server pinned to CPU 0 and every client (wrk, the
# idle-connection holder, strace, curl) to CPU 1:
#   1 keep-alive    GET /plaintext, 50 connections
#   2 pipelined     16 GET /plaintext per write (scripts/bench/pipeline.lua), 50 connections
#   3 short         GET /plaintext with Connection: close: a new TCP connection per request
#   4 static 1k     GET /1k.bin (1 KiB file), keep-alive, 50 connections
#   5 static 1m     GET /1m.bin (1 MiB file), keep-alive, 10 connections
#   6 idle+busy     10,000 idle keep-alive connections (scripts/bench/idle_conns.py)
#                   held open while 50 busy ones run scenario 1
# For every row, the median of RUNS runs (SECS seconds each) of: server CPU
# time per request (user and sys of the server process from /proc/PID/stat,
# divided by the requests wrk completed), requests/s, p50/p99 latency (wrk
# --latency), server CPU% of one core (client-bound note under 90%); and, from
# one extra STRACE_SECS run under `strace -c -f -p PID`, syscalls per request.
# Then RSS per idle keep-alive connection at 10,000 and 19,900 connections,
# RSS right after start with worker_connections 512 and 20000, size_of of
# holdfast's Connection, and the timer-wheel micro-benchmark.
#
# Loopback only (127.0.0.1, sources 127.0.0.2-50); every wrk run, wait and
# helper is bounded in time; all servers and helpers are killed at exit.
# Results (raw runs, strace summaries, summary.md/json, chart if matplotlib
# is importable) go to $BENCH_OUT (default: <target dir>/bench/<timestamp>).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
START_TS=$(date +%s)

RUNS=${RUNS:-5}                 # measured runs per row (median reported)
SECS=${SECS:-5}                 # seconds per measured run
WARM_SECS=${WARM_SECS:-1}       # unrecorded warm-up run per scenario and server
STRACE_SECS=${STRACE_SECS:-4}   # seconds of the run under strace -c
LAT_SECS=${LAT_SECS:-2}         # seconds of each h2load latency run (scenario 2)
SCENARIOS=${SCENARIOS:-"1 2 3 4 5 6"}
RSS=${RSS:-1}                   # 0: skip the RSS-per-connection phase
TIMERS=${TIMERS:-1}             # 0: skip scripts/bench_timers.sh
IDLE=${IDLE:-10000}             # idle connections of scenario 6 and first RSS point
IDLE_MAX=${IDLE_MAX:-19900}     # second RSS point (hard RLIMIT_NOFILE is 20000 here)
WC=${WC:-20000}                 # worker_connections for the benchmark runs
NOFILE=${NOFILE:-20000}         # worker_rlimit_nofile (both servers)
DEPTH=${DEPTH:-16}              # pipelined requests per write
CONNS=${CONNS:-50}
BIG_CONNS=${BIG_CONNS:-10}      # connections for the 1 MiB file
# The same listen options for both servers in every scenario (nginx and
# holdfast both know `deferred` = TCP_DEFER_ACCEPT, and `backlog=`).
LISTEN_OPTS=${LISTEN_OPTS:-"deferred backlog=4096"}
# File output, written as `sendfile $SENDFILE; tcp_nopush $TCP_NOPUSH;` into
# the http block of both servers (both have nginx's semantics: sendfile off =
# read() into a buffer, then write; tcp_nopush = TCP_CORK while a header and a
# file body go out with sendfile). Both servers default to sendfile off.
# `tcp_nodelay $TCP_NODELAY;` likewise (both: TCP_NODELAY set once, when a
# connection first goes keep-alive; both default to on).
SENDFILE=${SENDFILE:-on}        # on | off
TCP_NOPUSH=${TCP_NOPUSH:-off}   # on | off
TCP_NODELAY=${TCP_NODELAY:-on}  # on | off
case $SENDFILE in on|off) ;; *) echo "SENDFILE must be on or off" >&2; exit 2 ;; esac
case $TCP_NOPUSH in on|off) ;; *) echo "TCP_NOPUSH must be on or off" >&2; exit 2 ;; esac
case $TCP_NODELAY in on|off) ;; *) echo "TCP_NODELAY must be on or off" >&2; exit 2 ;; esac
# Extra directives for the http block of one server, e.g.
#   NG_HTTP_EXTRA='open_file_cache max=1024; open_file_cache_valid 1s;'  (off by default in both)
HF_HTTP_EXTRA=${HF_HTTP_EXTRA:-}
NG_HTTP_EXTRA=${NG_HTTP_EXTRA:-}
SERVER_CPU=${SERVER_CPU:-0}
CLIENT_CPU=${CLIENT_CPU:-1}
# The machine is shared: before each measured run, wait until both CPUs are
# below QUIET_PCT% busy (sampled over 0.5 s), spending at most QUIET_BUDGET
# seconds on such waits over the whole suite.
QUIET_PCT=${QUIET_PCT:-25}
QUIET_BUDGET=${QUIET_BUDGET:-45}
# A measured run during which other processes took more than NOISY_PCT% of
# the server's core is run once more (at most RETRY_BUDGET extra runs in the
# whole suite); the summary leaves noisy runs out of a row when at least 3
# others remain.
NOISY_PCT=${NOISY_PCT:-35}
RETRY_BUDGET=${RETRY_BUDGET:-8}

BENCH_NAME=bench
# shellcheck source=scripts/bench/lib.sh
. "$ROOT/scripts/bench/lib.sh"
# h2load: pipelined latency (see h2load_lat).
bench_tools nginx:nginx-light wrk:wrk strace:strace curl:curl taskset:util-linux \
    python3:python3 h2load:nghttp2-client
# HOLDFAST_BIN: measure this binary instead of building one (used by
# scripts/bench-sendfile.sh so that all its runs measure the same build).
bench_build

OUT=${BENCH_OUT:-$TARGET_DIR/bench/$(date -u +%Y%m%dT%H%M%SZ)}
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)

# A private copy of the binary: other builds replacing
# target/release/holdfast mid-run do not change what is measured.
bench_tmpdir

# ---------------------------------------------------------------- machine
{
    echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
    echo "nproc: $(nproc)"
    echo "cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')"
    echo "kernel: $(uname -sr)"
    echo "nginx: $("$NGINX" -v 2>&1 | sed 's/^nginx version: //')"
    echo "wrk: $(wrk -v 2>&1 | head -1 | awk '{print $2}')"
    echo "strace: $(strace -V 2>&1 | head -1)"
    echo "rustc: $(rustc -V)"
    echo "holdfast: $("$tmp/holdfast" -v 2>&1 | head -1)"
    echo "rlimit_nofile: soft $(ulimit -Sn) hard $(ulimit -Hn)"
    echo "loadavg_at_start: $(cut -d' ' -f1-3 /proc/loadavg)"
    echo "clk_tck: $CLK_TCK"
    echo "runs: $RUNS x ${SECS}s (+${WARM_SECS}s warm-up, +${STRACE_SECS}s under strace)"
    echo "listen_opts: $LISTEN_OPTS"
    echo "sendfile: $SENDFILE"
    echo "tcp_nopush: $TCP_NOPUSH"
    echo "tcp_nodelay: $TCP_NODELAY"
    echo "noisy_pct: $NOISY_PCT"
    echo "worker_connections: $WC"
    [ -z "$HF_HTTP_EXTRA" ] || echo "holdfast_http_extra: $HF_HTTP_EXTRA"
    [ -z "$NG_HTTP_EXTRA" ] || echo "nginx_http_extra: $NG_HTTP_EXTRA"
    echo "command: ${BENCH_CMD:-scripts/bench.sh}"
} > "$OUT/machine.txt"
log "machine: $(tr '\n' ';' < "$OUT/machine.txt" | cut -c1-200)"

log "size_of (scripts/bench/sizeof.sh)"
scripts/bench/sizeof.sh > "$OUT/sizeof.txt" 2>"$OUT/sizeof.err" || log "size_of: skipped (see $OUT/sizeof.err)"

# ---------------------------------------------------------------- content and configs
HF_PORT=$(pick_port "${HF_PORT:-18380}")
NG_PORT=$(pick_port "${NG_PORT:-$((HF_PORT + 1))}")
[ "$HF_PORT" != "$NG_PORT" ] || NG_PORT=$(pick_port $((HF_PORT + 1)))

mkdir -p "$tmp/www" "$tmp/hf" "$tmp/ng"
head -c 1024 /dev/urandom > "$tmp/www/1k.bin"
head -c 1048576 /dev/urandom > "$tmp/www/1m.bin"
echo '<html><body>holdfast bench</body></html>' > "$tmp/www/index.html"
chmod -R a+rX "$tmp/www"
cp conf/mime.types "$tmp/mime.types"   # the same types file for both

user_line=""
[ "$(id -u)" = 0 ] && user_line="user root;"

write_confs() { # worker_connections -> $tmp/{hf,ng}/*-WC.conf
    local wc=$1
    cat > "$tmp/hf/holdfast-$wc.conf" <<CONF
worker_rlimit_nofile $NOFILE;
error_log stderr error;
events { worker_connections $wc; multi_accept on; }
http {
    include $tmp/mime.types;
    default_type application/octet-stream;
    sendfile $SENDFILE;
    tcp_nopush $TCP_NOPUSH;
    tcp_nodelay $TCP_NODELAY;
    keepalive_timeout 300s;
    keepalive_requests 1000000;
    $HF_HTTP_EXTRA
    server {
        listen 127.0.0.1:$HF_PORT $LISTEN_OPTS;
        server_name localhost;
        root $tmp/www;
        location = /plaintext { return 200 "Hello, World!"; }
        location = /status { stub_status; }
    }
}
CONF
    mkdir -p "$tmp/ng/$wc"
    cat > "$tmp/ng/nginx-$wc.conf" <<CONF
worker_processes 1;
worker_rlimit_nofile $NOFILE;
$user_line
pid $tmp/ng/nginx-$wc.pid;
error_log stderr error;
events { worker_connections $wc; multi_accept on; }
http {
    include $tmp/mime.types;
    default_type application/octet-stream;
    access_log off;
    sendfile $SENDFILE;
    tcp_nopush $TCP_NOPUSH;
    tcp_nodelay $TCP_NODELAY;
    keepalive_timeout 300s;
    keepalive_requests 1000000;
    client_body_temp_path $tmp/ng/$wc/body;
    proxy_temp_path $tmp/ng/$wc/proxy;
    fastcgi_temp_path $tmp/ng/$wc/fastcgi;
    uwsgi_temp_path $tmp/ng/$wc/uwsgi;
    scgi_temp_path $tmp/ng/$wc/scgi;
    $NG_HTTP_EXTRA
    server {
        listen 127.0.0.1:$NG_PORT $LISTEN_OPTS;
        server_name localhost;
        root $tmp/www;
        location = /plaintext { default_type text/plain; return 200 "Hello, World!"; }
        location = /status { stub_status; }
    }
}
CONF
}

# ---------------------------------------------------------------- servers
declare -A PID PORT MASTER
PORT[holdfast]=$HF_PORT
PORT[nginx]=$NG_PORT

wait_up() { # port pid-to-watch
    local i
    for i in $(seq 100); do
        kill -0 "$2" 2>/dev/null || return 1
        curl -fs --max-time 1 -o /dev/null "http://127.0.0.1:$1/plaintext" && return 0
        sleep 0.1
    done
    return 1
}

start_server() { # name wc -> PID[name] (the process that serves), MASTER[name]
    local name=$1 wc=$2 m w i
    case $name in
    holdfast)
        taskset -c "$SERVER_CPU" "$tmp/holdfast" -p "$tmp/hf" -c "$tmp/hf/holdfast-$wc.conf" \
            2>>"$OUT/holdfast.stderr" &
        m=$!; KILL_PIDS+=("$m")
        wait_up "${PORT[$name]}" "$m" || die "holdfast did not start (see $OUT/holdfast.stderr)"
        w=$m ;;
    nginx)
        taskset -c "$SERVER_CPU" "$NGINX" -p "$tmp/ng/" -e stderr -c "$tmp/ng/nginx-$wc.conf" \
            -g 'daemon off;' 2>>"$OUT/nginx.stderr" &
        m=$!; KILL_PIDS+=("$m")
        wait_up "${PORT[$name]}" "$m" || die "nginx did not start (see $OUT/nginx.stderr)"
        w=""
        for i in $(seq 50); do
            w=$(pgrep -P "$m" | head -1 || true)
            [ -n "$w" ] && break
            sleep 0.1
        done
        [ -n "$w" ] || die "no nginx worker" ;;
    esac
    MASTER[$name]=$m
    PID[$name]=$w
}

stop_server() { # name
    local m=${MASTER[$1]:-} i
    [ -n "$m" ] || return 0
    kill -TERM "$m" 2>/dev/null || true
    for i in $(seq 50); do kill -0 "$m" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$m" 2>/dev/null || true
    if [ -n "${PID[$1]:-}" ]; then kill -KILL "${PID[$1]}" 2>/dev/null || true; fi
    wait "$m" 2>/dev/null || true
    MASTER[$1]=""; PID[$1]=""
}

# (cpu_ticks, cpu_ns, cpu_busy: scripts/bench/lib.sh.) Voluntary context
# switches: each is one blocking epoll_wait that slept, so their count per
# request is a lower bound of epoll_wait calls per request in a run without
# strace (strace slows the server, so under it the events pile up and it
# sleeps less often).
ctx_sw() { awk '/^voluntary_ctxt_switches:/ {v=$2} /^nonvoluntary_ctxt_switches:/ {n=$2} END {print v+0, n+0}' "/proc/$1/status" 2>/dev/null || echo "0 0"; }
vmrss_kb() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status" 2>/dev/null || echo -1; }
srv_status() { # port -> "accepts requests" from stub_status ("" if it does not answer)
    local page
    page=$(curl -fs --max-time 5 --retry 2 "http://127.0.0.1:$1/status" 2>/dev/null) || true
    awk 'NR==3 {print $1, $3}' <<<"$page"
}

# ---------------------------------------------------------------- scenarios
SC_NAME=([1]="keep-alive" [2]="pipelined x$DEPTH" [3]="short (close)"
         [4]="static 1 KiB" [5]="static 1 MiB" [6]="$IDLE idle + $CONNS busy")

wrk_cmd() { # scenario port secs -> runs wrk, prints its output
    local sc=$1 port=$2 secs=$3 url="http://127.0.0.1:$2"
    local args=(-t1 -d"${secs}s" --timeout 2s --latency)
    case $sc in
    1|6) args+=(-c"$CONNS" "$url/plaintext") ;;
    2)   args+=(-c"$CONNS" -s "$ROOT/scripts/bench/pipeline.lua" "$url/plaintext" -- "$DEPTH") ;;
    3)   args+=(-c"$CONNS" -H "Connection: close" "$url/plaintext") ;;
    4)   args+=(-c"$CONNS" "$url/1k.bin") ;;
    5)   args+=(-c"$BIG_CONNS" "$url/1m.bin") ;;
    esac
    timeout -k 2 $((secs + 20)) taskset -c "$CLIENT_CPU" wrk "${args[@]}" 2>&1 || true
}

# wrk output -> "reqs rps p50 p99 errors" (latencies as printed, e.g. 1.2ms)
parse_wrk() {
    awk '/requests in/ {reqs=$1}
         /Requests\/sec/ {rps=$2}
         /^ +50%/ {p50=$2} /^ +99%/ {p99=$2}
         /Socket errors/ {gsub(",", ""); err+=$4+$6+$8+$10}
         /Non-2xx/ {err+=$NF}
         END {print (reqs==""?0:reqs), (rps==""?0:rps), (p50==""?"-":p50), (p99==""?"-":p99), err+0}'
}

# Latency of the pipelined scenario. wrk's percentiles are wrong with
# pipelining: its coordinated-omission correction uses the mean interval per
# *response* while it records one sample per *batch*, so its synthetic samples
# fall below the minimum and its 90%/99% read 0. h2load (--h1 -m DEPTH keeps
# DEPTH requests in flight per connection) logs every request's latency; this
# prints "p50us p99us" of one run.
h2load_lat() { # port secs
    local log=$tmp/h2load.log
    rm -f "$log"
    need h2load || { echo "- -"; return 0; }
    timeout -k 2 $(($2 + 20)) taskset -c "$CLIENT_CPU" h2load --h1 -t1 -c"$CONNS" -m"$DEPTH" \
        -D "$2" --warm-up-time 500ms --log-file "$log" "http://127.0.0.1:$1/plaintext" >/dev/null 2>&1 || true
    python3 - "$log" <<'PY'
import sys
try:
    a = sorted(int(l.split("\t")[2]) for l in open(sys.argv[1]) if l.count("\t") >= 2)
except OSError:
    a = []
print(f"{a[len(a) // 2]}us {a[min(len(a) - 1, int(len(a) * 0.99))]}us" if a else "- -")
PY
    rm -f "$log"
}

RUNS_TSV=$OUT/runs.tsv
printf 'scenario\tserver\trun\treqs\twall_s\tutime\tstime\trps\tp50\tp99\terrors\taccepts\tsrv_reqs\tvcsw\tnvcsw\tcpu_s_busy\tcpu_c_busy\tcpu_ns\n' > "$RUNS_TSV"

OTHERS_LAST=0
measured_run() { # scenario server run secs
    local sc=$1 name=$2 run=$3 secs=$4 port=${PORT[$2]} pid=${PID[$2]}
    local st0 st1 c0 c1 t0 t1 out reqs rps p50 p99 err a0 r0 a1 r1 u0 s0 u1 s1 x0 x1 v0 n0 v1 n1
    local b0 b1 k0 k1 ns0 ns1
    st0=$(srv_status "$port"); x0=$(ctx_sw "$pid")
    b0=$(cpu_busy "$SERVER_CPU"); k0=$(cpu_busy "$CLIENT_CPU"); c0=$(cpu_ticks "$pid"); ns0=$(cpu_ns "$pid")
    t0=$(date +%s.%N)
    out=$(wrk_cmd "$sc" "$port" "$secs")
    t1=$(date +%s.%N); ns1=$(cpu_ns "$pid"); c1=$(cpu_ticks "$pid")
    b1=$(cpu_busy "$SERVER_CPU"); k1=$(cpu_busy "$CLIENT_CPU")
    x1=$(ctx_sw "$pid"); st1=$(srv_status "$port")
    read -r v0 n0 <<<"$x0"; read -r v1 n1 <<<"$x1"
    local nsd=-1
    if ((ns0 >= 0 && ns1 >= 0)); then nsd=$((ns1 - ns0)); fi
    echo "$out" >> "$OUT/wrk-$sc-$name.log"
    read -r reqs rps p50 p99 err < <(parse_wrk <<<"$out") || true
    if [ "$sc" = 2 ]; then   # latency from h2load, outside the CPU window
        read -r p50 p99 < <(h2load_lat "$port" "$LAT_SECS") || true
    fi
    read -r a0 r0 <<<"$st0"; read -r a1 r1 <<<"$st1"
    read -r u0 s0 <<<"$c0"; read -r u1 s1 <<<"$c1"
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$sc" "$name" "$run" "$reqs" \
        "$(awk -v a="$t0" -v b="$t1" 'BEGIN {printf "%.3f", b-a}')" $((u1 - u0)) $((s1 - s0)) \
        "$rps" "$p50" "$p99" "$err" $((a1 - a0 - 1)) $((r1 - r0 - 1)) $((v1 - v0)) $((n1 - n0)) \
        $((b1 - b0)) $((k1 - k0)) "$nsd" >> "$RUNS_TSV"
    # Share of the server's core that other processes took during the run.
    OTHERS_LAST=$(awk -v b=$((b1 - b0)) -v t="$CLK_TCK" -v ns="$nsd" -v u=$((u1 - u0 + s1 - s0)) \
        -v a="$t0" -v z="$t1" 'BEGIN { c = (ns >= 0) ? ns / 1e9 : u / t; o = (b / t - c) / (z - a) * 100;
                                       printf "%.0f", (o < 0) ? 0 : o }')
    log "  s$sc $name run $run: $reqs req, $rps req/s, p50 $p50, p99 $p99, cpu ticks u$((u1 - u0)) s$((s1 - s0)), errors $err, accepts $((a1 - a0 - 1)), others on CPU $SERVER_CPU ${OTHERS_LAST}%"
}

strace_run() { # scenario server
    local sc=$1 name=$2 port=${PORT[$2]} pid=${PID[$2]} sp out reqs i
    local so="$OUT/strace-$sc-$name.txt" se="$tmp/strace-$sc-$name.err"
    : > "$se"
    taskset -c "$CLIENT_CPU" strace -c -f -p "$pid" -o "$so" 2>"$se" &
    sp=$!; KILL_PIDS+=("$sp")
    for i in $(seq 50); do grep -q attached "$se" && break; sleep 0.1; done
    grep -q attached "$se" || { log "  strace did not attach to $name: $(head -c 200 "$se")"; kill -KILL "$sp" 2>/dev/null; return 0; }
    sleep 0.2
    out=$(wrk_cmd "$sc" "$port" "$STRACE_SECS")
    kill -INT "$sp" 2>/dev/null || true
    for i in $(seq 50); do kill -0 "$sp" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$sp" 2>/dev/null || true
    wait "$sp" 2>/dev/null || true
    read -r reqs _ <<<"$(parse_wrk <<<"$out")"
    echo "$reqs" > "$OUT/strace-$sc-$name.reqs"
    log "  s$sc $name under strace: $reqs requests, $(awk '/ total$/ {print $4}' "$so") syscalls"
}

IDLE_PIDS=()
start_idle() { # server n -> holder process in IDLE_PIDS, waits until all are open
    local name=$1 n=$2 rf="$OUT/idle-$name.ready" p i
    : > "$rf"
    taskset -c "$CLIENT_CPU" python3 "$ROOT/scripts/bench/idle_conns.py" --port "${PORT[$name]}" \
        --targets "$n" --server-pid "${PID[$name]}" --ready-file "$rf" --hold \
        --hold-max $((RUNS * 2 * (SECS + 5) + 4 * STRACE_SECS + 120)) --max-time 120 \
        >/dev/null 2>"$OUT/idle-$name.err" &
    p=$!; KILL_PIDS+=("$p"); IDLE_PIDS+=("$p")
    for i in $(seq 1500); do
        grep -q "^reached $n " "$rf" && break
        kill -0 "$p" 2>/dev/null || die "idle_conns.py for $name failed: $(cat "$OUT/idle-$name.err")"
        sleep 0.1
    done
    grep -q "^reached $n " "$rf" || die "idle connections to $name not open in time"
    log "  $name: $(grep "^reached $n " "$rf")"
}
stop_idle() {
    local p
    for p in "${IDLE_PIDS[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
    for p in "${IDLE_PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
    IDLE_PIDS=()
    sleep 1   # let the servers close them
}

SERVERS=(holdfast nginx)
write_confs "$WC"
write_confs 512
if [ -n "${SCENARIOS// /}" ]; then
    log "starting holdfast on :$HF_PORT and nginx on :$NG_PORT (worker_connections $WC, listen $LISTEN_OPTS)"
    start_server holdfast "$WC"
    start_server nginx "$WC"
    for sc in $SCENARIOS; do
        log "scenario $sc: ${SC_NAME[$sc]}"
        if [ "$sc" = 6 ]; then
            for name in "${SERVERS[@]}"; do start_idle "$name" "$IDLE"; done
        fi
        for name in "${SERVERS[@]}"; do wrk_cmd "$sc" "${PORT[$name]}" "$WARM_SECS" >/dev/null; done
        for run in $(seq "$RUNS"); do
            order=("${SERVERS[@]}")
            ((run % 2 == 0)) && order=(nginx holdfast)   # alternate who goes first
            for name in "${order[@]}"; do
                wait_quiet
                measured_run "$sc" "$name" "$run" "$SECS"
                if ((OTHERS_LAST > NOISY_PCT && RETRY_BUDGET > 0)); then
                    RETRY_BUDGET=$((RETRY_BUDGET - 1))
                    log "  noisy run (others took ${OTHERS_LAST}% of CPU $SERVER_CPU): once more"
                    wait_quiet
                    measured_run "$sc" "$name" "${run}b" "$SECS"
                fi
            done
        done
        for name in "${SERVERS[@]}"; do strace_run "$sc" "$name"; done
        if [ "$sc" = 6 ]; then stop_idle; fi
    done
    stop_server holdfast
    stop_server nginx
fi

# ---------------------------------------------------------------- RSS
RSS_TSV=$OUT/rss.tsv
printf 'server\tworker_connections\tconns\trss_kb\tfds\tslab_kb\n' > "$RSS_TSV"
# Both servers close idle keep-alive connections once fewer than 1/16 of
# worker_connections are free (ngx_drain_connections; holdfast mirrors it), so
# with worker_connections 20000 they keep only ~18,750 of 19,900: the idle
# runs are made with WC (20000, what issue 4 names) and with HOLD_WC (22000,
# enough to keep all 19,900 under the 20,000-descriptor limit).
HOLD_WC=${HOLD_WC:-22000}
if [ "$RSS" = 1 ]; then
    write_confs "$HOLD_WC"
    log "RSS: right after start (worker_connections 512, $WC, $HOLD_WC), then $IDLE and $IDLE_MAX idle connections"
    for name in "${SERVERS[@]}"; do
        for wc in 512 "$WC" "$HOLD_WC"; do
            start_server "$name" "$wc"
            sleep 0.5
            printf '%s\t%s\tstart\t%s\t-\t-\n' "$name" "$wc" "$(vmrss_kb "${PID[$name]}")" >> "$RSS_TSV"
            if [ "$wc" != 512 ]; then
                # Warm up (first-request allocations are not per connection).
                timeout 30 taskset -c "$CLIENT_CPU" wrk -t1 -c10 -d1s "http://127.0.0.1:${PORT[$name]}/plaintext" >/dev/null 2>&1 || true
                sleep 0.5
                timeout 300 taskset -c "$CLIENT_CPU" python3 scripts/bench/idle_conns.py \
                    --port "${PORT[$name]}" --targets "$IDLE,$IDLE_MAX" --server-pid "${PID[$name]}" \
                    --settle 1 --max-time 200 > "$OUT/rss-$name-$wc.txt" 2>&1 ||
                    log "  idle_conns.py for $name failed: $(tail -1 "$OUT/rss-$name-$wc.txt")"
                while read -r _ n rss fds slab _; do
                    printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$name" "$wc" "$n" "${rss#rss_kb=}" "${fds#fds=}" \
                        "${slab#slab_kb=}" >> "$RSS_TSV"
                done < <(grep '^reached ' "$OUT/rss-$name-$wc.txt")
                log "  $name wc $wc: $(grep '^reached ' "$OUT/rss-$name-$wc.txt" | cut -d' ' -f1-4 | tr '\n' ' ')"
            fi
            stop_server "$name"
        done
    done
fi

# ---------------------------------------------------------------- timer wheel
if [ "$TIMERS" = 1 ]; then
    log "timer wheel micro-benchmark (scripts/bench_timers.sh, ~90 s)"
    timeout 600 scripts/bench_timers.sh > "$OUT/timers.txt" 2>&1 || log "bench_timers.sh failed (see $OUT/timers.txt)"
fi

# ---------------------------------------------------------------- summary
echo "quiet_wait_seconds: $((QUIET_HALVES / 2)) (budget $QUIET_BUDGET)" >> "$OUT/machine.txt"
echo "retries_left: $RETRY_BUDGET" >> "$OUT/machine.txt"
echo "loadavg_at_end: $(cut -d' ' -f1-3 /proc/loadavg)" >> "$OUT/machine.txt"
echo "total_seconds: $(( $(date +%s) - START_TS ))" >> "$OUT/machine.txt"
chart=()
[ -n "${BENCH_CHART:-}" ] && chart=(--chart "$BENCH_CHART")
python3 scripts/bench/summarize.py "$OUT" "${chart[@]}"
log "done in $(( $(date +%s) - START_TS )) s; raw results in $OUT"
