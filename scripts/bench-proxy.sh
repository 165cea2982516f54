#!/usr/bin/env bash
# holdfast vs nginx (worker_processes 1) as reverse proxies, side by side, in
# front of the same backend: a third server, an nginx (worker_processes 1)
# answering `return 200 "hello from backend\n"` with keepalive_requests
# 1000000 and keepalive_timeout 75s, and stub_status on a port of its own (its
# `accepts` counter tells how many upstream connections each proxy opened).
#
#   scripts/bench-proxy.sh                     # RUNS=5 SECS=4: ~6 minutes
#   RUNS=3 SECS=3 ROWS="a b" scripts/bench-proxy.sh    # a quick subset
#   HOLDFAST_BIN=/path/to/holdfast scripts/bench-proxy.sh   # no build
#
# Rows (wrk -t1 -c50 -d SECS against each proxy's `location /`):
#   a  pooled,   keep-alive clients
#   b  unpooled, keep-alive clients
#   c  pooled,   pipelined clients (DEPTH requests per write, scripts/bench/pipeline.lua)
#   d  pooled,   short client connections (Connection: close on every request)
# pooled:   upstream be { server 127.0.0.1:BACKEND; keepalive 32; }
# unpooled: upstream be { server 127.0.0.1:BACKEND; }
# and location / { proxy_pass http://be; } in both, and for the pooled rows
# `proxy_http_version 1.1; proxy_set_header Connection "";`, which nginx 1.22
# needs to keep upstream connections (holdfast would do both by itself for a
# block with `keepalive`). The two proxies' files are one text except the
# listen port; the script checks that and prints the difference.
#
# Before measuring: each proxy must answer 200 with the backend's body byte
# for byte, and 5 sequential requests over one client connection must open at
# most 1 upstream connection through the pooled configuration (5 through the
# unpooled one); the counts are in the summary.
#
# Per row and proxy, medians of RUNS runs of SECS seconds (the proxies take
# turns, holdfast first on odd runs): proxy CPU µs/request (/proc/PID/schedstat
# of the proxy worker / requests wrk completed), the ratio hf/ng, requests/s,
# p99 latency (wrk --latency; for the pipelined row h2load --h1 -m DEPTH, as
# scripts/bench.sh does, since wrk's percentiles are per batch there),
# upstream connections opened per 1000 requests (backend accepts delta /
# requests * 1000), the proxy's CPU% and the backend's CPU µs/request; from one
# extra STRACE_SECS run under `strace -c -f -p PID`, syscalls/request. wrk's
# non-2xx responses and socket errors are summed over the runs, and the warn+
# lines of each proxy's error log are counted.
#
# Installs what it lacks (nginx-light, wrk, strace, curl; apt-get), builds
# holdfast in release mode (honours CARGO_TARGET_DIR) unless HOLDFAST_BIN names
# a binary. The proxies run on CPU 0; the backend, wrk, h2load, strace and curl
# on CPU 1. Loopback only; every client run is bounded by timeout; all servers
# and strace are killed at exit. Raw results and summary.md go to $BENCH_OUT
# (default <target dir>/bench-proxy/<UTC time>).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
START_TS=$(date +%s)

RUNS=${RUNS:-5}                 # measured runs per row and proxy (median reported)
SECS=${SECS:-4}                 # seconds per measured run
WARM_SECS=${WARM_SECS:-1}       # unrecorded warm-up per row and proxy
STRACE_SECS=${STRACE_SECS:-3}   # seconds of the run under strace -c
LAT_SECS=${LAT_SECS:-2}         # seconds of each h2load latency run (row c)
ROWS=${ROWS:-"a b c d"}
CONNS=${CONNS:-50}
DEPTH=${DEPTH:-16}              # pipelined requests per write (row c)
POOL=${POOL:-32}                # `keepalive N` of the pooled upstream block
WC=${WC:-20000}                 # worker_connections (all three servers)
NOFILE=${NOFILE:-20000}         # worker_rlimit_nofile (all three)
LISTEN_OPTS=${LISTEN_OPTS:-"deferred backlog=4096"}   # the proxies' listen options, as scripts/bench.sh
SERVER_CPU=${SERVER_CPU:-0}     # the two proxies
CLIENT_CPU=${CLIENT_CPU:-1}     # the backend and every client
# As scripts/bench.sh: wait (at most QUIET_BUDGET s in all) for both CPUs to
# be under QUIET_PCT% busy before each run; a run during which others took
# more than NOISY_PCT% of the proxies' core is made once more (RETRY_BUDGET
# in all) and left out of the median when 3 quiet runs remain.
QUIET_PCT=${QUIET_PCT:-25}
QUIET_BUDGET=${QUIET_BUDGET:-45}
NOISY_PCT=${NOISY_PCT:-35}
RETRY_BUDGET=${RETRY_BUDGET:-8}
BODY="hello from backend"       # the backend's answer (+ "\n")

