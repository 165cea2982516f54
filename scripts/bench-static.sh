#!/usr/bin/env bash
# holdfast vs nginx (worker_processes 1): the static-file filters — gzip on a
# small and a large text file, byte ranges served with sendfile, and 304
# revalidations through open_file_cache — side by side, with the ratio
# holdfast/nginx per row.
#
#   scripts/bench-static.sh                    # RUNS=5 SECS=3: ~4 min (busy machine: 241 s)
#   RUNS=3 SECS=2 ROWS="a d" scripts/bench-static.sh   # a quick subset
#   HOLDFAST_BIN=/path/to/holdfast scripts/bench-static.sh   # no build
#
# Rows (each a keep-alive `wrk -t1 -cN -d SECS`, HTTP/1.1, one server block):
#   a  gzip 1 KiB   GET /gz/1k.html, `Accept-Encoding: gzip`, CONNS_A (50)
#                   connections; location /gz/ has `gzip on;
#                   gzip_comp_level 1; gzip_types text/plain;` (text/html is
#                   always compressed)
#   b  gzip 1 MiB   GET /gz/1m.html, the same, CONNS_B (4) connections
#   c  ranges       GET /range/1m.bin with `Range: bytes=X-Y`: a wrk Lua
#                   script cycles through the 16 aligned 64 KiB ranges of the
#                   1 MiB file, CONNS_C (10) connections; `sendfile on`
#   d  304          GET /etag/1k.html with `If-None-Match: <the server's own
#                   ETag>` (fetched with curl first), CONNS_D (50) connections;
#                   location /etag/ has `open_file_cache max=1000
#                   inactive=60s; open_file_cache_valid 60s;`
# The files are made once (deterministic, seeded: HTML-ish English text for
# a/b/d, pseudo-random bytes for c) in one docroot both servers share, so both
# serve the same bytes with the same mtime and size (the same "mtime-size"
# ETag). Before measuring, every row is checked with curl on both servers and
# the run dies unless: a/b answer 200 with `Content-Encoding: gzip` and a body
# that gunzips to the file (its compressed size is recorded: the compression
# ratio of each server at level 1); c answers 206 with the right
# `Content-Range` and the right 64 KiB for each of the 16 ranges; d answers
# 200 with an ETag and then 304 (no body) to `If-None-Match` with it.
#
# Installs what it lacks (nginx-light, wrk, strace, curl; apt-get), builds
# holdfast in release mode (honours CARGO_TARGET_DIR) unless HOLDFAST_BIN names
# a binary, writes one configuration text for both servers (they differ only
# in the `listen` port: both run side by side), pins the servers to CPU 0 and
# wrk/strace/curl to CPU 1. For every row and server: the median of RUNS runs
# of SECS seconds of server CPU time per request (/proc/PID/schedstat, exact;
# utime+stime ticks of /proc/PID/stat are kept in runs.tsv), requests/s, and
# from one extra STRACE_SECS run under `strace -c -f -p PID` the syscalls per
# request and their mix (calls of each syscall per request). With TRACE_ONE=1
# (default) each server is also traced (`strace -f -p PID`, no -c) while curl
# makes 3 requests of each row on one connection: strace-one-ROW-SERVER.txt.
# The servers take turns run by run (holdfast first on odd runs). Loopback
# only; every wrk run is bounded by timeout, every curl by --max-time; all
# servers and strace are killed at exit. Raw results and summary.md go to
# $BENCH_OUT (default <target dir>/bench-static/<UTC time>).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
START_TS=$(date +%s)

RUNS=${RUNS:-5}                 # measured runs per row and server (median reported)
SECS=${SECS:-3}                 # seconds per measured run
WARM_SECS=${WARM_SECS:-1}       # unrecorded warm-up per row and server
STRACE_SECS=${STRACE_SECS:-3}   # seconds of the run under strace -c
ROWS=${ROWS:-"a b c d"}
CONNS_A=${CONNS_A:-50}          # gzip 1 KiB
CONNS_B=${CONNS_B:-4}           # gzip 1 MiB
CONNS_C=${CONNS_C:-10}          # 64 KiB ranges
CONNS_D=${CONNS_D:-50}          # 304
GZIP_LEVEL=${GZIP_LEVEL:-1}
TRACE_ONE=${TRACE_ONE:-1}       # 0: skip the 3-request strace of each row
WC=${WC:-20000}                 # worker_connections (both)
NOFILE=${NOFILE:-20000}         # worker_rlimit_nofile (both)
LISTEN_OPTS=${LISTEN_OPTS:-"deferred backlog=4096"}   # as scripts/bench.sh
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

