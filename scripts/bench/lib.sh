# shellcheck shell=bash
# The harness the holdfast-vs-nginx benchmark scripts share (sourced, not run):
# tools installed with apt-get, the release build, a private copy of the
# binary in a temp dir killed and removed at exit, free ports, starting and
# stopping both servers pinned to SERVER_CPU, the CPU probes, waiting for a
# quiet machine, strace attached to a server, wrk's output parsed.
# Every benchmark script uses it: bench.sh, bench-static.sh, bench-locations.sh,
# bench-proxy.sh and bench-tls.sh (bench.sh and bench-proxy.sh keep their own
# server start/stop: worker_connections per scenario, and a backend with two
# proxies).
#
# The caller sets, before sourcing: BENCH_NAME (log prefix), and optionally
# SERVER_CPU, CLIENT_CPU, QUIET_PCT, QUIET_BUDGET (defaults below). After
# sourcing: `bench_tools PKG-FOR-CMD...`, `bench_build`, `bench_tmpdir`; then
# PORT[name] and DIR[name] (holdfast|nginx), and start_server / stop_server.

SERVER_CPU=${SERVER_CPU:-0}
CLIENT_CPU=${CLIENT_CPU:-1}
# Wait (at most QUIET_BUDGET s in all) for both CPUs to be under QUIET_PCT%
# busy before each run (as scripts/bench.sh).
QUIET_PCT=${QUIET_PCT:-25}
QUIET_BUDGET=${QUIET_BUDGET:-45}
START_TS=${START_TS:-$(date +%s)}
CLK_TCK=$(getconf CLK_TCK)

log() { printf '[%s %4ss] %s\n' "$BENCH_NAME" "$(( $(date +%s) - START_TS ))" "$*" >&2; }
die() { log "error: $*"; exit 1; }

