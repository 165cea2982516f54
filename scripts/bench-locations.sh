#!/usr/bin/env bash
# holdfast vs nginx (worker_processes 1): the keep-alive `return` benchmark
# with a realistic location list — 20 prefix locations (two with a nested
# one, one `^~`, one `=`) and 10 regex locations — against the same server
# with only `location = /plaintext` (scripts/bench.sh's scenario 1 shape).
#
#   scripts/bench-locations.sh                 # RUNS=5 SECS=5: 6 min quiet, ~10 noisy
#   RUNS=3 SECS=3 ROWS="a e" scripts/bench-locations.sh   # a quick subset
#   HOLDFAST_BIN=/path/to/holdfast scripts/bench-locations.sh   # no build
#
# Rows (each a keep-alive `wrk -t1 -c50 -d SECS` of one URI, HTTP/1.1):
#   a  prefix      /a17/page.html: a plain prefix location late in the list;
#                  no regex matches, so all 10 are run and fail
#   b  ^~          /a18/x.php: the `^~` location (no regex may run: the
#                  URI would match `~ \.php$` otherwise)
#   c  =           /a19/index.php: the `=` location (no regex may run either)
#   d  5th regex   /blog/2024/05/hello-world: the 5th regex location wins
#                  (the 4 before it are run and fail)
#   e  baseline    /plaintext on a server with only
#                  `location = /plaintext { return 200 "x"; }`
# Before measuring, every row's URI is requested from both servers and the
# body (the location's name) must be the expected one and the same for both.
# With DEBUG_CHECK=1 (default) both servers are also run once with
# `error_log stderr debug;` and the `test location: ~` lines each row's
# request logs are counted (nginx-light is built --with-debug).
#
# Installs what it lacks (nginx-light, wrk, strace, curl; apt-get), builds
# holdfast in release mode (honours CARGO_TARGET_DIR) unless HOLDFAST_BIN names
# a binary, writes one configuration text for both servers (they differ only
# in the `listen` port: both run side by side), pins the servers to CPU 0 and
# wrk/strace/curl to CPU 1. For every row and server: the median of RUNS runs
# of SECS seconds of server CPU time per request (/proc/PID/schedstat, exact;
# utime+stime ticks of /proc/PID/stat are kept in runs.tsv), requests/s, and
# from one extra STRACE_SECS run under `strace -c -f -p PID` the syscalls per
# request. The servers take turns run by run (holdfast first on odd runs).
# Loopback only; every wrk run is bounded by timeout; all servers and strace
# are killed at exit. Raw results and summary.md go to $BENCH_OUT (default
# <target dir>/bench-locations/<UTC time>).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
START_TS=$(date +%s)

RUNS=${RUNS:-5}                 # measured runs per row and server (median reported)
SECS=${SECS:-5}                 # seconds per measured run
WARM_SECS=${WARM_SECS:-1}       # unrecorded warm-up per row and server
STRACE_SECS=${STRACE_SECS:-3}   # seconds of the run under strace -c
ROWS=${ROWS:-"a b c d e"}
CONNS=${CONNS:-50}
WC=${WC:-20000}                 # worker_connections (both)
NOFILE=${NOFILE:-20000}         # worker_rlimit_nofile (both)
LISTEN_OPTS=${LISTEN_OPTS:-"deferred backlog=4096"}   # as scripts/bench.sh
DEBUG_CHECK=${DEBUG_CHECK:-1}   # 0: skip the debug-log check of regex tests
SERVER_CPU=${SERVER_CPU:-0}
CLIENT_CPU=${CLIENT_CPU:-1}
# As scripts/bench.sh: wait (at most QUIET_BUDGET s in all) for both CPUs to
# be under QUIET_PCT% busy before each run; a run during which others took
# more than NOISY_PCT% of the server's core is made once more (RETRY_BUDGET
# in all) and left out of the median when 3 quiet runs remain.
QUIET_PCT=${QUIET_PCT:-25}
QUIET_BUDGET=${QUIET_BUDGET:-45}
NOISY_PCT=${NOISY_PCT:-35}
RETRY_BUDGET=${RETRY_BUDGET:-8}

