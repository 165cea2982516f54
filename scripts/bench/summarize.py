#!/usr/bin/env python3
"""Summarises a scripts/bench.sh results directory.

  summarize.py OUT_DIR [--chart FILE.png]

Reads OUT_DIR/{machine.txt,runs.tsv,strace-*.txt,strace-*.reqs,rss.tsv,
sizeof.txt,timers.txt}; prints the result table (medians of the runs, ratio
holdfast/nginx per scenario), the spread between runs, the top syscalls per
row, the RSS table, the issue-4 targets with met / not met, and the key rows
of the timer-wheel benchmark. Writes the same text to OUT_DIR/summary.md, the
numbers to OUT_DIR/summary.json, and a chart to OUT_DIR/chart.png (and to
--chart) when matplotlib can be imported.
"""

import csv
import glob
import json
import os
import re
import statistics
import sys

SCENARIOS = {
    "1": "keep-alive",
    "2": "pipelined x16",
    "3": "short (close)",
    "4": "static 1 KiB",
    "5": "static 1 MiB",
    "6": "10k idle + 50 busy",
}
SERVERS = ("holdfast", "nginx")
SETUP = ("accept4", "accept", "setsockopt", "getsockopt", "getsockname", "epoll_ctl",
         "close", "fcntl", "ioctl", "shutdown")
CLIENT_BOUND_PCT = 90.0


def to_us(v):
    """wrk latency ('812.00us', '1.23ms', '2.00s') -> microseconds."""
    m = re.match(r"^([0-9.]+)(us|ms|s|m)?$", v or "")
    if not m:
        return None
    n = float(m.group(1))
    return n * {"us": 1, "ms": 1e3, "s": 1e6, "m": 60e6, None: 1}[m.group(2)]


