#!/usr/bin/env bash
# holdfast vs nginx 1.22 (worker_processes 1) over TLS: handshakes (full and
# resumed), keep-alive requests, a 1 MiB file and idle connections, side by
# side with the ratio holdfast/nginx per row, once with an ECDSA P-256 and once
# with an RSA 2048 certificate (the same certificate for both servers).
# Documented in docs/tls.md ("Measured").
#
#   scripts/bench-tls.sh                       # RUNS=5 SECS=3: ~10 min (busy machine: 609 s)
#   RUNS=3 SECS=2 KEYS=ecdsa ROWS="a c" scripts/bench-tls.sh   # a quick subset
#   HOLDFAST_BIN=/path/to/holdfast scripts/bench-tls.sh        # no build
#
# Rows (TLS 1.3 everywhere: `ssl_protocols TLSv1.2 TLSv1.3;` in both, since
# nginx 1.22's default has no TLSv1.3; session settings are both servers'
# defaults: tickets on, no session cache):
#   a  full handshakes   `openssl s_time -connect … -new -time SECS -www
#                        /hs/index.html`: one connection at a time, a full
#                        handshake (no ticket, no session id offered), one
#                        HTTP/1.0 GET of a 3-byte file, close. Server CPU µs
#                        per handshake, handshakes/s.
#   b  resumed           `wrk -t1 -cCONNS_B -H 'Connection: close'
#                        /hs/index.html`: the server closes after each answer,
#                        wrk reconnects and offers the session (ticket) of the
#                        connection before (SSL_clear keeps it; the tickets
#                        arrive before the answer). (`openssl s_time -reuse`
#                        does not resume against rustls: it closes before TLS
#                        1.3's post-handshake tickets arrive.) Same figures.
#   c  keep-alive 1 KiB  `wrk -t1 -cCONNS_C /1k.html`: server CPU µs per
#                        request, requests/s; syscalls per request (and their
#                        mix) from one extra STRACE_SECS run under
#                        `strace -c -f -p PID`.
#   d  1 MiB file        `wrk -t1 -cCONNS_D /1m.bin`: MB/s (10^6 bytes of body)
#                        and server CPU ms per MiB.
#   e  idle connections  scripts/bench/tls_idle_conns.py holds IDLE_CONNS
#                        (5,000) idle TLS keep-alive connections (one GET / on
#                        each first) to a freshly started server; server VmRSS
#                        before/after / IDLE_CONNS; IDLE_RUNS times per server.
# Rows a and b are counted and checked through the access log of location
# /hs/ (`log_format tls '$ssl_session_reused $ssl_protocol $ssl_cipher
# $status'`, written unbuffered by both: one write(2) per handshake, counted in
# the CPU): handshakes = log lines written during the run; the run dies unless
# every line says TLSv1.3 and 200, and the share of '.' (full) and 'r'
# (resumed) lines is reported (a: 100% full expected, b: all but the first of
# each connection slot resumed). Everything else has `access_log off`.
#
# Before measuring, per key type: the certificate both servers present is the
# script's (SHA-256 fingerprint through `openssl s_client`), TLS 1.3 is
# negotiated, and /1k.html and /1m.bin come back byte for byte (curl).
#
# Installs what it lacks (nginx-light, wrk, strace, curl, openssl; apt-get),
# builds holdfast in release mode (honours CARGO_TARGET_DIR) unless
# HOLDFAST_BIN names a binary, generates the two certificates with openssl into
# $BENCH_OUT/certs, writes one configuration text for both servers (they
# differ only in the `listen` port: both run side by side), pins the servers
# to CPU 0 and every client (openssl, wrk, python, strace, curl) to CPU 1. For
# rows a-d and every server: the median of RUNS runs of SECS seconds, the
# servers taking turns run by run (holdfast first on odd runs); server CPU from
# /proc/PID/schedstat (exact; utime+stime ticks kept in runs.tsv). Before each
# run it waits (QUIET_BUDGET s in all) for both CPUs to be under QUIET_PCT%
# busy; a run during which others took more than NOISY_PCT% of the server's
# core is made once more (RETRY_BUDGET in all) and left out of the median when
# 3 quiet runs remain. Loopback only; every client is bounded by timeout; all
# servers, clients and strace are killed at exit. Raw results (runs.tsv,
# idle.tsv, access-log counts, strace summaries, client output) and
# summary.md go to $BENCH_OUT (default <target dir>/bench-tls/<UTC time>).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
START_TS=$(date +%s)
BENCH_NAME=bench-tls