BENCH_NAME=bench-loc
# shellcheck source=scripts/bench/lib.sh
. "$ROOT/scripts/bench/lib.sh"
bench_tools nginx:nginx-light wrk:wrk strace:strace curl:curl taskset:util-linux python3:python3
bench_build

OUT=${BENCH_OUT:-$TARGET_DIR/bench-locations/$(date -u +%Y%m%dT%H%M%SZ)}
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)

bench_tmpdir
{
    bench_machine
    echo "runs: $RUNS x ${SECS}s (+${WARM_SECS}s warm-up, +${STRACE_SECS}s under strace), $CONNS connections"
    echo "command: ${BENCH_CMD:-scripts/bench-locations.sh}"
} > "$OUT/machine.txt"

# ---------------------------------------------------------------- configs
HF_PORT=$(pick_port "${HF_PORT:-18480}")
NG_PORT=$(pick_port "${NG_PORT:-$((HF_PORT + 1))}")
[ "$HF_PORT" != "$NG_PORT" ] || NG_PORT=$(pick_port $((HF_PORT + 1)))

# The server block's locations. Prefix: /a0/../a17/ (a3 and a12 with a nested
# /aN/deep/), `^~ /a18/`, `= /a19/index.php` = 20 (+2 nested). Regex: 10.
locations() {
    local i
    for i in $(seq 0 17); do
        case $i in
        3|12) echo "        location /a$i/ { return 200 \"a$i\"; location /a$i/deep/ { return 200 \"a$i-deep\"; } }" ;;
        *)    echo "        location /a$i/ { return 200 \"a$i\"; }" ;;
        esac
    done
    cat <<'LOC'
        location ^~ /a18/ { return 200 "a18"; }
        location = /a19/index.php { return 200 "a19"; }
        location ~ \.php$ { return 200 "re1-php"; }
        location ~* \.(jpg|png|gif)$ { return 200 "re2-img"; }
        location ~ ^/api/v[0-9]+/ { return 200 "re3-api"; }
        location ~ ^/user/(?<id>[0-9]+)$ { return 200 "re4-user"; }
        location ~ "^/blog/[0-9]{4}/[0-9]{2}/[a-z0-9-]+$" { return 200 "re5-blog"; }
        location ~* \.(css|js)$ { return 200 "re6-asset"; }
        location ~ ^/download/.+\.(zip|tar\.gz)$ { return 200 "re7-dl"; }
        location ~ /\.ht { return 200 "re8-ht"; }
        location ~ ^/(en|de|fr)/docs/ { return 200 "re9-docs"; }
        location ~* /wp-(admin|login) { return 200 "re10-wp"; }
LOC
}

write_conf() { # kind(locations|baseline) port debug(0|1) file
    local kind=$1 port=$2 debug=$3 file=$4
    {
        echo "worker_processes 1;"
        echo "worker_rlimit_nofile $NOFILE;"
        if [ "$debug" = 1 ]; then echo "error_log stderr debug;"; else echo "error_log stderr error;"; fi
        echo "events { worker_connections $WC; multi_accept on; }"
        echo "http {"
        echo "    access_log off;"
        echo "    default_type text/plain;"
        echo "    keepalive_timeout 300s;"
        echo "    keepalive_requests 1000000;"
        echo "    server {"
        echo "        listen 127.0.0.1:$port $LISTEN_OPTS;"
        echo "        server_name localhost;"
        case $kind in
        locations) locations ;;
        baseline)  echo '        location = /plaintext { return 200 "x"; }' ;;
        esac
        echo "    }"
        echo "}"
    } > "$file"
}

mkdir -p "$tmp/hf" "$tmp/ng"
for kind in locations baseline; do
    write_conf "$kind" "$HF_PORT" 0 "$tmp/hf/$kind.conf"
    write_conf "$kind" "$NG_PORT" 0 "$tmp/ng/$kind.conf"
    # One text: the two servers' files differ in the listen port only.
    [ "$(diff "$tmp/hf/$kind.conf" "$tmp/ng/$kind.conf" | grep -c '^[<>]')" = 2 ] ||
        die "$kind: the two configurations differ beyond the listen line"
    cp "$tmp/hf/$kind.conf" "$OUT/$kind.conf"
    # Both servers accept the same file.
    "$tmp/holdfast" -t -q -p "$tmp/hf" -c "$tmp/hf/$kind.conf" 2>"$tmp/t.err" ||
        die "holdfast -t $kind: $(cat "$tmp/t.err")"
    "$NGINX" -t -q -p "$tmp/ng/" -e stderr -c "$tmp/hf/$kind.conf" -g "pid $tmp/ng/t.pid;" 2>"$tmp/t.err" ||
        die "nginx -t $kind: $(cat "$tmp/t.err")"