BENCH_NAME=bench-proxy
# shellcheck source=scripts/bench/lib.sh
. "$ROOT/scripts/bench/lib.sh"
bench_tools nginx:nginx-light wrk:wrk strace:strace curl:curl taskset:util-linux python3:python3
# h2load (nghttp2-client) is optional: without it row c reports wrk's p99,
# which is per batch of DEPTH requests.
HAVE_H2LOAD=0
need h2load && HAVE_H2LOAD=1

bench_build

OUT=${BENCH_OUT:-$TARGET_DIR/bench-proxy/$(date -u +%Y%m%dT%H%M%SZ)}
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)

bench_tmpdir
{
    bench_machine
    echo "wrk: $(wrk -v 2>&1 | head -1 | awk '{print $2}')"
    echo "h2load: $( ((HAVE_H2LOAD)) && h2load --version 2>&1 | head -1 || echo absent)"
    echo "runs: $RUNS x ${SECS}s (+${WARM_SECS}s warm-up, +${STRACE_SECS}s under strace), $CONNS connections, pipeline depth $DEPTH"
    echo "cpus: proxies on $SERVER_CPU; backend and clients on $CLIENT_CPU"
    echo "command: ${BENCH_CMD:-scripts/bench-proxy.sh}"
} > "$OUT/machine.txt"

# ---------------------------------------------------------------- ports and configs
pick_port() { # first free port from $1 on that is not among $2 (ports already taken)
    local p=$1
    while [[ " $2 " == *" $p "* ]] || ! port_free "$p"; do p=$((p + 1)); done
    echo "$p"
}
HF_PORT=$(pick_port "${HF_PORT:-18580}" "")
NG_PORT=$(pick_port "${NG_PORT:-$((HF_PORT + 1))}" "$HF_PORT")
BE_PORT=$(pick_port "${BE_PORT:-$((HF_PORT + 2))}" "$HF_PORT $NG_PORT")
ST_PORT=$(pick_port "${ST_PORT:-$((HF_PORT + 3))}" "$HF_PORT $NG_PORT $BE_PORT")

mkdir -p "$tmp/hf" "$tmp/ng" "$tmp/be"

# The backend: its own nginx, on the clients' CPU.
cat > "$tmp/be/backend.conf" <<CONF
worker_processes 1;
worker_rlimit_nofile $NOFILE;
error_log stderr error;
events { worker_connections $WC; multi_accept on; }
http {
    access_log off;
    default_type text/plain;
    keepalive_requests 1000000;
    keepalive_timeout 75s;
    server {
        listen 127.0.0.1:$BE_PORT backlog=4096;
        server_name backend;
        location / { return 200 "$BODY\n"; }
    }
    server {
        listen 127.0.0.1:$ST_PORT;
        server_name status;
        location = /status { stub_status; }
    }
}
CONF
cp "$tmp/be/backend.conf" "$OUT/backend.conf"

# nginx 1.22 keeps an upstream connection only with these two lines (HTTP/1.1,
# and no `Connection: close` in the request to the upstream); both servers get
# them.
POOL_LINES=('proxy_http_version 1.1;' 'proxy_set_header Connection "";')