RUNS=${RUNS:-5}                 # measured runs per row, key and server (median reported)
SECS=${SECS:-3}                 # seconds per measured run
WARM_SECS=${WARM_SECS:-1}       # unrecorded warm-up per row and server
STRACE_SECS=${STRACE_SECS:-3}   # seconds of each run under strace -c
STRACE_ROWS=${STRACE_ROWS:-"a b c"}   # rows with a strace -c run (c is the one the docs quote)
KEYS=${KEYS:-"ecdsa rsa"}
ROWS=${ROWS:-"a b c d e"}
CONNS_B=${CONNS_B:-4}           # resumed handshakes: wrk connection slots
CONNS_C=${CONNS_C:-50}          # keep-alive 1 KiB
CONNS_D=${CONNS_D:-4}           # 1 MiB file
IDLE_CONNS=${IDLE_CONNS:-5000}  # row e
IDLE_RUNS=${IDLE_RUNS:-1}       # row e runs per server (a fresh server each)
WC=${WC:-20000}                 # worker_connections (both)
NOFILE=${NOFILE:-20000}         # worker_rlimit_nofile (both)
LISTEN_OPTS=${LISTEN_OPTS:-"deferred backlog=4096"}   # as scripts/bench.sh
NOISY_PCT=${NOISY_PCT:-35}
RETRY_BUDGET=${RETRY_BUDGET:-8}
SCHEME=https
# shellcheck source=scripts/bench/lib.sh
. "$ROOT/scripts/bench/lib.sh"

for row in $ROWS; do case $row in a|b|c|d|e) ;; *) die "unknown row $row (a b c d e)" ;; esac; done
for key in $KEYS; do case $key in ecdsa|rsa) ;; *) die "unknown key type $key (ecdsa rsa)" ;; esac; done

bench_tools nginx:nginx-light wrk:wrk strace:strace curl:curl openssl:openssl \
    taskset:util-linux python3:python3
bench_build
OUT=${BENCH_OUT:-$TARGET_DIR/bench-tls/$(date -u +%Y%m%dT%H%M%SZ)}
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
bench_tmpdir

{
    bench_machine
    echo "openssl: $(openssl version)"
    echo "wrk: $(wrk -v 2>&1 | head -1)"
    echo "runs: $RUNS x ${SECS}s (+${WARM_SECS}s warm-up, +${STRACE_SECS}s under strace for rows $STRACE_ROWS)"
    echo "connections: b $CONNS_B, c $CONNS_C, d $CONNS_D; e $IDLE_CONNS idle x $IDLE_RUNS"
    echo "keys: $KEYS; rows: $ROWS"
    echo "command: ${BENCH_CMD:-scripts/bench-tls.sh}"
} > "$OUT/machine.txt"

# ---------------------------------------------------------------- certificates
# One per key type, used by both servers.
mkdir -p "$OUT/certs"
declare -A KEYOPT=([ecdsa]="-newkey ec -pkeyopt ec_paramgen_curve:prime256v1" [rsa]="-newkey rsa:2048")
declare -A KEYNAME=([ecdsa]="ECDSA P-256" [rsa]="RSA 2048")
for key in $KEYS; do
    # shellcheck disable=SC2086
    openssl req -x509 ${KEYOPT[$key]} -nodes -sha256 -days 30 -subj /CN=localhost \
        -addext subjectAltName=DNS:localhost \
        -keyout "$OUT/certs/$key.key" -out "$OUT/certs/$key.crt" 2>"$tmp/openssl.err" ||
        die "openssl req ($key): $(cat "$tmp/openssl.err")"