done

declare -A ROW_NAME ROW_URI ROW_BODY ROW_KIND
ROW_NAME=([a]="prefix, 10 regexes fail" [b]="^~ prefix" [c]="= exact" [d]="5th regex" [e]="baseline = /plaintext")
ROW_URI=([a]=/a17/page.html [b]=/a18/x.php [c]=/a19/index.php [d]=/blog/2024/05/hello-world [e]=/plaintext)
ROW_BODY=([a]=a17 [b]=a18 [c]=a19 [d]=re5-blog [e]=x)
ROW_KIND=([a]=locations [b]=locations [c]=locations [d]=locations [e]=baseline)
for row in $ROWS; do [ -n "${ROW_URI[$row]:-}" ] || die "unknown row $row (a b c d e)"; done

# ---------------------------------------------------------------- servers
declare -A PID PORT MASTER DIR
DIR=([holdfast]=hf [nginx]=ng)   # where each server's files are
PORT[holdfast]=$HF_PORT
PORT[nginx]=$NG_PORT

start_pair() { # kind
    local name
    for name in holdfast nginx; do
        start_server "$name" "$tmp/${DIR[$name]}/$1.conf" "$OUT/$name.stderr"
    done
}

wrk_cmd() { # port uri secs -> wrk's output
    timeout -k 2 $(($3 + 20)) taskset -c "$CLIENT_CPU" \
        wrk -t1 -c"$CONNS" -d"$3s" --timeout 2s "http://127.0.0.1:$1$2" 2>&1 || true
}
RUNS_TSV=$OUT/runs.tsv
printf 'row\tserver\trun\treqs\twall_s\tutime\tstime\tcpu_ns\trps\terrors\tothers_pct\n' > "$RUNS_TSV"
OTHERS_LAST=0
measured_run() { # row server run
    local row=$1 name=$2 run=$3 port=${PORT[$2]} pid=${PID[$2]}
    local b0 b1 c0 c1 ns0 ns1 t0 t1 out reqs rps err u0 s0 u1 s1 nsd=-1
    b0=$(cpu_busy "$SERVER_CPU"); c0=$(cpu_ticks "$pid"); ns0=$(cpu_ns "$pid")
    t0=$(date +%s.%N)
    out=$(wrk_cmd "$port" "${ROW_URI[$row]}" "$SECS")
    t1=$(date +%s.%N); ns1=$(cpu_ns "$pid"); c1=$(cpu_ticks "$pid"); b1=$(cpu_busy "$SERVER_CPU")
    echo "$out" >> "$OUT/wrk-$row-$name.log"
    read -r reqs rps err _ < <(parse_wrk <<<"$out") || true
    read -r u0 s0 <<<"$c0"; read -r u1 s1 <<<"$c1"
    if ((ns0 >= 0 && ns1 >= 0)); then nsd=$((ns1 - ns0)); fi
    OTHERS_LAST=$(others_pct "$b0" "$b1" "$nsd" $((u1 - u0 + s1 - s0)) "$t0" "$t1")
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$row" "$name" "$run" "$reqs" \
        "$(awk -v a="$t0" -v b="$t1" 'BEGIN {printf "%.3f", b-a}')" $((u1 - u0)) $((s1 - s0)) \
        "$nsd" "$rps" "$err" "$OTHERS_LAST" >> "$RUNS_TSV"
    log "  $row $name run $run: $reqs req, $rps req/s, $(awk -v n="$nsd" -v r="$reqs" \
        'BEGIN {printf "%.2f", (r > 0) ? n / 1e3 / r : 0}') CPU us/req, errors $err, others on CPU $SERVER_CPU ${OTHERS_LAST}%"
}