BENCH_NAME=bench-static
# shellcheck source=scripts/bench/lib.sh
. "$ROOT/scripts/bench/lib.sh"
bench_tools nginx:nginx-light wrk:wrk strace:strace curl:curl taskset:util-linux \
    python3:python3 gzip:gzip
bench_build

OUT=${BENCH_OUT:-$TARGET_DIR/bench-static/$(date -u +%Y%m%dT%H%M%SZ)}
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)

bench_tmpdir
{
    bench_machine
    echo "runs: $RUNS x ${SECS}s (+${WARM_SECS}s warm-up, +${STRACE_SECS}s under strace)"
    echo "connections: a $CONNS_A, b $CONNS_B, c $CONNS_C, d $CONNS_D; gzip_comp_level $GZIP_LEVEL"
    echo "command: ${BENCH_CMD:-scripts/bench-static.sh}"
} > "$OUT/machine.txt"

# ---------------------------------------------------------------- files
# One docroot for both servers: the same bytes, mtime and size.
WWW=$tmp/www
mkdir -p "$WWW/gz" "$WWW/range" "$WWW/etag"
python3 - "$WWW" <<'PY'
import os, random, sys
www = sys.argv[1]
rnd = random.Random(20261207)
words = ("the of and to in is that for it as was with be by on not he this are or "
         "his from at which but have an they you were her she there been one all we "
         "their has would when if so what can more about will other into some could "
         "them time these two may then do first any my now such like our over man me "
         "even most made after also did many before must through back years where much "
         "your way well down should because each just those people how too little state "
         "good very make world still own see men work long get here between both life "
         "being under never day same another know while last might us great old year off "
         "come since against go came right used take three server request response "
         "header connection client cache file buffer module location configuration "
         "directive upstream proxy timeout keepalive worker process event socket").split()
weights = [1.0 / (i + 1) ** 0.9 for i in range(len(words))]
def sentence():
    n = rnd.randint(6, 18)
    s = " ".join(rnd.choices(words, weights, k=n))
    if rnd.random() < 0.25:
        w = rnd.choice(words)
        s += f' <a href="/docs/{w}/{rnd.randint(1, 999)}.html">{w} {rnd.choice(words)}</a>'
    return s[0].upper() + s[1:] + rnd.choice([".", ".", ".", "?", "!"])
def page(size):
    head = ('<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
            '<title>Holdfast static benchmark page</title>\n'
            '<link rel="stylesheet" href="/static/site.css">\n</head>\n<body>\n'
            '<nav><ul><li><a href="/">Home</a></li><li><a href="/docs/">Docs</a></li>'
            '<li><a href="/blog/">Blog</a></li></ul></nav>\n<main>\n')
    parts = [head]
    total = len(head)
    while total < size:
        r = rnd.random()
        if r < 0.1:
            p = f'<h2 id="s{rnd.randint(1, 99999)}">{sentence()[:-1]}</h2>\n'
        elif r < 0.2:
            p = "<ul>\n" + "".join(f"  <li>{sentence()}</li>\n" for _ in range(rnd.randint(2, 5))) + "</ul>\n"
        else:
            p = '<p class="text">' + " ".join(sentence() for _ in range(rnd.randint(2, 6))) + "</p>\n"
        parts.append(p)
        total += len(p)
    tail = "</main>\n</body>\n</html>\n"
    data = "".join(parts).encode()[: size - len(tail)] + tail.encode()
    assert len(data) == size
    return data
small = page(1024)
for path, data in (("gz/1k.html", small), ("etag/1k.html", small), ("gz/1m.html", page(1 << 20)),
                   ("range/1m.bin", rnd.randbytes(1 << 20))):
    with open(os.path.join(www, path), "wb") as f:
        f.write(data)
PY
chmod -R a+rX "$WWW"
cp "$WWW/gz/1k.html" "$OUT/1k.html"   # the text itself, for the record
cat > "$tmp/ranges.lua" <<'LUA'
-- The 16 aligned 64 KiB ranges of a 1 MiB file, in turn (wrk -t1).
local i = 0
request = function()
    local s = (i % 16) * 65536
    i = i + 1
    return wrk.format("GET", "/range/1m.bin", { ["Range"] = "bytes=" .. s .. "-" .. (s + 65535) })