done

# ---------------------------------------------------------------- files
WWW=$tmp/www
mkdir -p "$WWW/hs"
printf 'hi\n' > "$WWW/index.html"
printf 'hi\n' > "$WWW/hs/index.html"
python3 - "$WWW" <<'PY'
import os, random, sys
rnd = random.Random(20261207)
text = "".join(rnd.choice("abcdefghijklmnopqrstuvwxyz     \n") for _ in range(1024))
open(os.path.join(sys.argv[1], "1k.html"), "w").write(text)
open(os.path.join(sys.argv[1], "1m.bin"), "wb").write(rnd.randbytes(1 << 20))
PY
chmod -R a+rX "$WWW"

# ---------------------------------------------------------------- configs
HF_PORT=$(pick_port "${HF_PORT:-18680}")
NG_PORT=$(pick_port "${NG_PORT:-$((HF_PORT + 1))}")
[ "$HF_PORT" != "$NG_PORT" ] || NG_PORT=$(pick_port $((HF_PORT + 1)))
DIR=([holdfast]=hf [nginx]=ng)
PORT[holdfast]=$HF_PORT
PORT[nginx]=$NG_PORT

write_conf() { # port key file
    local port=$1 key=$2 file=$3
    cat > "$file" <<CONF
worker_processes 1;
worker_rlimit_nofile $NOFILE;
error_log stderr error;
events { worker_connections $WC; multi_accept on; }
http {
    log_format tls '\$ssl_session_reused \$ssl_protocol \$ssl_cipher \$status';
    access_log off;
    types { text/html html; application/octet-stream bin; }
    default_type application/octet-stream;
    keepalive_timeout 300s;
    keepalive_requests 1000000;
    server {
        listen 127.0.0.1:$port ssl $LISTEN_OPTS;
        server_name localhost;
        ssl_protocols TLSv1.2 TLSv1.3;
        ssl_certificate $OUT/certs/$key.crt;
        ssl_certificate_key $OUT/certs/$key.key;
        root $WWW;
        location /hs/ { access_log logs/hs.log tls; }
    }
}
CONF
}

write_confs() { # key: both servers' files, checked to differ only in the port
    local key=$1 name
    for name in holdfast nginx; do
        mkdir -p "$tmp/${DIR[$name]}/logs"
        write_conf "${PORT[$name]}" "$key" "$tmp/${DIR[$name]}/tls.conf"
    done
    [ "$(diff "$tmp/hf/tls.conf" "$tmp/ng/tls.conf" | grep -c '^[<>]')" = 2 ] ||
        die "the two configurations differ beyond the listen line"
    cp "$tmp/hf/tls.conf" "$OUT/tls-$key.conf"
    "$tmp/holdfast" -t -q -p "$tmp/hf" -c "$tmp/hf/tls.conf" 2>"$tmp/t.err" ||
        die "holdfast -t: $(cat "$tmp/t.err")"
    "$NGINX" -t -q -p "$tmp/ng/" -e stderr -c "$tmp/hf/tls.conf" -g "pid $tmp/ng/t.pid;" 2>"$tmp/t.err" ||
        die "nginx -t: $(cat "$tmp/t.err")"
}

hs_log() { echo "$tmp/${DIR[$1]}/logs/hs.log"; }
log_lines() { if [ -f "$1" ]; then wc -l < "$1"; else echo 0; fi; }