# ---------------------------------------------------------------- tools
need() { command -v "$1" >/dev/null 2>&1; }
# bench_tools CMD:PACKAGE...: installs the packages whose command is missing
# (nginx counts as present when /usr/sbin/nginx exists); sets NGINX.
bench_tools() {
    local p missing=()
    for p in "$@"; do
        case ${p%%:*} in
        nginx) need nginx || [ -x /usr/sbin/nginx ] || missing+=("${p#*:}") ;;
        *) need "${p%%:*}" || missing+=("${p#*:}") ;;
        esac
    done
    if ((${#missing[@]})); then
        log "installing ${missing[*]}"
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
    fi
    need nginx || [ -x /usr/sbin/nginx ] || die "nginx not found"
    NGINX=$(command -v nginx || echo /usr/sbin/nginx)
}

# ---------------------------------------------------------------- build
# bench_build: HOLDFAST_BIN as given, else `cargo build --release` (honours
# CARGO_TARGET_DIR); sets TARGET_DIR and HOLDFAST_BIN.
bench_build() {
    TARGET_DIR=${CARGO_TARGET_DIR:-target}
    case $TARGET_DIR in /*) ;; *) TARGET_DIR=$ROOT/$TARGET_DIR ;; esac
    HOLDFAST_BIN=${HOLDFAST_BIN:-}
    if [ -n "$HOLDFAST_BIN" ]; then
        [ -x "$HOLDFAST_BIN" ] || die "HOLDFAST_BIN=$HOLDFAST_BIN is not an executable"
        log "using $HOLDFAST_BIN (no build)"
    else
        log "cargo build --release (target dir $TARGET_DIR)"
        cargo build --release -q
        HOLDFAST_BIN=$TARGET_DIR/release/holdfast
        [ -x "$HOLDFAST_BIN" ] || die "no $HOLDFAST_BIN"
    fi
}

# bench_tmpdir: a temp dir ($tmp) with a private copy of the binary
# ($tmp/holdfast: a rebuild changes nothing); every pid in KILL_PIDS is
# killed and $tmp removed at exit.
KILL_PIDS=()
bench_cleanup() {
    local p
    for p in "${KILL_PIDS[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
    sleep 0.3
    for p in "${KILL_PIDS[@]}"; do kill -KILL "$p" 2>/dev/null || true; done
    rm -rf "$tmp"
}
bench_tmpdir() {
    tmp=$(mktemp -d "/tmp/holdfast-$BENCH_NAME.XXXXXX")
    chmod 755 "$tmp"
    cp "$HOLDFAST_BIN" "$tmp/holdfast"
    trap bench_cleanup EXIT
    trap 'exit 130' INT TERM
}

# bench_machine: the lines every machine.txt starts with.
bench_machine() {
    echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
    echo "nproc: $(nproc)"
    echo "cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')"
    echo "kernel: $(uname -sr)"
    echo "nginx: $("$NGINX" -v 2>&1 | sed 's/^nginx version: //')"
    echo "holdfast: $HOLDFAST_BIN ($("$tmp/holdfast" -v 2>&1 | head -1))"
    echo "loadavg_at_start: $(cut -d' ' -f1-3 /proc/loadavg)"
}

# ---------------------------------------------------------------- ports
port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
pick_port() { local p=$1; while ! port_free "$p"; do p=$((p + 2)); done; echo "$p"; }

# ---------------------------------------------------------------- servers
declare -A PID PORT MASTER DIR
SCHEME=${SCHEME:-http}   # what wait_up asks with (https: certificate not checked)

wait_up() { # port pid-to-watch: any HTTP answer will do
    local _
    for _ in $(seq 100); do
        kill -0 "$2" 2>/dev/null || return 1
        curl -sk --max-time 1 -o /dev/null "$SCHEME://127.0.0.1:$1/" && return 0
        sleep 0.1
    done
    return 1
}

start_server() { # name conf-file stderr-file -> PID[name] (the process that serves), MASTER[name]
    local name=$1 conf=$2 err=$3 m w _
    case $name in
    holdfast)
        # worker_processes 1: holdfast serves in the process it starts with.
        taskset -c "$SERVER_CPU" "$tmp/holdfast" -p "$tmp/${DIR[$name]}" -c "$conf" 2>>"$err" &
        m=$!; KILL_PIDS+=("$m")
        wait_up "${PORT[$name]}" "$m" || die "holdfast did not start (see $err)"
        w=$m ;;
    nginx)
        taskset -c "$SERVER_CPU" "$NGINX" -p "$tmp/${DIR[$name]}/" -e stderr -c "$conf" \
            -g "daemon off; pid $tmp/${DIR[$name]}/nginx.pid;" 2>>"$err" &
        m=$!; KILL_PIDS+=("$m")
        wait_up "${PORT[$name]}" "$m" || die "nginx did not start (see $err)"
        w=""
        for _ in $(seq 50); do
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
    local m=${MASTER[$1]:-} _
    [ -n "$m" ] || return 0
    kill -TERM "$m" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$m" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$m" 2>/dev/null || true
    if [ -n "${PID[$1]:-}" ]; then kill -KILL "${PID[$1]}" 2>/dev/null || true; fi
    wait "$m" 2>/dev/null || true
    MASTER[$1]=""; PID[$1]=""
}

# ---------------------------------------------------------------- probes
# (These probes never fail: under `set -e -o pipefail` a failed probe would end the run.)
cpu_ticks() { { sed 's/^.*) //' "/proc/$1/stat" | awk '{print $12, $13}'; } 2>/dev/null || echo "0 0"; }  # utime stime
cpu_ns() { cut -d' ' -f1 "/proc/$1/schedstat" 2>/dev/null || echo -1; }
cpu_busy() { awk -v c="cpu$1" '$1 == c {print $2 + $3 + $4 + $7 + $8 + $9}' /proc/stat 2>/dev/null || echo 0; }
vm_rss_kb() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status" 2>/dev/null || echo 0; }

QUIET_HALVES=0
wait_quiet() {
    local a0 a1 b0 b1 busy
    while ((QUIET_HALVES < QUIET_BUDGET * 2)); do
        a0=$(cpu_busy "$SERVER_CPU"); b0=$(cpu_busy "$CLIENT_CPU")
        sleep 0.5
        a1=$(cpu_busy "$SERVER_CPU"); b1=$(cpu_busy "$CLIENT_CPU")
        busy=$(( (a1 - a0) > (b1 - b0) ? (a1 - a0) : (b1 - b0) ))
        ((busy * 200 < QUIET_PCT * CLK_TCK)) && return 0
        QUIET_HALVES=$((QUIET_HALVES + 1))
    done
    return 0
}

# others_pct busy0 busy1 cpu_ns_delta ticks_delta t0 t1: the share of
# SERVER_CPU that processes other than the server took during a run.
others_pct() {
    awk -v b=$(($2 - $1)) -v t="$CLK_TCK" -v ns="$3" -v u="$4" -v a="$5" -v z="$6" \
        'BEGIN { c = (ns >= 0) ? ns / 1e9 : u / t; o = (b / t - c) / (z - a) * 100;
                 printf "%.0f", (o < 0) ? 0 : o }'
}

# ---------------------------------------------------------------- strace
strace_attach() { # pid out-file err-file strace-args... -> STRACE_PID
    local pid=$1 so=$2 se=$3 _
    shift 3
    : > "$se"
    taskset -c "$CLIENT_CPU" strace "$@" -f -p "$pid" -o "$so" 2>"$se" &
    STRACE_PID=$!; KILL_PIDS+=("$STRACE_PID")
    for _ in $(seq 50); do grep -q attached "$se" && break; sleep 0.1; done
    if ! grep -q attached "$se"; then
        log "  strace did not attach to $pid: $(head -c 200 "$se")"
        kill -KILL "$STRACE_PID" 2>/dev/null || true
        return 1
    fi
    sleep 0.2
}
strace_detach() {
    local _
    kill -INT "$STRACE_PID" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$STRACE_PID" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$STRACE_PID" 2>/dev/null || true
    wait "$STRACE_PID" 2>/dev/null || true
}

# ---------------------------------------------------------------- wrk
parse_wrk() { # -> "reqs rps errors secs" (wrk counts statuses > 399 as errors)
    awk '/requests in/ {reqs=$1; s=$4; sub(/s,$/, "", s); if (s ~ /m$/) {sub(/m$/, "", s); s *= 60}; secs=s}
         /Requests\/sec/ {rps=$2}
         /Socket errors/ {gsub(",", ""); err+=$4+$6+$8+$10}
         /Non-2xx/ {err+=$NF}
         END {print (reqs==""?0:reqs), (rps==""?0:rps), err+0, (secs==""?0:secs)}'
}