end
LUA

# ---------------------------------------------------------------- configs
HF_PORT=$(pick_port "${HF_PORT:-18580}")
NG_PORT=$(pick_port "${NG_PORT:-$((HF_PORT + 1))}")
[ "$HF_PORT" != "$NG_PORT" ] || NG_PORT=$(pick_port $((HF_PORT + 1)))

write_conf() { # port file
    local port=$1 file=$2
    cat > "$file" <<CONF
worker_processes 1;
worker_rlimit_nofile $NOFILE;
error_log stderr error;
events { worker_connections $WC; multi_accept on; }
http {
    access_log off;
    types { text/html html; text/plain txt; application/octet-stream bin; }
    default_type application/octet-stream;
    keepalive_timeout 300s;
    keepalive_requests 1000000;
    sendfile on;
    server {
        listen 127.0.0.1:$port $LISTEN_OPTS;
        server_name localhost;
        root $WWW;
        location /gz/ {
            gzip on;
            gzip_comp_level $GZIP_LEVEL;
            gzip_types text/plain;
        }
        location /range/ { }
        location /etag/ {
            open_file_cache max=1000 inactive=60s;
            open_file_cache_valid 60s;
        }
    }
}
CONF
}

mkdir -p "$tmp/hf" "$tmp/ng"
write_conf "$HF_PORT" "$tmp/hf/static.conf"
write_conf "$NG_PORT" "$tmp/ng/static.conf"
# One text: the two servers' files differ in the listen port only.
[ "$(diff "$tmp/hf/static.conf" "$tmp/ng/static.conf" | grep -c '^[<>]')" = 2 ] ||
    die "the two configurations differ beyond the listen line"
cp "$tmp/hf/static.conf" "$OUT/static.conf"
# Both servers accept the same file.
"$tmp/holdfast" -t -q -p "$tmp/hf" -c "$tmp/hf/static.conf" 2>"$tmp/t.err" ||
    die "holdfast -t: $(cat "$tmp/t.err")"
"$NGINX" -t -q -p "$tmp/ng/" -e stderr -c "$tmp/hf/static.conf" -g "pid $tmp/ng/t.pid;" 2>"$tmp/t.err" ||
    die "nginx -t: $(cat "$tmp/t.err")"

declare -A ROW_NAME ROW_URI ROW_CONNS
ROW_NAME=([a]="gzip 1 KiB" [b]="gzip 1 MiB" [c]="64 KiB ranges of 1 MiB, sendfile" [d]="304 (If-None-Match), open_file_cache")
ROW_URI=([a]=/gz/1k.html [b]=/gz/1m.html [c]=/range/1m.bin [d]=/etag/1k.html)
ROW_CONNS=([a]=$CONNS_A [b]=$CONNS_B [c]=$CONNS_C [d]=$CONNS_D)
for row in $ROWS; do [ -n "${ROW_URI[$row]:-}" ] || die "unknown row $row (a b c d)"; done

# ---------------------------------------------------------------- servers
declare -A PID PORT MASTER DIR ETAG
DIR=([holdfast]=hf [nginx]=ng)   # where each server's files are
PORT[holdfast]=$HF_PORT
PORT[nginx]=$NG_PORT

wrk_cmd() { # row server secs -> wrk's output
    local row=$1 name=$2 secs=$3 args=()
    case $row in
    a|b) args=(-H 'Accept-Encoding: gzip') ;;
    c)   args=(-s "$tmp/ranges.lua") ;;
    d)   args=(-H "If-None-Match: ${ETAG[$name]}") ;;
    esac
    timeout -k 2 $((secs + 20)) taskset -c "$CLIENT_CPU" \
        wrk -t1 -c"${ROW_CONNS[$row]}" -d"${secs}s" --timeout 2s "${args[@]}" \
        "http://127.0.0.1:${PORT[$name]}${ROW_URI[$row]}" 2>&1 || true
}
RUNS_TSV=$OUT/runs.tsv
printf 'row\tserver\trun\treqs\twall_s\tutime\tstime\tcpu_ns\trps\terrors\tothers_pct\n' > "$RUNS_TSV"
OTHERS_LAST=0
measured_run() { # row server run
    local row=$1 name=$2 run=$3 pid=${PID[$2]}
    local b0 b1 c0 c1 ns0 ns1 t0 t1 out reqs rps err u0 s0 u1 s1 nsd=-1
    b0=$(cpu_busy "$SERVER_CPU"); c0=$(cpu_ticks "$pid"); ns0=$(cpu_ns "$pid")
    t0=$(date +%s.%N)
    out=$(wrk_cmd "$row" "$name" "$SECS")
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
    [ "${err:-0}" = 0 ] || log "  warning: $row $name run $run: $err errors (see wrk-$row-$name.log)"
}