write_proxy_conf() { # kind(pooled|unpooled) server(hf|ng) port file
    local kind=$1 port=$3 file=$4 line  # $2: the server (hf|ng), same text for both
    {
        echo "worker_processes 1;"
        echo "worker_rlimit_nofile $NOFILE;"
        echo "error_log stderr warn;"
        echo "events { worker_connections $WC; multi_accept on; }"
        echo "http {"
        echo "    access_log off;"
        echo "    default_type text/plain;"
        echo "    keepalive_timeout 300s;"
        echo "    keepalive_requests 1000000;"
        case $kind in
        pooled)   echo "    upstream be { server 127.0.0.1:$BE_PORT; keepalive $POOL; }" ;;
        unpooled) echo "    upstream be { server 127.0.0.1:$BE_PORT; }" ;;
        esac
        echo "    server {"
        echo "        listen 127.0.0.1:$port $LISTEN_OPTS;"
        echo "        server_name localhost;"
        echo "        location / {"
        echo "            proxy_pass http://be;"
        if [ "$kind" = pooled ]; then
            for line in "${POOL_LINES[@]}"; do echo "            $line"; done
        fi
        echo "        }"
        echo "    }"
        echo "}"
    } > "$file"
}

DIFF_TXT=$OUT/config-diff.txt
: > "$DIFF_TXT"
for kind in pooled unpooled; do
    write_proxy_conf "$kind" hf "$HF_PORT" "$tmp/hf/$kind.conf"
    write_proxy_conf "$kind" ng "$NG_PORT" "$tmp/ng/$kind.conf"
    cp "$tmp/hf/$kind.conf" "$OUT/holdfast-$kind.conf"
    cp "$tmp/ng/$kind.conf" "$OUT/nginx-$kind.conf"
    # One text: only the listen port differs.
    d=$(diff "$tmp/hf/$kind.conf" "$tmp/ng/$kind.conf" || true)
    got=$(grep '^[<>]' <<<"$d" | sed 's/^\([<>]\) */\1 /' | sort)
    want=$( {
        echo "< listen 127.0.0.1:$HF_PORT $LISTEN_OPTS;"
        echo "> listen 127.0.0.1:$NG_PORT $LISTEN_OPTS;"
    } | sort)
    [ "$got" = "$want" ] || die "$kind: the two configurations differ beyond the listen line:
$d"
    { echo "== $kind: diff holdfast-$kind.conf nginx-$kind.conf"; echo "$d"; } >> "$DIFF_TXT"
    "$tmp/holdfast" -t -q -p "$tmp/hf" -c "$tmp/hf/$kind.conf" 2>"$tmp/t.err" ||
        die "holdfast -t $kind: $(cat "$tmp/t.err")"
    "$NGINX" -t -q -p "$tmp/ng/" -e stderr -c "$tmp/ng/$kind.conf" -g "pid $tmp/ng/t.pid;" 2>"$tmp/t.err" ||
        die "nginx -t $kind: $(cat "$tmp/t.err")"
done
"$NGINX" -t -q -p "$tmp/be/" -e stderr -c "$tmp/be/backend.conf" -g "pid $tmp/be/t.pid;" 2>"$tmp/t.err" ||
    die "nginx -t backend: $(cat "$tmp/t.err")"

declare -A ROW_NAME ROW_KIND
ROW_NAME=([a]="pooled, keep-alive clients" [b]="unpooled, keep-alive clients"
          [c]="pooled, pipelined x$DEPTH clients" [d]="pooled, short client connections")
ROW_KIND=([a]=pooled [b]=unpooled [c]=pooled [d]=pooled)
for row in $ROWS; do [ -n "${ROW_KIND[$row]:-}" ] || die "unknown row $row (a b c d)"; done

# ---------------------------------------------------------------- servers
declare -A PID PORT MASTER
PORT[holdfast]=$HF_PORT
PORT[nginx]=$NG_PORT
PORT[backend]=$BE_PORT

wait_up() { # port pid-to-watch: any HTTP answer will do
    for _ in $(seq 100); do
        kill -0 "$2" 2>/dev/null || return 1
        curl -s --max-time 1 -o /dev/null "http://127.0.0.1:$1/" && return 0
        sleep 0.1
    done
    return 1
}