strace_run() { # row server
    local row=$1 name=$2 port=${PORT[$2]} pid=${PID[$2]} out reqs
    local so="$OUT/strace-$row-$name.txt" se="$tmp/strace-$row-$name.err"
    strace_attach "$pid" "$so" "$se" -c || return 0
    out=$(wrk_cmd "$port" "${ROW_URI[$row]}" "$STRACE_SECS")
    strace_detach
    read -r reqs _ <<<"$(parse_wrk <<<"$out")"
    echo "$reqs" > "$OUT/strace-$row-$name.reqs"
    log "  $row $name under strace: $reqs requests, $(awk '/ total$/ {print $4}' "$so" 2>/dev/null) syscalls"
}

check_bodies() { # kind: every row of that kind answers its location's name on both servers
    local row name body
    for row in $ROWS; do
        [ "${ROW_KIND[$row]}" = "$1" ] || continue
        for name in holdfast nginx; do
            body=$(taskset -c "$CLIENT_CPU" curl -s --max-time 5 "http://127.0.0.1:${PORT[$name]}${ROW_URI[$row]}" || true)
            [ "$body" = "${ROW_BODY[$row]}" ] ||
                die "row $row: $name answered '$body' for ${ROW_URI[$row]}, expected '${ROW_BODY[$row]}'"
        done
    done
}

# ---------------------------------------------------------------- debug check
# Both servers log `test location: ~ "RE"` (debug level) for every regex
# location they run; one request per row, the lines it added are counted.
if [ "$DEBUG_CHECK" = 1 ]; then
    DBG=$OUT/debug-check.txt
    : > "$DBG"
    for kind in locations baseline; do
        write_conf "$kind" "$HF_PORT" 1 "$tmp/hf/$kind-debug.conf"
        write_conf "$kind" "$NG_PORT" 1 "$tmp/ng/$kind-debug.conf"
        rows=""
        for row in $ROWS; do [ "${ROW_KIND[$row]}" = "$kind" ] && rows="$rows $row"; done
        [ -n "$rows" ] || continue
        for name in holdfast nginx; do
            err=$tmp/debug-$name-$kind.log
            : > "$err"
            start_server "$name" "$tmp/${DIR[$name]}/$kind-debug.conf" "$err"
            sleep 0.2
            for row in $rows; do
                n0=$(grep -c 'test location: ~' "$err" || true)
                taskset -c "$CLIENT_CPU" curl -s --max-time 5 -o /dev/null "http://127.0.0.1:${PORT[$name]}${ROW_URI[$row]}" || true
                sleep 0.3
                n1=$(grep -c 'test location: ~' "$err" || true)
                printf '%s\t%s\t%s\t%s\n' "$row" "$name" "${ROW_URI[$row]}" $((n1 - n0)) >> "$DBG"
                log "  debug: $name row $row ${ROW_URI[$row]}: $((n1 - n0)) 'test location: ~' lines"
            done
            stop_server "$name"
            grep 'test location' "$err" > "$OUT/debug-$name-$kind.lines" || true
        done
    done
fi

# ---------------------------------------------------------------- runs
for kind in locations baseline; do
    rows=""
    for row in $ROWS; do [ "${ROW_KIND[$row]}" = "$kind" ] && rows="$rows $row"; done
    [ -n "$rows" ] || continue
    log "starting holdfast on :$HF_PORT and nginx on :$NG_PORT with the $kind configuration"
    start_pair "$kind"
    check_bodies "$kind"
    for row in $rows; do
        log "row $row: ${ROW_NAME[$row]} (GET ${ROW_URI[$row]})"
        for name in holdfast nginx; do wrk_cmd "${PORT[$name]}" "${ROW_URI[$row]}" "$WARM_SECS" >/dev/null; done
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

# ---------------------------------------------------------------- summary
{
    echo "quiet_wait_seconds: $((QUIET_HALVES / 2)) (budget $QUIET_BUDGET)"
    echo "retries_left: $RETRY_BUDGET"
    echo "loadavg_at_end: $(cut -d' ' -f1-3 /proc/loadavg)"
    echo "total_seconds: $(( $(date +%s) - START_TS ))"
} >> "$OUT/machine.txt"