# ---------------------------------------------------------------- checks
check_server() { # key server
    local key=$1 name=$2 url="https://127.0.0.1:${PORT[$2]}" want got sc f n0
    want=$(openssl x509 -in "$OUT/certs/$key.crt" -noout -fingerprint -sha256)
    sc=$(timeout 10 taskset -c "$CLIENT_CPU" openssl s_client -connect "127.0.0.1:${PORT[$name]}" \
        -servername localhost </dev/null 2>/dev/null || true)
    printf '%s\n' "$sc" > "$OUT/s_client-$key-$name.txt"
    got=$(printf '%s\n' "$sc" | openssl x509 -noout -fingerprint -sha256 2>/dev/null || true)
    [ "$got" = "$want" ] || die "$name ($key): presents '$got', not the script's certificate ($want)"
    printf '%s\n' "$sc" | grep -q 'TLSv1.3' || die "$name ($key): TLS 1.3 was not negotiated"
    for f in 1k.html 1m.bin; do
        rm -f "$tmp/check.b"
        taskset -c "$CLIENT_CPU" curl -sk --max-time 10 -o "$tmp/check.b" "$url/$f" ||
            die "$name ($key): curl $url/$f failed"
        cmp -s "$tmp/check.b" "$WWW/$f" || die "$name ($key): /$f is not the file"
    done
    n0=$(log_lines "$(hs_log "$name")")
    taskset -c "$CLIENT_CPU" curl -sk --max-time 10 -o /dev/null "$url/hs/index.html" ||
        die "$name ($key): curl /hs/index.html failed"
    tail -n +"$((n0 + 1))" "$(hs_log "$name")" | grep -q '^\. TLSv1.3 .* 200$' ||
        die "$name ($key): the access log has no '. TLSv1.3 … 200' line for /hs/index.html"
    log "  check $key $name: its certificate, TLS 1.3 ($(printf '%s\n' "$sc" |
        sed -n 's/^New, \(.*\)$/\1/p' | head -1)), both files, the access log"
}

# ---------------------------------------------------------------- clients
client_cmd() { # row server secs -> the client's output
    local row=$1 name=$2 secs=$3 url="https://127.0.0.1:${PORT[$2]}"
    case $row in
    a)  timeout -k 2 $((secs + 20)) taskset -c "$CLIENT_CPU" openssl s_time \
            -connect "127.0.0.1:${PORT[$name]}" -new -time "$secs" -www /hs/index.html 2>&1 || true ;;
    b)  timeout -k 2 $((secs + 20)) taskset -c "$CLIENT_CPU" wrk -t1 -c"$CONNS_B" -d"${secs}s" \
            --timeout 2s -H 'Connection: close' "$url/hs/index.html" 2>&1 || true ;;
    c)  timeout -k 2 $((secs + 20)) taskset -c "$CLIENT_CPU" wrk -t1 -c"$CONNS_C" -d"${secs}s" \
            --timeout 2s "$url/1k.html" 2>&1 || true ;;
    d)  timeout -k 2 $((secs + 20)) taskset -c "$CLIENT_CPU" wrk -t1 -c"$CONNS_D" -d"${secs}s" \
            --timeout 5s "$url/1m.bin" 2>&1 || true ;;
    esac
}

# units row server n0 out -> "units reused full errors client_secs": what a run
# did, from the access log lines after line n0 (a, b) or wrk's output (c, d).
units_of() {
    local row=$1 name=$2 n0=$3 out=$4 lf reqs err secs
    case $row in
    a|b)
        lf=$(hs_log "$name")
        err=0
        if [ "$row" = b ]; then read -r _ _ err secs < <(parse_wrk <<<"$out") || true
        else secs=0; fi
        tail -n +"$((n0 + 1))" "$lf" | awk -v e="$err" -v s="$secs" '
            {n++} $1 == "r" {r++} $1 == "." {f++} $2 != "TLSv1.3" || $4 != "200" {bad++}
            END {print n+0, r+0, f+0, e+bad, s}' ;;
    c|d)
        read -r reqs _ err secs < <(parse_wrk <<<"$out") || true
        echo "$reqs 0 0 $err $secs" ;;
    esac
}