start_nginx() { # name cpu prefix-dir conf stderr -> MASTER[name], PID[name] (the worker)
    local name=$1 cpu=$2 dir=$3 conf=$4 err=$5 m w=""
    taskset -c "$cpu" "$NGINX" -p "$dir/" -e stderr -c "$conf" \
        -g "daemon off; pid $dir/nginx.pid;" 2>>"$err" &
    m=$!; KILL_PIDS+=("$m")
    wait_up "${PORT[$name]}" "$m" || die "$name did not start (see $err)"
    for _ in $(seq 50); do
        w=$(pgrep -P "$m" | head -1 || true)
        [ -n "$w" ] && break
        sleep 0.1
    done
    [ -n "$w" ] || die "no $name worker"
    MASTER[$name]=$m
    PID[$name]=$w
}

start_server() { # name(holdfast|nginx) kind
    local name=$1 kind=$2 m
    case $name in
    holdfast)
        # worker_processes 1: holdfast serves in the process it starts with.
        taskset -c "$SERVER_CPU" "$tmp/holdfast" -p "$tmp/hf" -c "$tmp/hf/$kind.conf" \
            2>>"$OUT/holdfast.stderr" &
        m=$!; KILL_PIDS+=("$m")
        wait_up "$HF_PORT" "$m" || die "holdfast did not start (see $OUT/holdfast.stderr)"
        MASTER[holdfast]=$m
        PID[holdfast]=$m ;;
    nginx)
        start_nginx nginx "$SERVER_CPU" "$tmp/ng" "$tmp/ng/$kind.conf" "$OUT/nginx.stderr" ;;
    esac
}

stop_server() { # name
    local m=${MASTER[$1]:-}
    [ -n "$m" ] || return 0
    kill -TERM "$m" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$m" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$m" 2>/dev/null || true
    if [ -n "${PID[$1]:-}" ]; then kill -KILL "${PID[$1]}" 2>/dev/null || true; fi
    wait "$m" 2>/dev/null || true
    MASTER[$1]=""; PID[$1]=""
}

# (These probes never fail: under `set -e -o pipefail` a failed probe would end the run.)
be_status() { # -> "accepts requests" of the backend ("0 0" if it does not answer)
    local page
    page=$(taskset -c "$CLIENT_CPU" curl -fs --max-time 5 --retry 2 "http://127.0.0.1:$ST_PORT/status" 2>/dev/null) || true
    awk 'NR==3 {print $1, $3; ok=1} END {if (!ok) print 0, 0}' <<<"$page"
}

wrk_cmd() { # row port secs -> wrk's output
    local row=$1 url="http://127.0.0.1:$2/" secs=$3
    local args=(-t1 -c"$CONNS" -d"${secs}s" --timeout 2s --latency)
    case $row in
    a|b) args+=("$url") ;;
    c)   args+=(-s "$ROOT/scripts/bench/pipeline.lua" "$url" -- "$DEPTH") ;;
    d)   args+=(-H "Connection: close" "$url") ;;
    esac
    timeout -k 2 $((secs + 20)) taskset -c "$CLIENT_CPU" wrk "${args[@]}" 2>&1 || true
}
parse_wrk() { # -> "reqs rps p99 non2xx sockerr"
    awk '/requests in/ {reqs=$1}
         /Requests\/sec/ {rps=$2}
         /^ +99%/ {p99=$2}
         /Socket errors/ {gsub(",", ""); se+=$4+$6+$8+$10}
         /Non-2xx/ {n2+=$NF}
         END {print (reqs==""?0:reqs), (rps==""?0:rps), (p99==""?"-":p99), n2+0, se+0}'
}
# Per-request latency of the pipelined row (see scripts/bench.sh h2load_lat):
# prints "p99" of one h2load --h1 -m DEPTH run, e.g. "1234us".
h2load_p99() { # port secs
    local lg=$tmp/h2load.log
    rm -f "$lg"
    timeout -k 2 $(($2 + 20)) taskset -c "$CLIENT_CPU" h2load --h1 -t1 -c"$CONNS" -m"$DEPTH" \
        -D "$2" --warm-up-time 500ms --log-file "$lg" "http://127.0.0.1:$1/" >/dev/null 2>&1 || true
    python3 - "$lg" <<'PY'
import sys
try:
    a = sorted(int(l.split("\t")[2]) for l in open(sys.argv[1]) if l.count("\t") >= 2)
except OSError:
    a = []
print(f"{a[min(len(a) - 1, int(len(a) * 0.99))]}us" if a else "-")
PY
    rm -f "$lg"
}