ROWS_ENV=$ROWS python3 - "$OUT" "$NOISY_PCT" "$CLK_TCK" <<'PY' | tee "$OUT/summary.md"
import csv, os, re, statistics, sys
out, noisy, tck = sys.argv[1], float(sys.argv[2]), int(sys.argv[3])
names = {"a": ("prefix /a17/page.html", "10 regexes run, all fail"),
         "b": ("^~ /a18/x.php", "no regex"),
         "c": ("= /a19/index.php", "no regex"),
         "d": ("5th regex /blog/2024/05/hello-world", "5 regexes run"),
         "e": ("baseline = /plaintext (1 location)", "no regex")}
runs = {}
for r in csv.DictReader(open(os.path.join(out, "runs.tsv")), delimiter="\t"):
    runs.setdefault((r["row"], r["server"]), []).append(r)

def cpu_us(r):
    n = int(r["reqs"] or 0)
    ns = int(r["cpu_ns"])
    secs = ns / 1e9 if ns >= 0 else (int(r["utime"]) + int(r["stime"])) / tck
    return secs * 1e6 / n if n > 0 else None

def quiet(rs):
    q = [r for r in rs if float(r["others_pct"] or 0) <= noisy]
    return q if len(q) >= 3 else rs

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

dbg = {}
try:
    for line in open(os.path.join(out, "debug-check.txt")):
        row, srv, _, n = line.split("\t")
        dbg[(row, srv)] = int(n)
except OSError:
    pass

def fmt(v, f="{:.2f}"):
    return "-" if v is None else f.format(v)

print("| row | request | hf CPU µs/req | ng CPU µs/req | ratio hf/ng | paired ratio (min–max) "
      "| hf req/s | ng req/s | hf syscalls/req | ng syscalls/req | regex tests hf / ng (debug log) |")
print("|---|---|---|---|---|---|---|---|---|---|---|")
for row in os.environ["ROWS_ENV"].split():
    hf, ng = quiet(runs.get((row, "holdfast"), [])), quiet(runs.get((row, "nginx"), []))
    hc = [c for c in map(cpu_us, hf) if c is not None]
    nc = [c for c in map(cpu_us, ng) if c is not None]
    hm = statistics.median(hc) if hc else None
    nm = statistics.median(nc) if nc else None
    # Runs of the same number were made back to back: their ratio is less
    # exposed to the machine's slow drifts than the ratio of the medians.
    pairs = {}
    for r in hf:
        pairs.setdefault(r["run"].rstrip("b"), [None, None])[0] = cpu_us(r)
    for r in ng:
        pairs.setdefault(r["run"].rstrip("b"), [None, None])[1] = cpu_us(r)
    pr = [a / b for a, b in pairs.values() if a and b]
    hr = statistics.median(float(r["rps"]) for r in hf) if hf else None
    nr = statistics.median(float(r["rps"]) for r in ng) if ng else None
    d = f"{dbg.get((row, 'holdfast'), '-')} / {dbg.get((row, 'nginx'), '-')}"
    print(f"| {row} | {names[row][0]} | {fmt(hm)} | {fmt(nm)} | "
          f"{fmt(hm / nm if hm and nm else None, '{:.3f}')} | "
          f"{fmt(statistics.median(pr) if pr else None, '{:.3f}')} "
          f"({fmt(min(pr) if pr else None, '{:.2f}')}–{fmt(max(pr) if pr else None, '{:.2f}')}) | "
          f"{fmt(hr, '{:.0f}')} | {fmt(nr, '{:.0f}')} | "
          f"{fmt(strace(row, 'holdfast'))} | {fmt(strace(row, 'nginx'))} | {d} |")
print()
print(f"CPU µs/req: median over runs of the server process's time on CPU "
      f"(/proc/PID/schedstat) / requests wrk completed; runs where other processes took "
      f"more than {noisy:.0f}% of the server's core are left out when 3 others remain. "
      "ratio hf/ng: of the two medians; paired ratio: median (min–max) of the per-run-number "
      "ratios (the two servers' runs of one number are back to back). syscalls/req: one "
      "`strace -c -f -p PID` run. Regex tests: `test location: ~` debug lines one request "
      "logs (error_log stderr debug).")
PY
log "done in $(( $(date +%s) - START_TS )) s; raw results in $OUT"