RUNS_TSV=$OUT/runs.tsv
printf 'key\trow\tserver\trun\tunits\treused\tfull\terrors\tclient_s\twall_s\tutime\tstime\tcpu_ns\tothers_pct\n' > "$RUNS_TSV"
OTHERS_LAST=0
measured_run() { # key row server run
    local key=$1 row=$2 name=$3 run=$4 pid=${PID[$3]}
    local b0 b1 c0 c1 ns0 ns1 t0 t1 out n0 units reused full err csecs u0 s0 u1 s1 nsd=-1
    n0=$(log_lines "$(hs_log "$name")")
    b0=$(cpu_busy "$SERVER_CPU"); c0=$(cpu_ticks "$pid"); ns0=$(cpu_ns "$pid")
    t0=$(date +%s.%N)
    out=$(client_cmd "$row" "$name" "$SECS")
    t1=$(date +%s.%N); ns1=$(cpu_ns "$pid"); c1=$(cpu_ticks "$pid"); b1=$(cpu_busy "$SERVER_CPU")
    printf '### %s run %s\n%s\n' "$key" "$run" "$out" >> "$OUT/client-$key-$row-$name.log"
    read -r units reused full err csecs < <(units_of "$row" "$name" "$n0" "$out") || true
    read -r u0 s0 <<<"$c0"; read -r u1 s1 <<<"$c1"
    if ((ns0 >= 0 && ns1 >= 0)); then nsd=$((ns1 - ns0)); fi
    OTHERS_LAST=$(others_pct "$b0" "$b1" "$nsd" $((u1 - u0 + s1 - s0)) "$t0" "$t1")
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$key" "$row" "$name" "$run" \
        "$units" "$reused" "$full" "$err" "$csecs" \
        "$(awk -v a="$t0" -v b="$t1" 'BEGIN {printf "%.3f", b-a}')" $((u1 - u0)) $((s1 - s0)) \
        "$nsd" "$OTHERS_LAST" >> "$RUNS_TSV"
    log "  $key $row $name run $run: $units done ($reused resumed), $(awk -v n="$nsd" -v r="$units" \
        'BEGIN {printf "%.2f", (r > 0) ? n / 1e3 / r : 0}') CPU us each, errors $err, others on CPU $SERVER_CPU ${OTHERS_LAST}%"
    [ "${err:-0}" = 0 ] || log "  warning: $key $row $name run $run: $err errors (see client-$key-$row-$name.log)"
    [ "${units:-0}" -gt 0 ] || die "$key $row $name run $run: nothing done (see client-$key-$row-$name.log)"
}

strace_run() { # key row server
    local key=$1 row=$2 name=$3 out n0 units
    local so="$OUT/strace-$key-$row-$name.txt"
    n0=$(log_lines "$(hs_log "$name")")
    strace_attach "${PID[$name]}" "$so" "$tmp/strace.err" -c || return 0
    out=$(client_cmd "$row" "$name" "$STRACE_SECS")
    strace_detach
    read -r units _ <<<"$(units_of "$row" "$name" "$n0" "$out")"
    echo "$units" > "$OUT/strace-$key-$row-$name.units"
    log "  $key $row $name under strace: $units done, $(awk '/ total$/ {print $4}' "$so" 2>/dev/null) syscalls"
}