RUNS_TSV=$OUT/runs.tsv
printf 'row\tserver\trun\treqs\twall_s\tutime\tstime\tcpu_ns\tbe_cpu_ns\trps\tp99\twrk_p99\tnon2xx\tsockerr\tbe_accepts\tbe_requests\tothers_pct\n' > "$RUNS_TSV"
OTHERS_LAST=0
measured_run() { # row server run
    local row=$1 name=$2 run=$3 port=${PORT[$2]} pid=${PID[$2]} bpid=${PID[backend]}
    local st0 st1 b0 b1 c0 c1 ns0 ns1 bn0 bn1 t0 t1 out reqs rps p99 wp99 n2 se
    local a0 r0 a1 r1 u0 s0 u1 s1 nsd=-1 bnd=-1
    st0=$(be_status)
    b0=$(cpu_busy "$SERVER_CPU"); c0=$(cpu_ticks "$pid"); ns0=$(cpu_ns "$pid"); bn0=$(cpu_ns "$bpid")
    t0=$(date +%s.%N)
    out=$(wrk_cmd "$row" "$port" "$SECS")
    t1=$(date +%s.%N)
    bn1=$(cpu_ns "$bpid"); ns1=$(cpu_ns "$pid"); c1=$(cpu_ticks "$pid"); b1=$(cpu_busy "$SERVER_CPU")
    st1=$(be_status)
    echo "$out" >> "$OUT/wrk-$row-$name.log"
    read -r reqs rps wp99 n2 se < <(parse_wrk <<<"$out") || true
    p99=$wp99
    if [ "$row" = c ] && ((HAVE_H2LOAD)); then   # per-request latency, outside the CPU window
        p99=$(h2load_p99 "$port" "$LAT_SECS")
    fi
    read -r a0 r0 <<<"$st0"; read -r a1 r1 <<<"$st1"
    read -r u0 s0 <<<"$c0"; read -r u1 s1 <<<"$c1"
    if ((ns0 >= 0 && ns1 >= 0)); then nsd=$((ns1 - ns0)); fi
    if ((bn0 >= 0 && bn1 >= 0)); then bnd=$((bn1 - bn0)); fi
    OTHERS_LAST=$(others_pct "$b0" "$b1" "$nsd" $((u1 - u0 + s1 - s0)) "$t0" "$t1")
    # The second status request is counted in st1: one accept and one request
    # that are not the proxy's.
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$row" "$name" "$run" "$reqs" \
        "$(awk -v a="$t0" -v b="$t1" 'BEGIN {printf "%.3f", b-a}')" $((u1 - u0)) $((s1 - s0)) \
        "$nsd" "$bnd" "$rps" "$p99" "$wp99" "$n2" "$se" $((a1 - a0 - 1)) $((r1 - r0 - 1)) \
        "$OTHERS_LAST" >> "$RUNS_TSV"
    log "  $row $name run $run: $reqs req, $rps req/s, p99 $p99, $(awk -v n="$nsd" -v r="$reqs" \
        'BEGIN {printf "%.2f", (r > 0) ? n / 1e3 / r : 0}') CPU us/req, upstream conns $((a1 - a0 - 1)), non-2xx $n2, socket errors $se, others on CPU $SERVER_CPU ${OTHERS_LAST}%"
}

strace_run() { # row server
    local row=$1 name=$2 port=${PORT[$2]} pid=${PID[$2]} sp out reqs
    local so="$OUT/strace-$row-$name.txt" se="$tmp/strace-$row-$name.err"
    : > "$se"
    taskset -c "$CLIENT_CPU" strace -c -f -p "$pid" -o "$so" 2>"$se" &
    sp=$!; KILL_PIDS+=("$sp")
    for _ in $(seq 50); do grep -q attached "$se" && break; sleep 0.1; done
    grep -q attached "$se" || { log "  strace did not attach to $name: $(head -c 200 "$se")"; kill -KILL "$sp" 2>/dev/null; return 0; }
    sleep 0.2
    out=$(wrk_cmd "$row" "$port" "$STRACE_SECS")
    kill -INT "$sp" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$sp" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$sp" 2>/dev/null || true
    wait "$sp" 2>/dev/null || true
    read -r reqs _ <<<"$(parse_wrk <<<"$out")"
    echo "$reqs" > "$OUT/strace-$row-$name.reqs"
    log "  $row $name under strace: $reqs requests, $(awk '/ total$/ {print $4}' "$so" 2>/dev/null) syscalls"
}