strace_run() { # row server
    local row=$1 name=$2 out reqs
    local so="$OUT/strace-$row-$name.txt"
    strace_attach "${PID[$name]}" "$so" "$tmp/strace-$row-$name.err" -c || return 0
    out=$(wrk_cmd "$row" "$name" "$STRACE_SECS")
    strace_detach
    read -r reqs _ <<<"$(parse_wrk <<<"$out")"
    echo "$reqs" > "$OUT/strace-$row-$name.reqs"
    log "  $row $name under strace: $reqs requests, $(awk '/ total$/ {print $4}' "$so" 2>/dev/null) syscalls"
}

# Three requests of the row on one keep-alive connection, traced one by one.
trace_one() { # row server
    local row=$1 name=$2 url args=() so
    so="$OUT/strace-one-$row-$name.txt"
    url="http://127.0.0.1:${PORT[$name]}${ROW_URI[$row]}"
    case $row in
    a|b) args=(-H 'Accept-Encoding: gzip') ;;
    c)   args=(-H 'Range: bytes=65536-131071') ;;
    d)   args=(-H "If-None-Match: ${ETAG[$name]}") ;;
    esac
    strace_attach "${PID[$name]}" "$so" "$tmp/strace-one-$row-$name.err" -tt -s 48 || return 0
    taskset -c "$CLIENT_CPU" curl -s --max-time 10 "${args[@]}" \
        -o /dev/null -o /dev/null -o /dev/null "$url" "$url" "$url" || true
    sleep 0.3
    strace_detach
}

# ---------------------------------------------------------------- checks
hdr() { # header-file name -> the header's value (last one), without CR
    tr -d '\r' < "$1" | awk -v h="$(printf '%s' "$2" | tr '[:upper:]' '[:lower:]')" -F': ' \
        'tolower($1) == h {v = substr($0, length($1) + 3)} END {print v}'
}
status_of() { tr -d '\r' < "$1" | awk 'NR == 1 {print $2}'; }

GZ_TSV=$OUT/gzip-sizes.tsv
printf 'row\tserver\tfile_bytes\tgzip_bytes\tratio\n' > "$GZ_TSV"
check_row() { # row server: curl the row's request, die unless the answer is the expected one
    local row=$1 name=$2 url h=$tmp/check.h b=$tmp/check.b st f s e ce n
    url="http://127.0.0.1:${PORT[$name]}${ROW_URI[$row]}"
    f=$WWW${ROW_URI[$row]}
    # (curl creates -o's file only when a body comes: remove the last one first.)
    cc() { rm -f "$h" "$b"; taskset -c "$CLIENT_CPU" curl -s --max-time 10 -D "$h" -o "$b" "$@" "$url" || die "row $row: curl $name failed"; }
    case $row in
    a|b)
        cc -H 'Accept-Encoding: gzip'
        st=$(status_of "$h"); ce=$(hdr "$h" content-encoding)
        [ "$st" = 200 ] || die "row $row: $name answered $st, expected 200"
        [ "$ce" = gzip ] || die "row $row: $name: Content-Encoding '$ce', expected gzip"
        gzip -dc < "$b" | cmp -s - "$f" || die "row $row: $name: the body does not gunzip to the file"
        n=$(wc -c < "$b"); s=$(wc -c < "$f")
        printf '%s\t%s\t%s\t%s\t%s\n' "$row" "$name" "$s" "$n" \
            "$(awk -v a="$s" -v b="$n" 'BEGIN {printf "%.3f", a / b}')" >> "$GZ_TSV"
        cp "$b" "$OUT/body-$row-$name.gz"
        log "  check $row $name: 200, gzip, $s -> $n bytes" ;;
    c)
        for n in $(seq 0 15); do
            s=$((n * 65536)); e=$((s + 65535))
            cc -H "Range: bytes=$s-$e"
            st=$(status_of "$h")
            [ "$st" = 206 ] || die "row c: $name answered $st to bytes=$s-$e, expected 206"
            [ "$(hdr "$h" content-range)" = "bytes $s-$e/1048576" ] ||
                die "row c: $name: Content-Range '$(hdr "$h" content-range)' for bytes=$s-$e"
            if [ "$(wc -c < "$b")" != 65536 ] || ! cmp -s -i "$s:0" -n 65536 "$f" "$b"; then
                die "row c: $name: the body of bytes=$s-$e is not that part of the file"
            fi
        done
        log "  check c $name: 206 and the right Content-Range and bytes for the 16 ranges" ;;
    d)
        cc
        st=$(status_of "$h")
        [ "$st" = 200 ] || die "row d: $name answered $st, expected 200"
        cmp -s "$b" "$f" || die "row d: $name: the body is not the file"
        ETAG[$name]=$(hdr "$h" etag)
        [ -n "${ETAG[$name]}" ] || die "row d: $name sent no ETag"
        cc -H "If-None-Match: ${ETAG[$name]}"
        st=$(status_of "$h")
        [ "$st" = 304 ] || die "row d: $name answered $st to If-None-Match: ${ETAG[$name]}, expected 304"
        [ ! -s "$b" ] || die "row d: $name sent a body with its 304"
        printf '%s\t%s\n' "$name" "${ETAG[$name]}" >> "$OUT/etags.tsv"
        log "  check d $name: ETag ${ETAG[$name]}, 304 to If-None-Match" ;;
    esac
}

