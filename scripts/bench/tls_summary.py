#!/usr/bin/env python3
"""summary.md of scripts/bench-tls.sh: OUT NOISY_PCT CLK_TCK, with KEYS_ENV
and ROWS_ENV in the environment; reads OUT/runs.tsv, OUT/idle.tsv and the
strace-KEY-ROW-SERVER.{txt,units} files."""
import csv
import os
import statistics
import sys

out, noisy, tck = sys.argv[1], float(sys.argv[2]), int(sys.argv[3])
keys = os.environ["KEYS_ENV"].split()
rows = os.environ["ROWS_ENV"].split()
KEYNAME = {"ecdsa": "ECDSA P-256", "rsa": "RSA 2048"}
MIB = 1 << 20

runs = {}
for r in csv.DictReader(open(os.path.join(out, "runs.tsv")), delimiter="\t"):
    runs.setdefault((r["key"], r["row"], r["server"]), []).append(r)
idle = {}
try:
    for r in csv.DictReader(open(os.path.join(out, "idle.tsv")), delimiter="\t"):
        idle.setdefault((r["key"], r["server"]), []).append(r)
except OSError:
    pass


def quiet(rs):
    q = [r for r in rs if float(r["others_pct"] or 0) <= noisy]
    return q if len(q) >= 3 else rs


def cpu_s(r):
    ns = int(r["cpu_ns"])
    return ns / 1e9 if ns >= 0 else (int(r["utime"]) + int(r["stime"])) / tck


def secs(r):
    """The client's own measuring time (wrk), else the wall time of the run."""
    s = float(r["client_s"] or 0)
    return s if s > 0 else float(r["wall_s"])


def per_unit_us(r):
    n = int(r["units"] or 0)
    return cpu_s(r) * 1e6 / n if n > 0 else None


def rate(r):
    return int(r["units"] or 0) / secs(r)


def mb_s(r):
    return int(r["units"] or 0) * MIB / secs(r) / 1e6


def ms_per_mib(r):
    n = int(r["units"] or 0)
    return cpu_s(r) * 1e3 / n if n > 0 else None


def resumed_share(r):
    n = int(r["units"] or 0)
    return 100.0 * int(r["reused"]) / n if n > 0 else None


def full_share(r):
    n = int(r["units"] or 0)
    return 100.0 * int(r["full"]) / n if n > 0 else None


def strace(key, row, srv):
    """-> (syscalls per unit, {syscall: (calls/unit, errors/unit)}) or (None, {})"""
    try:
        units = int(open(os.path.join(out, f"strace-{key}-{row}-{srv}.units")).read().split()[0])
        total, mix = None, {}
        for line in open(os.path.join(out, f"strace-{key}-{row}-{srv}.txt")):
            f = line.split()
            if len(f) < 5 or not f[3].isdigit():
                continue
            if f[-1] == "total":
                total = int(f[3]) / units if units else None
            elif units:
                errs = int(f[4]) if len(f) == 6 else 0
                mix[f[-1]] = (int(f[3]) / units, errs / units)
        return total, mix
    except (OSError, ValueError, IndexError):
        return None, {}


def med(vals):
    vals = [v for v in vals if v is not None]
    return statistics.median(vals) if vals else None


def fmt(v, f="{:.2f}"):
    return "-" if v is None else f.format(v)


def ratio(a, b):
    return fmt(a / b if a is not None and b else None, "{:.3f}")


# (row, measure, function of one run, format); medians over the quiet runs.
MEASURES = [
    ("a", "server CPU µs / full handshake", per_unit_us, "{:.1f}"),
    ("a", "full handshakes / s", rate, "{:.0f}"),
    ("a", "full ('.') share, %", full_share, "{:.1f}"),
    ("b", "server CPU µs / resumed handshake", per_unit_us, "{:.1f}"),
    ("b", "resumed handshakes / s", rate, "{:.0f}"),
    ("b", "resumed ('r') share, %", resumed_share, "{:.1f}"),
    ("c", "server CPU µs / keep-alive request", per_unit_us, "{:.2f}"),
    ("c", "keep-alive requests / s", rate, "{:.0f}"),
    ("d", "MB/s (1 MiB file)", mb_s, "{:.0f}"),
    ("d", "server CPU ms / MiB", ms_per_mib, "{:.3f}"),
]