CHECK_TXT=$OUT/checks.txt
check_proxies() { # kind: both proxies answer 200 and the backend's body; pooling as expected
    local kind=$1 name code st0 st1 a0 a1 r0 r1 want urls
    printf '%s\n' "$BODY" > "$tmp/want.body"
    for name in backend holdfast nginx; do
        code=$(taskset -c "$CLIENT_CPU" curl -s --max-time 5 -D "$OUT/headers-$kind-$name.txt" \
            -o "$tmp/got.body" -w '%{http_code}' "http://127.0.0.1:${PORT[$name]}/" || true)
        [ "$code" = 200 ] || die "$kind: $name answered status '$code' for GET /"
        cmp -s "$tmp/got.body" "$tmp/want.body" ||
            die "$kind: $name answered '$(head -c 200 "$tmp/got.body")' for GET /, expected '$BODY\\n'"
    done
    # 5 requests over one client connection: upstream connections they open.
    for name in holdfast nginx; do
        urls=()
        for _ in 1 2 3 4 5; do urls+=("http://127.0.0.1:${PORT[$name]}/"); done
        st0=$(be_status)
        taskset -c "$CLIENT_CPU" curl -s --max-time 10 "${urls[@]}" > "$tmp/five.body" || true
        st1=$(be_status)
        read -r a0 r0 <<<"$st0"; read -r a1 r1 <<<"$st1"
        [ "$(cat "$tmp/five.body")" = "$(for _ in 1 2 3 4 5; do echo "$BODY"; done)" ] ||
            die "$kind: $name: 5 requests over one connection did not return the backend's body 5 times"
        echo "$kind $name: 5 sequential requests (one client connection): $((a1 - a0 - 1)) upstream connections opened, $((r1 - r0 - 1)) backend requests" >> "$CHECK_TXT"
        log "  check: $(tail -1 "$CHECK_TXT")"
        want=5; [ "$kind" = pooled ] && want=1
        if [ "$kind" = pooled ] && (( a1 - a0 - 1 > 1 )); then
            log "  warning: $name does not keep its upstream connections with the pooled configuration"
            echo "WARNING: $name opened $((a1 - a0 - 1)) upstream connections, expected at most $want" >> "$CHECK_TXT"
        elif [ "$kind" = unpooled ] && (( a1 - a0 - 1 != 5 )); then
            echo "WARNING: $name opened $((a1 - a0 - 1)) upstream connections, expected $want" >> "$CHECK_TXT"
        fi
    done
}

# ---------------------------------------------------------------- runs
: > "$CHECK_TXT"
log "backend nginx on :$BE_PORT (stub_status :$ST_PORT), CPU $CLIENT_CPU"
start_nginx backend "$CLIENT_CPU" "$tmp/be" "$tmp/be/backend.conf" "$OUT/backend.stderr"
for kind in pooled unpooled; do
    rows=""
    for row in $ROWS; do [ "${ROW_KIND[$row]}" = "$kind" ] && rows="$rows $row"; done
    [ -n "$rows" ] || continue
    log "starting holdfast on :$HF_PORT and nginx on :$NG_PORT with the $kind configuration"
    for name in holdfast nginx; do echo "=== $kind: start $(date -u +%T)" >> "$OUT/$name.stderr"; done
    start_server holdfast "$kind"
    start_server nginx "$kind"
    check_proxies "$kind"
    for row in $rows; do
        log "row $row: ${ROW_NAME[$row]}"
        for name in holdfast nginx; do echo "=== row $row $(date -u +%T)" >> "$OUT/$name.stderr"; done
        for name in holdfast nginx; do wrk_cmd "$row" "${PORT[$name]}" "$WARM_SECS" >/dev/null; done
        for run in $(seq "$RUNS"); do
            order=(holdfast nginx)
            ((run % 2 == 0)) && order=(nginx holdfast)
            for name in "${order[@]}"; do
                wait_quiet
                measured_run "$row" "$name" "$run"
                if ((OTHERS_LAST > NOISY_PCT && RETRY_BUDGET > 0)); then
                    RETRY_BUDGET=$((RETRY_BUDGET - 1))
                    log "  noisy run (others took ${OTHERS_LAST}% of CPU $SERVER_CPU): once more"
                    wait_quiet
                    measured_run "$row" "$name" "${run}b"
                fi
            done
        done
        for name in holdfast nginx; do strace_run "$row" "$name"; done
    done
    stop_server holdfast
    stop_server nginx
