# Shared helpers of scripts/connection-modes.sh, drain-demo.sh, 100k.sh and
# scripts/limits/*.sh. Source it from the repository root:
#   . scripts/limits/common.sh
# Loopback only; every helper that waits is bounded.

TARGET_DIR=${CARGO_TARGET_DIR:-target}
BIN=$TARGET_DIR/release

# Builds holdfast and holdfast-load (release) unless NO_BUILD=1.
build() {
    if [ "${NO_BUILD:-0}" != 1 ]; then
        cargo build --release -q --bin holdfast --bin holdfast-load
    fi
    [ -x "$BIN/holdfast" ] && [ -x "$BIN/holdfast-load" ] || {
        echo "missing $BIN/holdfast or $BIN/holdfast-load" >&2; exit 1; }
}

# The pids this script started; killed (TERM, then KILL) at exit.
STARTED_PIDS=()
kill_started() {
    local p
    for p in "${STARTED_PIDS[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
    for _ in $(seq 50); do
        local alive=0
        for p in "${STARTED_PIDS[@]}"; do kill -0 "$p" 2>/dev/null && alive=1; done
        [ $alive = 0 ] && break
        sleep 0.1
    done
    for p in "${STARTED_PIDS[@]}"; do kill -KILL "$p" 2>/dev/null || true; done
}

# port_free PORT: nothing listens on 127.0.0.1:PORT.
port_free() {
    ! ss -Hltn "sport = :$1" 2>/dev/null | grep -q .
}

# pick_port START: the first free port from START on (at most 50 tried).
pick_port() {
    local p=$1
    for _ in $(seq 50); do
        port_free "$p" && { echo "$p"; return; }
        p=$((p + 1))
    done
    echo "no free port near $1" >&2; exit 1
}

# wait_http URL [SECONDS=10]: until URL answers 200.
wait_http() {
    local n=$(( ${2:-10} * 10 ))
    for _ in $(seq "$n"); do
        curl -fs -o /dev/null --max-time 1 "$1" && return 0
        sleep 0.1
    done
    echo "no answer from $1" >&2; return 1
}

# sockstat_tcp FIELD: a field of the TCP: line of /proc/net/sockstat
# (inuse, orphan, tw, alloc, mem).
sockstat_tcp() {
    awk -v f="$1" '$1 == "TCP:" { for (i = 2; i < NF; i++) if ($i == f) print $(i + 1) }' /proc/net/sockstat
}

# rss_kib PID: VmRSS of a process, in KiB.
rss_kib() {
    awk '/^VmRSS:/ { print $2 }' "/proc/$1/status" 2>/dev/null || echo 0
}

# meminfo_kib FIELD: a /proc/meminfo field (MemAvailable, Slab, SUnreclaim...).
meminfo_kib() {
    awk -v f="$1:" '$1 == f { print $2 }' /proc/meminfo
}

# children PID: the direct children of PID.
children() {
    cat "/proc/$1/task/"*/children 2>/dev/null | tr ' ' '\n' | grep . || true
}

# netstat_counter NAME: a TcpExt counter (ListenOverflows, ListenDrops,
# TCPTimeWaitOverflow...) from /proc/net/netstat.
netstat_counter() {
    awk -v f="$1" '$1 == "TcpExt:" { if (!h) { for (i = 2; i <= NF; i++) idx[$i] = i; h = 1 } else print $(idx[f]) }' /proc/net/netstat
}

# limits_snapshot: the kernel and process limits the reports talk about.
limits_snapshot() {
    echo "ip_local_port_range  $(tr '\t' ' ' < /proc/sys/net/ipv4/ip_local_port_range)"
    echo "tcp_tw_reuse         $(cat /proc/sys/net/ipv4/tcp_tw_reuse)"
    echo "tcp_max_tw_buckets   $(cat /proc/sys/net/ipv4/tcp_max_tw_buckets)"
    echo "tcp_fin_timeout      $(cat /proc/sys/net/ipv4/tcp_fin_timeout)"
    echo "somaxconn            $(cat /proc/sys/net/core/somaxconn)"
    echo "tcp_max_syn_backlog  $(cat /proc/sys/net/ipv4/tcp_max_syn_backlog)"
    echo "tcp_syncookies       $(cat /proc/sys/net/ipv4/tcp_syncookies)"
    echo "tcp_abort_on_overflow $(cat /proc/sys/net/ipv4/tcp_abort_on_overflow)"
    echo "RLIMIT_NOFILE        soft $(ulimit -Sn) hard $(ulimit -Hn)"
    echo "fs.nr_open           $(cat /proc/sys/fs/nr_open)"
    echo "fs.file-max          $(cat /proc/sys/fs/file-max)"
    echo "fs.file-nr           $(tr '\t' ' ' < /proc/sys/fs/file-nr)"
    echo "tcp_mem (pages)      $(tr '\t' ' ' < /proc/sys/net/ipv4/tcp_mem)"
    echo "sockstat TCP         $(grep '^TCP:' /proc/net/sockstat)"
    echo "cpus $(nproc), loadavg $(cut -d' ' -f1-3 /proc/loadavg)"
}