print("| key | row | measure | holdfast | nginx 1.22 | ratio hf/ng | paired ratio (min–max) |")
print("|---|---|---|---|---|---|---|")
for key in keys:
    extra = [("a", "syscalls / full handshake", None, "{:.1f}"),
             ("b", "syscalls / resumed handshake", None, "{:.1f}"),
             ("c", "syscalls / keep-alive request", None, "{:.2f}"),
             ("e", "RSS per idle TLS connection, B", None, "{:.0f}")]
    for row, what, f, form in sorted(MEASURES + extra, key=lambda m: m[0]):
        if row not in rows:
            continue
        paired = ""
        if f is None and row == "e":
            h = med(int(r["bytes_per_conn"]) for r in idle.get((key, "holdfast"), []))
            n = med(int(r["bytes_per_conn"]) for r in idle.get((key, "nginx"), []))
        elif f is None:
            h, n = strace(key, row, "holdfast")[0], strace(key, row, "nginx")[0]
            if h is None and n is None:
                continue
        else:
            hr = quiet(runs.get((key, row, "holdfast"), []))
            nr = quiet(runs.get((key, row, "nginx"), []))
            h, n = med(map(f, hr)), med(map(f, nr))
            # Runs of the same number were made back to back: their ratio is
            # less exposed to the machine's slow drifts.
            pairs = {}
            for i, rs in enumerate((hr, nr)):
                for r in rs:
                    pairs.setdefault(r["run"].rstrip("b"), [None, None])[i] = f(r)
            pr = [a / b for a, b in pairs.values() if a is not None and b]
            if pr and "share" not in what:
                paired = f"{statistics.median(pr):.3f} ({min(pr):.2f}–{max(pr):.2f})"
        print(f"| {KEYNAME[key]} | {row} | {what} | {fmt(h, form)} | {fmt(n, form)} | "
              f"{ratio(h, n)} | {paired} |")

print()
print(f"Medians over runs; runs where other processes took more than {noisy:.0f}% of the "
      "server's core are left out when 3 others remain. Server CPU: the serving process's "
      "time on CPU (/proc/PID/schedstat) / handshakes (access log lines written during the "
      "run) or requests (wrk). a: `openssl s_time -new -www /hs/index.html`; b: `wrk "
      "-H 'Connection: close'` reconnecting with its session; handshakes/s of a and b are "
      "client-bound (one client core). paired ratio: median (min–max) of the per-run-number "
      "ratios. syscalls: one `strace -c -f -p PID` run / its handshakes or requests. "
      "e: VmRSS after - before / connections held, fresh server.")

for key in keys:
    for row in ("a", "b", "c"):
        hs, hm = strace(key, row, "holdfast")
        ns, nm = strace(key, row, "nginx")
        if not hm and not nm:
            continue
        unit = "request" if row == "c" else "handshake"
        print()
        print(f"Syscall mix, {KEYNAME[key]} row {row} (calls per {unit}; errors, mostly EAGAIN, "
              f"in brackets; under 0.01 left out): holdfast {fmt(hs)}, nginx {fmt(ns)}")
        print()
        print(f"| syscall | holdfast /{unit} | nginx /{unit} |")
        print("|---|---|---|")
        allk = sorted(set(hm) | set(nm), key=lambda k: -max(hm.get(k, (0, 0))[0], nm.get(k, (0, 0))[0]))

        def cell(m, k):
            if k not in m:
                return "-"
            c, e = m[k]
            return f"{c:.2f}" + (f" ({e:.2f})" if e >= 0.005 else "")

        for k in allk:
            if max(hm.get(k, (0, 0))[0], nm.get(k, (0, 0))[0]) < 0.01:
                continue
            print(f"| {k} | {cell(hm, k)} | {cell(nm, k)} |")

if idle:
    print()
    print("Idle connections (row e):")
    print()
    print("| key | server | run | held | VmRSS before kB | after kB | B per connection |")
    print("|---|---|---|---|---|---|---|")
    for (key, srv), rs in sorted(idle.items()):
        for r in rs:
            print(f"| {KEYNAME.get(key, key)} | {srv} | {r['run']} | {r['held']} | "
                  f"{r['rss_before_kb']} | {r['rss_after_kb']} | {r['bytes_per_conn']} |")