done
stop_server backend

# ---------------------------------------------------------------- summary
{
    echo "quiet_wait_seconds: $((QUIET_HALVES / 2)) (budget $QUIET_BUDGET)"
    echo "retries_left: $RETRY_BUDGET"
    echo "loadavg_at_end: $(cut -d' ' -f1-3 /proc/loadavg)"
    echo "total_seconds: $(( $(date +%s) - START_TS ))"
} >> "$OUT/machine.txt"

ROWS_ENV=$ROWS python3 - "$OUT" "$NOISY_PCT" "$CLK_TCK" "$DEPTH" "$HAVE_H2LOAD" "$POOL" <<'PY' | tee "$OUT/summary.md"
import csv, os, re, statistics, sys
out, noisy, tck, depth, h2, pool = (sys.argv[1], float(sys.argv[2]), int(sys.argv[3]),
                                    sys.argv[4], sys.argv[5] == "1", sys.argv[6])
names = {"a": "pooled, keep-alive clients",
         "b": "unpooled, keep-alive clients",
         "c": f"pooled, pipelined x{depth}",
         "d": "pooled, Connection: close clients"}
runs = {}
for r in csv.DictReader(open(os.path.join(out, "runs.tsv")), delimiter="\t"):
    runs.setdefault((r["row"], r["server"]), []).append(r)

def to_us(v):
    m = re.match(r"^([0-9.]+)(us|ms|s|m)?$", v or "")
    if not m:
        return None
    return float(m.group(1)) * {"us": 1, "ms": 1e3, "s": 1e6, "m": 60e6, None: 1}[m.group(2)]

def per_req_us(r, col):
    n, ns = int(r["reqs"] or 0), int(r[col])
    if col == "cpu_ns" and ns < 0:
        return (int(r["utime"]) + int(r["stime"])) / tck * 1e6 / n if n else None
    return ns / 1e3 / n if n > 0 and ns >= 0 else None

def quiet(rs):
    q = [r for r in rs if float(r["others_pct"] or 0) <= noisy]
    return q if len(q) >= 3 else rs

