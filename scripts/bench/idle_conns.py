#!/usr/bin/env python3
"""Open N idle HTTP/1.1 keep-alive connections to a loopback server and hold them.

Used by scripts/bench.sh (scenario 6 and the RSS-per-connection table).

Each connection is bound to a source address in 127.0.0.2..127.0.0.50 (round
robin, bind() before connect(), so no single address runs out of ephemeral
ports), sends one `GET PATH` keep-alive request, reads the whole response and is
then left idle. Only loopback targets are accepted; every step has a timeout and
the hold itself ends after --hold-max seconds at the latest.

  idle_conns.py --port P --targets 10000[,19900] [--server-pid PID]
                [--ready-file F] [--hold] [--hold-max 600]

At each target it prints one line

  reached N rss_kb=R fds=F slab_kb=S secs=T

(R: the server's VmRSS, F: the server's open descriptors, both read from
/proc/PID when --server-pid is given; S: the machine's kernel slab memory from
/proc/meminfo, both ends of each connection, noisy on a shared machine;
T: seconds since start; before opening anything it prints the
same line for N=0), appends that line to --ready-file if given, and goes on to
the next target. After the last target it exits, unless --hold is given: then
it keeps the connections open until SIGTERM/SIGINT or --hold-max seconds.
"""

import argparse
import ipaddress
import os
import resource
import signal
import socket
import sys
import time


def raise_nofile():
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY:
        want = 1 << 20
    else:
        want = hard
    if soft == resource.RLIM_INFINITY or soft >= want:
        return soft
    resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
    return want


def proc_rss_kb(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return -1


def slab_kb():
    """Machine-wide kernel slab memory (both ends of every loopback connection)."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("Slab:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return -1


def proc_fds(pid):
    try:
        return len(os.listdir(f"/proc/{pid}/fd"))
    except OSError:
        return -1


def read_response(s, deadline):
    """Reads one response with Content-Length; returns the status line."""
    buf = b""
    while b"\r\n\r\n" not in buf:
        if time.monotonic() > deadline:
            raise TimeoutError("response head")
        chunk = s.recv(65536)
        if not chunk:
            raise ConnectionError("closed before the response head")
        buf += chunk
    head, _, body = buf.partition(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value.strip())
    while len(body) < length:
        if time.monotonic() > deadline:
            raise TimeoutError("response body")
        chunk = s.recv(65536)
        if not chunk:
            raise ConnectionError("closed before the response body")
        body += chunk
    return head.split(b"\r\n", 1)[0].decode("latin-1")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--path", default="/plaintext")
    ap.add_argument("--targets", default="10000",
                    help="comma-separated cumulative connection counts")
    ap.add_argument("--src-first", type=int, default=2, help="first 127.0.0.X source")
    ap.add_argument("--src-last", type=int, default=50, help="last 127.0.0.X source")
    ap.add_argument("--server-pid", type=int, default=0)
    ap.add_argument("--ready-file", default="")
    ap.add_argument("--hold", action="store_true")
    ap.add_argument("--hold-max", type=float, default=600.0)
    ap.add_argument("--settle", type=float, default=0.5,
                    help="seconds to wait after a target before reading RSS")
    ap.add_argument("--timeout", type=float, default=5.0, help="per-connection step timeout")
    ap.add_argument("--max-time", type=float, default=300.0,
                    help="give up opening after this many seconds")
    a = ap.parse_args()

    if not ipaddress.ip_address(a.host).is_loopback:
        sys.exit("idle_conns.py: loopback targets only")
    targets = [int(t) for t in a.targets.split(",") if t]
    if targets != sorted(targets):
        sys.exit("idle_conns.py: targets must increase")
    limit = raise_nofile()
    if targets[-1] + 16 > limit:
        sys.exit(f"idle_conns.py: RLIMIT_NOFILE {limit} is too low for {targets[-1]} connections")

    stop = {"flag": False}

    def on_signal(signum, frame):
        stop["flag"] = True

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)

    req = (f"GET {a.path} HTTP/1.1\r\nHost: {a.host}\r\n"
           f"User-Agent: idle_conns\r\n\r\n").encode()
    srcs = [f"127.0.0.{i}" for i in range(a.src_first, a.src_last + 1)]
    socks = []
    t0 = time.monotonic()

    def report(n):
        if a.server_pid:
            time.sleep(a.settle)
        line = (f"reached {n} rss_kb={proc_rss_kb(a.server_pid) if a.server_pid else -1} "
                f"fds={proc_fds(a.server_pid) if a.server_pid else -1} "
                f"slab_kb={slab_kb()} "
                f"secs={time.monotonic() - t0:.2f}")
        print(line, flush=True)
        if a.ready_file:
            with open(a.ready_file, "a") as f:
                f.write(line + "\n")

    report(0)
    for target in targets:
        while len(socks) < target:
            if stop["flag"]:
                sys.exit("idle_conns.py: stopped while opening")
            if time.monotonic() - t0 > a.max_time:
                sys.exit(f"idle_conns.py: only {len(socks)} connections in {a.max_time}s")
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.settimeout(a.timeout)
            s.bind((srcs[len(socks) % len(srcs)], 0))
            s.connect((a.host, a.port))
            s.sendall(req)
            status = read_response(s, time.monotonic() + a.timeout)
            if not status.startswith("HTTP/1.1 200"):
                sys.exit(f"idle_conns.py: connection {len(socks)}: {status}")
            socks.append(s)
        report(target)

    if a.hold:
        end = time.monotonic() + a.hold_max
        while not stop["flag"] and time.monotonic() < end:
            time.sleep(0.2)
    for s in socks:
        s.close()


if __name__ == "__main__":
    main()