# ---------------------------------------------------------------- runs
log "starting holdfast on :$HF_PORT and nginx on :$NG_PORT"
for name in holdfast nginx; do
    start_server "$name" "$tmp/${DIR[$name]}/static.conf" "$OUT/$name.stderr"
done
: > "$OUT/etags.tsv"
for row in $ROWS; do
    for name in holdfast nginx; do check_row "$row" "$name"; done
done
if [ -n "${ETAG[holdfast]:-}" ] && [ "${ETAG[holdfast]}" != "${ETAG[nginx]}" ]; then
    log "  note: the ETags differ: holdfast ${ETAG[holdfast]}, nginx ${ETAG[nginx]}"
fi

for row in $ROWS; do
    log "row $row: ${ROW_NAME[$row]} (GET ${ROW_URI[$row]}, ${ROW_CONNS[$row]} connections)"
    for name in holdfast nginx; do wrk_cmd "$row" "$name" "$WARM_SECS" >/dev/null; done
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
    if [ "$TRACE_ONE" = 1 ]; then
        for name in holdfast nginx; do trace_one "$row" "$name"; done
    fi
done
stop_server holdfast
stop_server nginx

# ---------------------------------------------------------------- summary
{
    echo "quiet_wait_seconds: $((QUIET_HALVES / 2)) (budget $QUIET_BUDGET)"
    echo "retries_left: $RETRY_BUDGET"
    echo "loadavg_at_end: $(cut -d' ' -f1-3 /proc/loadavg)"
    echo "total_seconds: $(( $(date +%s) - START_TS ))"
} >> "$OUT/machine.txt"