def med(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


def rng(xs):
    xs = [x for x in xs if x is not None]
    return (min(xs), max(xs)) if xs else (None, None)


def fmt(v, nd=1):
    if v is None:
        return "-"
    if abs(v) < 0.5 * 10 ** -nd:
        v = 0.0
    if abs(v) >= 10000:
        return f"{v:,.0f}"
    return f"{v:.{nd}f}"


def fmt_sc(r):
    """syscalls/req, with the figure without per-connection set-up."""
    v, st = r.get("syscalls_per_req"), r.get("syscalls_steady")
    if v is None:
        return "-"
    if st is not None and abs(st - v) >= 0.005:
        return f"{v:.2f} ({st:.2f})"
    return f"{v:.2f}"


def fmt_lat(us):
    if us is None:
        return "-"
    if us >= 1000:
        return f"{us / 1000:.2f} ms"
    return f"{us:.0f} µs"


def ratio(a, b):
    if a is None or b in (None, 0):
        return None
    return a / b


def parse_strace(path):
    """strace -c summary -> {syscall: (calls, errors)}, total calls."""
    calls = {}
    total = 0
    try:
        lines = open(path).read().splitlines()
    except OSError:
        return {}, None
    for line in lines:
        parts = line.split()
        if not parts or parts[0].startswith(("%", "-")):
            continue
        if parts[-1] == "total":
            # % time, seconds, usecs/call, calls, [errors], total
            if len(parts) >= 5 and parts[3].isdigit():
                total = int(parts[3])
            continue
        try:
            float(parts[0])
        except ValueError:
            continue
        name = parts[-1]
        rest = parts[2:-1]  # usecs/call, calls, [errors]
        if len(rest) == 3:
            c, e = int(rest[1]), int(rest[2])
        elif len(rest) == 2:
            c, e = int(rest[1]), 0
        else:
            continue
        calls[name] = (c, e)
    if not total:
        total = sum(c for c, _ in calls.values())
    return calls, total


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    out = sys.argv[1]
    chart_extra = None
    if "--chart" in sys.argv:
        chart_extra = sys.argv[sys.argv.index("--chart") + 1]

    machine = {}
    for line in open(os.path.join(out, "machine.txt")):
        k, _, v = line.rstrip("\n").partition(": ")
        machine[k] = v
    tck = float(machine.get("clk_tck", "100"))

    runs = {}
    p = os.path.join(out, "runs.tsv")
    if os.path.exists(p):
        for r in csv.DictReader(open(p), delimiter="\t"):
            runs.setdefault((r["scenario"], r["server"]), []).append(r)

    noisy_pct = float(machine.get("noisy_pct", "101"))

    def others_pct(r):
        b, ns = r.get("cpu_s_busy") or "", r.get("cpu_ns") or ""
        wall = float(r["wall_s"])
        if not b.lstrip("-").isdigit() or wall <= 0:
            return None
        secs = (int(ns) / 1e9 if ns.lstrip("-").isdigit() and int(ns) >= 0
                else (int(r["utime"]) + int(r["stime"])) / tck)
        return max(int(b) / tck - secs, 0) / wall * 100

    rows = {}
    for (sc, srv), all_rs in runs.items():
        # Leave the noisy runs out when at least 3 quiet ones remain.
        quiet = [r for r in all_rs if (others_pct(r) or 0) <= noisy_pct]
        rs = quiet if len(quiet) >= 3 else all_rs
        cpu, usr, sysv, pct, rps, p50, p99, errs, acc = [], [], [], [], [], [], [], [], []
        sleeps, other, cbusy = [], [], []
        ut_sum = st_sum = 0
        for r in rs:
            n = int(r["reqs"] or 0)
            ut, st, wall = int(r["utime"]), int(r["stime"]), float(r["wall_s"])
            ns = r.get("cpu_ns") or ""
            # Exact time on CPU when /proc/PID/schedstat was there, else the ticks.
            secs = int(ns) / 1e9 if ns.lstrip("-").isdigit() and int(ns) >= 0 else (ut + st) / tck
            errs.append(int(r["errors"] or 0))
            if n <= 0:
                continue
            ut_sum += ut
            st_sum += st
            ufrac = ut / (ut + st) if ut + st else 0.0
            cpu.append(secs * 1e6 / n)
            usr.append(secs * ufrac * 1e6 / n)
            sysv.append(secs * (1 - ufrac) * 1e6 / n)
            pct.append(secs / wall * 100 if wall > 0 else None)
            rps.append(float(r["rps"]))
            p50.append(to_us(r["p50"]))
            p99.append(to_us(r["p99"]))
            a = int(r["accepts"]) if r["accepts"].lstrip("-").isdigit() else None
            acc.append(a / n if a is not None and a >= 0 else None)
            v = r.get("vcsw") or ""
            sleeps.append(int(v) / n if v.lstrip("-").isdigit() else None)
            b, k = r.get("cpu_s_busy") or "", r.get("cpu_c_busy") or ""
            if b.lstrip("-").isdigit() and wall > 0:
                other.append(max(int(b) / tck - secs, 0) / wall * 100)
            if k.lstrip("-").isdigit() and wall > 0:
                cbusy.append(int(k) / tck / wall * 100)
        st_calls, st_total = parse_strace(os.path.join(out, f"strace-{sc}-{srv}.txt"))
        st_reqs = 0
        try:
            st_reqs = int(open(os.path.join(out, f"strace-{sc}-{srv}.reqs")).read().split()[0])
        except (OSError, ValueError, IndexError):
            pass
        top = sorted(st_calls.items(), key=lambda kv: -kv[1][0])[:8]
        # Per-connection set-up and tear-down inside the traced run (wrk opens
        # its connections after strace attached): in the keep-alive rows, a
        # syscall of SETUP whose count is at most 2 per accepted connection is
        # per connection, not per request; "steady" leaves those out.
        steady = None
        if st_reqs and st_total and sc != "3":
            acc_c, acc_e = st_calls.get("accept4", st_calls.get("accept", (0, 0)))
            conns = max(acc_c - acc_e, 0)
            out_calls = sum(c for k, (c, e) in st_calls.items()
                            if k in SETUP and c <= 2 * conns + 2)
            steady = (st_total - out_calls) / st_reqs
        rows[(sc, srv)] = {
            "runs": len(rs), "runs_total": len(all_rs),
            "rps": med(rps), "rps_range": rng(rps),
            "p50_us": med(p50), "p99_us": med(p99), "p99_range": rng(p99),
            "cpu_us": med(cpu), "cpu_range": rng(cpu),
            # user/sys: the median CPU/req split by the user share of all the
            # runs' ticks together (one run has too few user ticks to split).
            "user_frac": ut_sum / (ut_sum + st_sum) if ut_sum + st_sum else None,
            "user_us": med(cpu) * ut_sum / (ut_sum + st_sum) if cpu and ut_sum + st_sum else None,
            "sys_us": med(cpu) * st_sum / (ut_sum + st_sum) if cpu and ut_sum + st_sum else None,
            "user_range": rng(usr),
            "cpu_pct": med(pct),
            "errors": sum(errs),
            "conns_per_req": med(acc),
            "sleeps_per_req": med(sleeps),
            "other_on_server_cpu_pct": med(other), "other_range": rng(other),
            "client_cpu_busy_pct": med(cbusy),
            "syscalls_per_req": (st_total / st_reqs) if st_reqs and st_total else None,
            "syscalls_steady": steady,
            "strace_reqs": st_reqs,
            "strace_top": [(name, c / st_reqs if st_reqs else None, e / st_reqs if st_reqs else None)
                           for name, (c, e) in top],
            "strace_all": {name: c / st_reqs for name, (c, e) in st_calls.items()} if st_reqs else {},
        }

    lines = []
    say = lines.append
    scs = [s for s in SCENARIOS if any((s, v) in rows for v in SERVERS)]
    say(f"## Results ({machine.get('runs', '')}; medians)")
    say("")
    say("| scenario | server | req/s | p50 | p99 | CPU µs/req (user/sys) | server CPU | syscalls/req | note |")
    say("|---|---|--:|--:|--:|--:|--:|--:|---|")
    for sc in scs:
        for srv in SERVERS:
            r = rows.get((sc, srv))
            if not r:
                continue
            notes = []
            if r["cpu_pct"] is not None and r["cpu_pct"] < CLIENT_BOUND_PCT:
                notes.append(f"client-bound (server {r['cpu_pct']:.0f}% of a core)")
            if r["errors"]:
                notes.append(f"{r['errors']} wrk errors")
            if sc == "2":
                notes.append("latency: h2load -m16, per request")
            if sc == "3" and r["conns_per_req"] is not None:
                notes.append(f"{r['conns_per_req']:.2f} new conns/req")
            cpu = (f"{fmt(r['cpu_us'], 2)} ({fmt(r['user_us'], 2)}/{fmt(r['sys_us'], 2)})"
                   if r["cpu_us"] is not None else "-")
            say(f"| {sc} {SCENARIOS[sc]} | {srv} | {fmt(r['rps'], 0)} | {fmt_lat(r['p50_us'])} | "
                f"{fmt_lat(r['p99_us'])} | {cpu} | {fmt(r['cpu_pct'], 0)}% | "
                f"{fmt_sc(r)} | {'; '.join(notes)} |")
        h, n = rows.get((sc, "holdfast")), rows.get((sc, "nginx"))
        if h and n:
            def rt(k):
                v = ratio(h[k], n[k])
                return f"**{v:.2f}**" if v is not None else "-"
            say(f"| {sc} {SCENARIOS[sc]} | ratio hf/ng | {rt('rps')} | {rt('p50_us')} | {rt('p99_us')} | "
                f"{rt('cpu_us')} (user {rt('user_us')}) | | {rt('syscalls_per_req')} | |")
    say("")
    say("Ratios are holdfast / nginx: below 1 is better for holdfast in every column but req/s.")
    say("syscalls/req: strace -c total over one run (wrk's connections are opened inside it); "
        "in parentheses, without the per-connection set-up calls (accept4, setsockopt, epoll_ctl, "
        "close, ... when at most 2 per accepted connection) in the keep-alive rows. "
        "Pipelined p50/p99 are h2load's per-request latencies (wrk's percentiles are broken "
        "with pipelining); every other latency is wrk's.")
    say("CPU µs/req: the server's time on CPU (/proc/PID/schedstat, exact) over wrk's request "
        "count; its user/sys split is that of the utime/stime clock ticks of all runs of the row "
        "together (ticks are sampled, so a small user share is only roughly known).")
    say(f"'client-bound': the server used less than {CLIENT_BOUND_PCT:.0f}% of its core, so wrk "
        "(one core) was the bottleneck and req/s compares the client more than the server; "
        "CPU µs/req is then the fair measure.")
    say("")

    say("### Spread between runs (min–max)")
    say("")
    say("| scenario | server | runs | req/s | p99 | CPU µs/req | user µs/req | others on server CPU | client CPU busy |")
    say("|---|---|--:|--:|--:|--:|--:|--:|--:|")
    for sc in scs:
        for srv in SERVERS:
            r = rows.get((sc, srv))
            if not r:
                continue
            a, b = r["rps_range"]
            c, d = r["p99_range"]
            e, f = r["cpu_range"]
            g, hh = r["user_range"]
            say(f"| {sc} {SCENARIOS[sc]} | {srv} | {r['runs']} of {r['runs_total']} | {fmt(a, 0)}–{fmt(b, 0)} | "
                f"{fmt_lat(c)}–{fmt_lat(d)} | {fmt(e, 2)}–{fmt(f, 2)} | {fmt(g, 2)}–{fmt(hh, 2)} | "
                f"{fmt(r['other_range'][0], 0)}–{fmt(r['other_range'][1], 0)}% | "
                f"{fmt(r['client_cpu_busy_pct'], 0)}% |")
    say("")
    say("runs: the runs used / all runs of the row: a run during which other processes took more "
        f"than {noisy_pct:.0f}% of the server's core was repeated once, and such noisy runs are "
        "left out of a row when at least 3 quiet ones remain; every figure of this page comes "
        "from the runs used. "
        "others on server CPU: busy time of the server's core (/proc/stat) not spent by the "
        "server process, min–max over the runs used — other processes on this shared machine; "
        "client CPU busy: median busy share of the load generator's core (wrk plus anything "
        "else there). Runs with much of either are the noisy ones.")
    say("")

    say("### Top syscalls per request (strace -c -f, one run per row)")
    say("")
    say("| scenario | server | requests traced | syscalls/req | top syscalls: calls/req (errors/req) | "
        "sleeps/req without strace |")
    say("|---|---|--:|--:|---|--:|")
    for sc in scs:
        for srv in SERVERS:
            r = rows.get((sc, srv))
            if not r:
                continue
            tops = ", ".join(
                f"{name} {c:.2f}" + (f" ({e:.2f} err)" if e else "")
                for name, c, e in r["strace_top"] if c is not None and c >= 0.005)
            say(f"| {sc} {SCENARIOS[sc]} | {srv} | {r['strace_reqs']:,} | "
                f"{fmt_sc(r)} | {tops} | {fmt(r['sleeps_per_req'], 3)} |")
    say("")
    say("sleeps/req: the server's voluntary context switches per request in the measured runs "
        "(median), i.e. epoll_wait calls that blocked — a lower bound of epoll_wait/req without "
        "strace, which slows the server so much that events pile up and epoll_wait rarely blocks "
        "under it (strace's epoll_wait and accept-EAGAIN counts are therefore too low).")
    say("")

    # RSS
    rss = {}
    p = os.path.join(out, "rss.tsv")
    if os.path.exists(p):
        for r in csv.DictReader(open(p), delimiter="\t"):
            rss[(r["server"], r["worker_connections"], r["conns"])] = r

    def kb(srv, wc, n):
        r = rss.get((srv, wc, n))
        return int(r["rss_kb"]) if r and r["rss_kb"].lstrip("-").isdigit() else None

    def fds(srv, wc, n):
        r = rss.get((srv, wc, n))
        return int(r["fds"]) if r and r["fds"].lstrip("-").isdigit() else None

    def slab(srv, wc, n):
        r = rss.get((srv, wc, n))
        v = (r or {}).get("slab_kb") or ""
        return int(v) if v.lstrip("-").isdigit() and int(v) >= 0 else None

    rss_rows = {}
    if rss:
        wcs = sorted({k[1] for k in rss}, key=int)
        say("## Memory: server RSS (VmRSS)")
        say("")
        say("Right after start (nginx: the worker process), by worker_connections:")
        say("")
        say("| server | " + " | ".join(f"wc {int(w):,}" for w in wcs) +
            " | bytes per worker_connections slot |")
        say("|---|" + "--:|" * (len(wcs) + 1))
        for srv in SERVERS:
            starts = [kb(srv, w, "start") for w in wcs]
            slot = None
            if len(wcs) >= 2 and starts[0] is not None and starts[-1] is not None:
                slot = (starts[-1] - starts[0]) * 1024 / (int(wcs[-1]) - int(wcs[0]))
            rss_rows[srv] = {"start_kb": dict(zip(wcs, starts)), "per_slot": slot, "idle": {}}
            say(f"| {srv} | " + " | ".join(f"{v:,} KiB" if v is not None else "-" for v in starts) +
                f" | {fmt(slot, 0)} |")
        say("")
        say("Idle keep-alive connections (each sent one request, then idle), after a warm-up; "
            "bytes/conn = (RSS with them − RSS before) / connections the server still holds "
            "(its open descriptors − those before):")
        say("")
        say("| server | worker_connections | RSS before | target | held | RSS | bytes/conn | "
            "kernel slab/conn (both ends) |")
        say("|---|--:|--:|--:|--:|--:|--:|--:|")
        for srv in SERVERS:
            for wc in wcs:
                base, fd0 = kb(srv, wc, "0"), fds(srv, wc, "0")
                if base is None:
                    continue
                counts = sorted(int(k[2]) for k in rss
                                if k[0] == srv and k[1] == wc and k[2].isdigit() and k[2] != "0")
                for n in counts:
                    v, f = kb(srv, wc, str(n)), fds(srv, wc, str(n))
                    held = f - fd0 if f is not None and fd0 is not None and f >= 0 else None
                    per = (v - base) * 1024 / held if v is not None and held else None
                    s0, s1 = slab(srv, wc, "0"), slab(srv, wc, str(n))
                    kper = (s1 - s0) * 1024 / n if s0 is not None and s1 is not None else None
                    rss_rows[srv]["idle"][(wc, n)] = {"rss_kb": v, "held": held, "per_conn": per,
                                                      "base_kb": base, "slab_per_conn": kper}
                    say(f"| {srv} | {int(wc):,} | {base:,} KiB | {n:,} | "
                        f"{held if held is not None else '-':,} | "
                        f"{f'{v:,} KiB' if v is not None else '-'} | {fmt(per, 0)} | "
                        f"{fmt(kper, 0)} |")
        say("")
        say("Both servers close idle keep-alive connections when fewer than 1/16 of "
            "worker_connections slots are free (nginx's ngx_drain_connections, mirrored by "
            "holdfast), so with worker_connections 20,000 'held' stays near 18,750 out of 19,900. "
            "Kernel socket memory is not in RSS: the last column is the growth of the machine's "
            "slab memory (/proc/meminfo) per connection opened, client and server socket together "
            "(noisy: machine-wide).")
        say("")

    sz = os.path.join(out, "sizeof.txt")
    if os.path.exists(sz) and os.path.getsize(sz):
        say("size_of (scripts/bench/sizeof.sh): " +
            ", ".join(f"{a} = {b} B" for a, b in (l.split() for l in open(sz) if l.strip())))
        say("")

    # Targets
    tg = []

    def target(name, ok, detail):
        tg.append((name, ok, detail))

    def row(sc, srv):
        return rows.get((sc, srv))

    for sc, limit in (("1", 2.0), ("2", 0.15), ("3", 5.0)):
        h = row(sc, "holdfast")
        if h and h["syscalls_per_req"] is not None:
            n = row(sc, "nginx")
            v = h["syscalls_steady"] if h["syscalls_steady"] is not None else h["syscalls_per_req"]
            target(f"syscalls/req {SCENARIOS[sc]} ≤ {limit}", v <= limit,
                   f"holdfast {fmt_sc(h)}, nginx {fmt_sc(n) if n else '-'}")
    for sc in ("4", "5"):
        h = row(sc, "holdfast")
        if h and h["strace_all"]:
            fs = {k: v for k, v in h["strace_all"].items()
                  if k in ("open", "openat", "fstat", "newfstatat", "statx", "stat", "close")}
            worst = max(fs.values()) if fs else 0.0
            target(f"{SCENARIOS[sc]}: no open/fstat/close per request", worst < 0.01,
                   ", ".join(f"{k} {v:.2f}/req" for k, v in sorted(fs.items())) or "none seen")
    ka = row("1", "holdfast")
    if ka and ka["strace_all"]:
        eagain = None
        st = os.path.join(out, "strace-1-holdfast.txt")
        calls, _ = parse_strace(st)
        reads = [(k, c, e) for k, (c, e) in calls.items() if k in ("read", "recvfrom", "recvmsg", "readv")]
        if reads and ka["strace_reqs"]:
            eagain = sum(e for _, _, e in reads) / ka["strace_reqs"]
            target("keep-alive: no read that only returns EAGAIN", eagain < 0.01,
                   f"failed reads {eagain:.2f}/req")
    for sc, lim in (("1", 0.9), ("2", 0.5), ("3", 0.9)):
        h, n = row(sc, "holdfast"), row(sc, "nginx")
        if h and n and h["cpu_us"] and n["cpu_us"]:
            rt = h["cpu_us"] / n["cpu_us"]
            target(f"CPU/req {SCENARIOS[sc]} ≤ {lim} × nginx", rt <= lim,
                   f"{h['cpu_us']:.2f} vs {n['cpu_us']:.2f} µs = {rt:.2f}×")
    for sc in scs:
        h, n = row(sc, "holdfast"), row(sc, "nginx")
        if h and n and h["user_us"] is not None and n["user_us"]:
            rt = h["user_us"] / n["user_us"]
            target(f"user CPU/req {SCENARIOS[sc]} ≤ 0.5 × nginx", rt <= 0.5,
                   f"{h['user_us']:.2f} vs {n['user_us']:.2f} µs = {rt:.2f}×")
    for sc in scs:
        h, n = row(sc, "holdfast"), row(sc, "nginx")
        if h and n and h["p99_us"] is not None and n["p99_us"]:
            target(f"p99 {SCENARIOS[sc]} ≤ nginx", h["p99_us"] <= n["p99_us"],
                   f"{fmt_lat(h['p99_us'])} vs {fmt_lat(n['p99_us'])} = {h['p99_us'] / n['p99_us']:.2f}×")
    if "holdfast" in rss_rows:
        hr = rss_rows["holdfast"]
        nr = rss_rows.get("nginx", {"idle": {}})
        for (wc, n), d in sorted(hr["idle"].items(), key=lambda kv: (int(kv[0][0]), kv[0][1])):
            if d["per_conn"] is None:
                continue
            ng = nr["idle"].get((wc, n), {}).get("per_conn")
            target(f"RSS per idle connection ≤ 200 B ({n:,} target, wc {int(wc):,})",
                   d["per_conn"] <= 200,
                   f"{d['per_conn']:.0f} B over {d['held']:,} held"
                   + (f" (nginx {ng:.0f} B)" if ng else ""))
        s_ = [v for v in hr["start_kb"].values() if v is not None]
        if len(s_) >= 2 and hr.get("per_slot") is not None:
            # Start-up RSS varies by about ±100 KiB between identical starts.
            target("start-up RSS does not grow with worker_connections", hr["per_slot"] < 10,
                   " → ".join(f"{v:,} KiB" for v in s_)
                   + (f" ({fmt(hr['per_slot'], 0)} B/slot; nginx {fmt(nr.get('per_slot'), 0)} B/slot)"
                      if hr.get("per_slot") is not None else ""))
        for (wc, n), d in sorted(hr["idle"].items(), key=lambda kv: (int(kv[0][0]), kv[0][1])):
            if n == max(k[1] for k in hr["idle"]) and d["held"] is not None:
                target(f"hold {n:,} idle connections (worker_connections {int(wc):,})",
                       d["held"] >= n, f"held {d['held']:,}, RSS {d['rss_kb']:,} KiB")
    if tg:
        say("## Issue-4 targets")
        say("")
        say("| target | met | measured |")
        say("|---|---|---|")
        for name, ok, detail in tg:
            say(f"| {name} | {'yes' if ok else '**no**'} | {detail} |")
        say("")

    tm = os.path.join(out, "timers.txt")
    if os.path.exists(tm):
        text = open(tm).read().splitlines()
        keep = []
        on = False
        for l in text:
            if l.startswith(("wheel vs btreemap", "acceptance targets")):
                on = True
            elif on and not l.strip():
                on = False
                keep.append("")
            if on or l.startswith(("memory:", "total bench time")):
                keep.append(l)
        if keep:
            say("## Timer wheel (scripts/bench_timers.sh, key rows)")
            say("")
            say("```")
            lines.extend(k for k in keep)
            say("```")
            say("")

    text = "\n".join(lines)
    print(text)
    with open(os.path.join(out, "summary.md"), "w") as f:
        f.write(text + "\n")
    with open(os.path.join(out, "summary.json"), "w") as f:
        json.dump({"machine": machine,
                   "rows": {f"{k[0]}/{k[1]}": v for k, v in rows.items()},
                   "rss": {k: {**v, "idle": {f"{a}/{b}": x for (a, b), x in v["idle"].items()}}
                           for k, v in rss_rows.items()},
                   "targets": [{"target": a, "met": b, "measured": c} for a, b, c in tg]},
                  f, indent=1, default=str)

    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("\n(no chart: matplotlib is not importable; `pip install matplotlib` to get one)")
        return
    if not scs:
        return
    labels = [f"{s}\n{SCENARIOS[s]}" for s in scs]
    fig, axes = plt.subplots(2, 2, figsize=(13, 8))
    colors = {"holdfast": "#2b7bb9", "nginx": "#4daf4a"}
    x = list(range(len(scs)))
    w = 0.38
    panels = [("rps", "requests/s (higher is better, log scale)", 1),
              ("cpu_us", "server CPU µs per request, user+sys (lower is better, log scale; hatched: user)", 1),
              ("syscalls_per_req", "syscalls per request (lower is better)", 1),
              ("p99_us", "p99 latency, µs (lower is better, log scale)", 1)]
    for ax, (key, title, _) in zip(axes.flat, panels):
        for i, srv in enumerate(SERVERS):
            vals = [(rows.get((s, srv)) or {}).get(key) or 0 for s in scs]
            pos = [xx + (i - 0.5) * w for xx in x]
            ax.bar(pos, vals, w, label=srv, color=colors[srv])
            if key == "cpu_us":
                us = [(rows.get((s, srv)) or {}).get("user_us") or 0 for s in scs]
                ax.bar(pos, us, w, color="none", edgecolor="white", hatch="//", linewidth=0)
            for px, v in zip(pos, vals):
                if v:
                    ax.text(px, v, f"{v:,.0f}" if v >= 100 else f"{v:.2f}" if v < 10 else f"{v:.1f}",
                            ha="center", va="bottom", fontsize=7)
        ax.set_title(title, fontsize=10)
        ax.set_xticks(x)
        ax.set_xticklabels(labels, fontsize=8)
        if key == "rps":
            ax.set_yscale("log")
            ax.set_ylim(bottom=1e3)
        elif key == "p99_us":
            ax.set_yscale("log")
            ax.set_ylim(bottom=10)
        elif key == "cpu_us":
            ax.set_yscale("log")
            ax.set_ylim(bottom=0.1)
        ax.legend(fontsize=8)
    fig.suptitle(f"holdfast vs nginx {machine.get('nginx', '')} (worker_processes 1), "
                 f"{machine.get('nproc', '?')} cores, server on CPU 0, wrk on CPU 1 — medians of "
                 f"{machine.get('runs', '')}", fontsize=10)
    fig.tight_layout()
    for path in [os.path.join(out, "chart.png")] + ([chart_extra] if chart_extra else []):
        fig.savefig(path, dpi=110)
    print(f"\nchart: {os.path.join(out, 'chart.png')}" + (f", {chart_extra}" if chart_extra else ""))


if __name__ == "__main__":
    main()