IDLE_TSV=$OUT/idle.tsv
printf 'key\tserver\trun\theld\trss_before_kb\trss_after_kb\tbytes_per_conn\n' > "$IDLE_TSV"
idle_run() { # key server run: a fresh server, IDLE_CONNS idle TLS connections
    local key=$1 name=$2 run=$3 pid r0 r1 held="" fifo=$tmp/idle.fifo hp line
    start_server "$name" "$tmp/${DIR[$name]}/tls.conf" "$OUT/$name.stderr"
    pid=${PID[$name]}
    sleep 0.5
    r0=$(vm_rss_kb "$pid")
    rm -f "$fifo"; mkfifo "$fifo"
    # The holder reads its release line from the fifo; fd 7 keeps it open.
    timeout -k 2 300 taskset -c "$CLIENT_CPU" python3 "$ROOT/scripts/bench/tls_idle_conns.py" \
        "${PORT[$name]}" "$IDLE_CONNS" < "$fifo" > "$tmp/idle.out" 2>"$tmp/idle.err" &
    hp=$!; KILL_PIDS+=("$hp")
    exec 7>"$fifo"
    for _ in $(seq 1500); do   # 150 s at most (the holder gives up opening after 120 s)
        line=$(cat "$tmp/idle.out" 2>/dev/null || true)
        case $line in held*) held=${line#held }; break ;; esac
        kill -0 "$hp" 2>/dev/null || break
        sleep 0.1
    done
    sleep 0.5
    r1=$(vm_rss_kb "$pid")
    echo >&7; exec 7>&-
    wait "$hp" 2>/dev/null || true
    stop_server "$name"
    if [ -z "$held" ] || [ "$held" -le 0 ]; then
        die "$key e $name: the holder held nothing ($(head -c 300 "$tmp/idle.err"))"
    fi
    [ "$held" = "$IDLE_CONNS" ] || log "  warning: $key e $name: held $held of $IDLE_CONNS"
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$key" "$name" "$run" "$held" "$r0" "$r1" \
        $(((r1 - r0) * 1024 / held)) >> "$IDLE_TSV"
    log "  $key e $name run $run: $held held, VmRSS $r0 -> $r1 kB, $(((r1 - r0) * 1024 / held)) B per connection"
}

# ---------------------------------------------------------------- runs
for key in $KEYS; do
    log "key ${KEYNAME[$key]}: holdfast on :$HF_PORT, nginx on :$NG_PORT"
    write_confs "$key"
    for name in holdfast nginx; do
        start_server "$name" "$tmp/${DIR[$name]}/tls.conf" "$OUT/$name.stderr"
        check_server "$key" "$name"
    done
    for row in $ROWS; do
        [ "$row" = e ] && continue
        log "$key row $row"
        for name in holdfast nginx; do client_cmd "$row" "$name" "$WARM_SECS" >/dev/null; done
        for run in $(seq "$RUNS"); do
            order=(holdfast nginx)
            ((run % 2 == 0)) && order=(nginx holdfast)
            for name in "${order[@]}"; do
                wait_quiet
                measured_run "$key" "$row" "$name" "$run"
                if ((OTHERS_LAST > NOISY_PCT && RETRY_BUDGET > 0)); then
                    RETRY_BUDGET=$((RETRY_BUDGET - 1))
                    log "  noisy run (others took ${OTHERS_LAST}% of CPU $SERVER_CPU): once more"
                    wait_quiet
                    measured_run "$key" "$row" "$name" "${run}b"
                fi
            done
        done
        case " $STRACE_ROWS " in
        *" $row "*) for name in holdfast nginx; do strace_run "$key" "$row" "$name"; done ;;
        esac
    done
    for name in holdfast nginx; do
        cp "$(hs_log "$name")" "$OUT/hs-$key-$name.log" 2>/dev/null || true
        rm -f "$(hs_log "$name")"
        stop_server "$name"
    done
    case " $ROWS " in
    *" e "*)
        log "$key row e: $IDLE_CONNS idle TLS connections"
        for run in $(seq "$IDLE_RUNS"); do
            order=(holdfast nginx)
            ((run % 2 == 0)) && order=(nginx holdfast)
            for name in "${order[@]}"; do idle_run "$key" "$name" "$run"; done
        done ;;
    esac
done

# ---------------------------------------------------------------- summary
{
    echo "quiet_wait_seconds: $((QUIET_HALVES / 2)) (budget $QUIET_BUDGET)"
    echo "retries_left: $RETRY_BUDGET"
    echo "loadavg_at_end: $(cut -d' ' -f1-3 /proc/loadavg)"
    echo "total_seconds: $(( $(date +%s) - START_TS ))"
} >> "$OUT/machine.txt"

KEYS_ENV=$KEYS ROWS_ENV=$ROWS python3 "$ROOT/scripts/bench/tls_summary.py" "$OUT" "$NOISY_PCT" \
    "$CLK_TCK" | tee "$OUT/summary.md"
log "done in $(( $(date +%s) - START_TS )) s; raw results in $OUT"