ROWS_ENV=$ROWS python3 - "$OUT" "$NOISY_PCT" "$CLK_TCK" "$GZIP_LEVEL" <<'PY' | tee "$OUT/summary.md"
import csv, os, statistics, sys
out, noisy, tck, level = sys.argv[1], float(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
names = {"a": "gzip 1 KiB /gz/1k.html", "b": "gzip 1 MiB /gz/1m.html",
         "c": "64 KiB ranges of /range/1m.bin, sendfile", "d": "304 /etag/1k.html, open_file_cache"}
rows = os.environ["ROWS_ENV"].split()
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
    """-> (syscalls per request, {syscall: (calls/req, errors/req)}) or (None, {})"""
    try:
        reqs = int(open(os.path.join(out, f"strace-{row}-{srv}.reqs")).read().split()[0])
        total, mix = None, {}
        for line in open(os.path.join(out, f"strace-{row}-{srv}.txt")):
            f = line.split()
            if len(f) < 5 or not f[3].isdigit():
                continue
            if f[-1] == "total":
                total = int(f[3]) / reqs if reqs else None
            else:
                errs = int(f[4]) if len(f) == 6 else 0
                mix[f[-1]] = (int(f[3]) / reqs, errs / reqs) if reqs else (None, None)
        return total, mix
    except (OSError, ValueError, IndexError):
        return None, {}

def fmt(v, f="{:.2f}"):
    return "-" if v is None else f.format(v)

def ratio(a, b, f="{:.3f}"):
    return fmt(a / b if a is not None and b else None, f)

print("| row | request | hf CPU µs/req | ng CPU µs/req | ratio hf/ng | paired ratio (min–max) "
      "| hf req/s | ng req/s | ratio | hf syscalls/req | ng syscalls/req | ratio |")
print("|---|---|---|---|---|---|---|---|---|---|---|---|")
for row in rows:
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
    hs, ns = strace(row, "holdfast")[0], strace(row, "nginx")[0]
    print(f"| {row} | {names[row]} | {fmt(hm)} | {fmt(nm)} | {ratio(hm, nm)} | "
          f"{fmt(statistics.median(pr) if pr else None, '{:.3f}')} "
          f"({fmt(min(pr) if pr else None, '{:.2f}')}–{fmt(max(pr) if pr else None, '{:.2f}')}) | "
          f"{fmt(hr, '{:.0f}')} | {fmt(nr, '{:.0f}')} | {ratio(hr, nr)} | "
          f"{fmt(hs)} | {fmt(ns)} | {ratio(hs, ns)} |")
print()
print(f"CPU µs/req: median over runs of the server process's time on CPU "
      f"(/proc/PID/schedstat) / requests wrk completed; runs where other processes took "
      f"more than {noisy:.0f}% of the server's core are left out when 3 others remain. "
      "ratio hf/ng: of the two medians; paired ratio: median (min–max) of the per-run-number "
      "ratios (the two servers' runs of one number are back to back). syscalls/req: one "
      "`strace -c -f -p PID` run, all syscalls of the serving process / requests wrk completed.")

gz = {}
try:
    for r in csv.DictReader(open(os.path.join(out, "gzip-sizes.tsv")), delimiter="\t"):
        gz[(r["row"], r["server"])] = r
except OSError:
    pass
if gz:
    print()
    print(f"Compression at gzip_comp_level {level} (one response each, fetched raw with curl, "
          "gzip header and trailer included):")
    print()
    print("| row | file bytes | hf gzip bytes | ng gzip bytes | hf ratio | ng ratio | hf/ng size |")
    print("|---|---|---|---|---|---|---|")
    for row in rows:
        h, n = gz.get((row, "holdfast")), gz.get((row, "nginx"))
        if not h or not n:
            continue
        print(f"| {row} | {h['file_bytes']} | {h['gzip_bytes']} | {n['gzip_bytes']} | "
              f"{h['ratio']} | {n['ratio']} | {int(h['gzip_bytes']) / int(n['gzip_bytes']):.3f} |")

print()
print("Syscall mix per request (`strace -c` run; calls of each syscall / requests; "
      "errors, mostly EAGAIN, in brackets; under 0.01/req left out):")
for row in sorted(rows, key=lambda r: r != "d"):
    hs, hm = strace(row, "holdfast")
    ns, nm = strace(row, "nginx")
    if not hm and not nm:
        continue
    print()
    print(f"Row {row}, {names[row]}: holdfast {fmt(hs)}, nginx {fmt(ns)} syscalls/req")
    print()
    print("| syscall | holdfast /req | nginx /req |")
    print("|---|---|---|")
    keys = sorted(set(hm) | set(nm), key=lambda k: -max((hm.get(k) or (0, 0))[0] or 0,
                                                        (nm.get(k) or (0, 0))[0] or 0))
    def cell(m, k):
        if k not in m or m[k][0] is None:
            return "-"
        c, e = m[k]
        return f"{c:.2f}" + (f" ({e:.2f})" if e and e >= 0.005 else "")
    for k in keys:
        if max((hm.get(k) or (0, 0))[0] or 0, (nm.get(k) or (0, 0))[0] or 0) < 0.01:
            continue
        print(f"| {k} | {cell(hm, k)} | {cell(nm, k)} |")
PY
log "done in $(( $(date +%s) - START_TS )) s; raw results in $OUT"