def med(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None

def strace(row, srv):
    try:
        reqs = int(open(os.path.join(out, f"strace-{row}-{srv}.reqs")).read().split()[0])
        for line in open(os.path.join(out, f"strace-{row}-{srv}.txt")):
            f = line.split()
            if f and f[-1] == "total":
                return int(f[3]) / reqs if reqs else None
    except (OSError, ValueError, IndexError):
        pass
    return None

def fmt(v, f="{:.2f}"):
    return "-" if v is None else f.format(v)

def lat(us):
    if us is None:
        return "-"
    return f"{us / 1e3:.2f} ms" if us >= 1000 else f"{us:.0f} µs"

def errlines(srv):
    try:
        return [l.rstrip("\n") for l in open(os.path.join(out, f"{srv}.stderr"))
                if l.strip() and not l.startswith("===")]
    except OSError:
        return []

print("# holdfast vs nginx as reverse proxies (scripts/bench-proxy.sh)")
print()
for line in open(os.path.join(out, "machine.txt")):
    print(f"    {line.rstrip()}")
print()
print("| row | proxy | CPU µs/req | ratio hf/ng (paired min–max) | req/s | p99 | upstream conns / 1000 req "
      "| syscalls/req | proxy CPU % | backend CPU µs/req | non-2xx | socket errors |")
print("|---|---|---|---|---|---|---|---|---|---|---|---|")
for row in os.environ["ROWS_ENV"].split():
    med_cpu = {}
    rs = {s: quiet(runs.get((row, s), [])) for s in ("holdfast", "nginx")}
    for s in ("holdfast", "nginx"):
        med_cpu[s] = med(per_req_us(r, "cpu_ns") for r in rs[s])
    pairs = {}
    for i, s in enumerate(("holdfast", "nginx")):
        for r in rs[s]:
            pairs.setdefault(r["run"].rstrip("b"), [None, None])[i] = per_req_us(r, "cpu_ns")
    pr = [a / b for a, b in pairs.values() if a and b]
    for s in ("holdfast", "nginx"):
        q, allr = rs[s], runs.get((row, s), [])
        if s == "holdfast":
            h, n = med_cpu["holdfast"], med_cpu["nginx"]
            ratio = (f"**{h / n:.3f}** ({min(pr):.2f}–{max(pr):.2f})" if h and n and pr else "-")
            label = f"{row} {names[row]}"
        else:
            ratio, label = "", ""
        conns = med(int(r["be_accepts"]) * 1000 / int(r["reqs"]) for r in q if int(r["reqs"] or 0) > 0)
        pct = med(int(r["cpu_ns"]) / 1e9 / float(r["wall_s"]) * 100 for r in q
                  if int(r["cpu_ns"]) >= 0 and float(r["wall_s"]) > 0)
        print(f"| {label} | {s} | {fmt(med_cpu[s])} | {ratio} | "
              f"{fmt(med(float(r['rps']) for r in q), '{:.0f}')} | "
              f"{lat(med(to_us(r['p99']) for r in q))} | {fmt(conns, '{:.2f}')} | "
              f"{fmt(strace(row, s), '{:.2f}')} | {fmt(pct, '{:.0f}')} | "
              f"{fmt(med(per_req_us(r, 'be_cpu_ns') for r in q))} | "
              f"{sum(int(r['non2xx'] or 0) for r in allr)} | {sum(int(r['sockerr'] or 0) for r in allr)} |")
print()
print("CPU µs/req: median over runs of the proxy worker's time on CPU (/proc/PID/schedstat) / "
      f"requests wrk completed; runs in which other processes took more than {noisy:.0f}% of the "
      "proxies' core are left out when 3 others remain. ratio: of the two medians; in brackets "
      "min–max of the per-run-number ratios (the two proxies' runs of one number are back to back). "
      "p99: wrk --latency" + (f"; row c: h2load --h1 -m{depth} per-request p99 (wrk's is per batch)"
                              if h2 else "; row c: wrk's, per batch of requests") + ". "
      "upstream conns / 1000 req: the backend's stub_status `accepts` delta over the run / requests "
      "wrk completed * 1000 (both proxies default to upstream keepalive_requests 1000, so a pooled "
      "connection is replaced after 1000 requests: ~1 is the floor). syscalls/req: one "
      "`strace -c -f -p PID` run. proxy CPU %: of one core. The backend and wrk share one core: "
      "a proxy under ~90% is client/backend-bound there, and req/s and p99 compare the pair, not the proxy alone. "
      "non-2xx, socket errors: wrk's, summed over all measured runs.")
print()
print("## Configuration difference (diff holdfast nginx)")
print()
print("```")
print(open(os.path.join(out, "config-diff.txt")).read().rstrip())
print("```")
print()
print(f"Pooled block: `keepalive {pool};`. holdfast sends HTTP/1.1 without `Connection` to a block with "
      "`keepalive` by default; nginx 1.22 needs the two lines above for that.")
print()
print("## Checks")
print()
print("Every proxy answered 200 and the backend's body byte for byte (headers in headers-*.txt).")
print()
for line in open(os.path.join(out, "checks.txt")):
    print(f"- {line.rstrip()}")
print()
print("## Error logs (error_log stderr warn)")
print()
for s in ("holdfast", "nginx", "backend"):
    ls = errlines(s)
    print(f"- {s}: {len(ls)} lines" + (":" if ls else ""))
    seen = {}
    for l in ls:
        k = re.sub(r"^\S+ \S+ ", "", l)        # without the time stamp
        k = re.sub(r"\d+", "N", k)
        seen.setdefault(k, [0, l])[0] += 1
    for k, (n, l) in sorted(seen.items(), key=lambda x: -x[1][0])[:8]:
        print(f"    - {n} x `{l[:300]}`")
PY
log "done in $(( $(date +%s) - START_TS )) s; raw results in $OUT"
