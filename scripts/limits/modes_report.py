#!/usr/bin/env python3
"""Aggregates the runs of scripts/connection-modes.sh.

    modes_report.py RUNS_DIR CSV PNG RUNS_CSV

RUNS_DIR holds one `holdfast-load --json` report per run, named
SERVER__MODE__CONCURRENCY__REP.json (MODE: short, keepalive, pipeline16,
parallel). Writes the medians per (mode, concurrency, server) to CSV, every run
to RUNS_CSV, the chart to PNG (when matplotlib imports), and prints a markdown
table of the medians on stdout.
"""

import csv
import json
import os
import statistics
import sys

MODES = ["short", "parallel", "keepalive", "pipeline16"]
ERROR_KINDS = ["refused", "reset", "out_of_local_ports", "timeout",
               "unexpected_close", "bad_response", "no_descriptors", "other"]


def load(runs_dir):
    rows = []
    for name in sorted(os.listdir(runs_dir)):
        if not name.endswith(".json"):
            continue
        server, mode, conc, rep = name[:-5].split("__")
        path = os.path.join(runs_dir, name)
        try:
            with open(path) as f:
                r = json.load(f)
        except (OSError, ValueError) as e:
            print(f"warning: {name}: unreadable report ({e})", file=sys.stderr)
            continue
        cpu_us = retrans = drops = None
        try:
            with open(path[:-5] + ".cpu") as f:
                fields = f.read().split()
            ticks, hz = fields[0], fields[1]
            if r["responses"]:
                cpu_us = round(int(ticks) * 1e6 / int(hz) / r["responses"], 2)
            if len(fields) >= 4:
                retrans, drops = int(fields[2]), int(fields[3])
        except (OSError, ValueError, IndexError):
            pass
        errs = r.get("errors", {})
        kinds = ";".join(f"{k}={errs[k]}" for k in ERROR_KINDS if errs.get(k))
        tw = r.get("time_wait") or {}
        rows.append({
            "server": server,
            "mode": mode,
            "concurrency": int(conc),
            "rep": int(rep),
            "req_s": r["requests_per_s"],
            "conn_s": r["connections_per_s"],
            "p50_us": r["latency_us"]["p50"],
            "p99_us": r["latency_us"]["p99"],
            "max_us": r["latency_us"]["max"],
            "responses": r["responses"],
            "connections": r["connections_opened"],
            "errors": errs.get("total", 0),
            "error_kinds": kinds,
            "tw_before": tw.get("before"),
            "tw_after": tw.get("after"),
            "elapsed_s": r["elapsed_s"],
            "server_cpu_us_per_req": cpu_us,
            "retrans_segs": retrans,
            "backlog_drops": drops,
        })
    return rows


def med(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


def aggregate(rows):
    groups = {}
    for r in rows:
        groups.setdefault((r["mode"], r["concurrency"], r["server"]), []).append(r)
    out = []
    for (mode, conc, server), rs in groups.items():
        kinds = {}
        for r in rs:
            for kv in filter(None, r["error_kinds"].split(";")):
                k, v = kv.split("=")
                kinds[k] = kinds.get(k, 0) + int(v)
        out.append({
            "mode": mode,
            "concurrency": conc,
            "server": server,
            "runs": len(rs),
            "req_s": round(med([r["req_s"] for r in rs])),
            "req_s_min": round(min(r["req_s"] for r in rs)),
            "req_s_max": round(max(r["req_s"] for r in rs)),
            "conn_s": round(med([r["conn_s"] for r in rs])),
            "p50_us": med([r["p50_us"] for r in rs]),
            "p99_us": med([r["p99_us"] for r in rs]),
            "errors": sum(r["errors"] for r in rs),
            "error_kinds": ";".join(f"{k}={v}" for k, v in sorted(kinds.items())),
            "time_wait_after": med([r["tw_after"] for r in rs]),
            "server_cpu_us_per_req": med([r["server_cpu_us_per_req"] for r in rs]),
            "retrans_segs": sum(r["retrans_segs"] or 0 for r in rs),
        })
    order = {m: i for i, m in enumerate(MODES)}
    out.sort(key=lambda a: (order.get(a["mode"], 99), a["concurrency"], a["server"]))
    return out


def write_csv(path, rows, fields):
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=fields, extrasaction="ignore")
        w.writeheader()
        for r in rows:
            w.writerow(r)


def fmt_us(us):
    if us is None:
        return "?"
    if us >= 1000:
        return f"{us / 1000:.1f} ms"
    return f"{us:.0f} µs"


def chart(path, agg):
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("warning: matplotlib missing, no chart", file=sys.stderr)
        return
    colors = {"short": "tab:red", "parallel": "tab:orange",
              "keepalive": "tab:blue", "pipeline16": "tab:green"}
    styles = {"holdfast": ("-", "o"), "nginx": ("--", "s")}
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(13, 5.8))
    servers = sorted({a["server"] for a in agg})
    for mode in MODES:
        for server in servers:
            pts = sorted((a["concurrency"], a["req_s"], a["req_s_min"], a["req_s_max"], a["p99_us"])
                         for a in agg if a["mode"] == mode and a["server"] == server)
            if not pts:
                continue
            xs = [p[0] for p in pts]
            ls, mk = styles.get(server, (":", "^"))
            label = f"{mode} ({server})"
            ax1.plot(xs, [p[1] for p in pts], ls, marker=mk, color=colors[mode], label=label)
            ax1.fill_between(xs, [p[2] for p in pts], [p[3] for p in pts],
                             color=colors[mode], alpha=0.08)
            ax2.plot(xs, [p[4] / 1000 for p in pts], ls, marker=mk, color=colors[mode], label=label)
    for ax in (ax1, ax2):
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("concurrency (connections / workers / wave size)")
        ax.grid(True, which="both", alpha=0.3)
        ax.set_xticks([1, 10, 100, 1000])
        ax.set_xticklabels(["1", "10", "100", "1000"])
    ax1.set_ylabel("requests/s (median; band: min-max of the runs)")
    ax1.set_title("GET /plaintext on loopback, " + os.environ.get("MODES_NOTE", "2 shared cores"), fontsize=10)
    ax2.set_ylabel("p99 latency, ms (median of runs)")
    ax2.set_title("p99 latency")
    handles, labels = ax1.get_legend_handles_labels()
    fig.legend(handles, labels, fontsize=8, ncol=4, loc="lower center")
    fig.tight_layout(rect=(0, 0.09, 1, 1))
    fig.savefig(path, dpi=110)


def main():
    runs_dir, csv_path, png_path, runs_csv = sys.argv[1:5]
    rows = load(runs_dir)
    if not rows:
        sys.exit("no runs")
    rows.sort(key=lambda r: (MODES.index(r["mode"]) if r["mode"] in MODES else 99,
                             r["concurrency"], r["server"], r["rep"]))
    write_csv(runs_csv, rows, list(rows[0].keys()))
    agg = aggregate(rows)
    write_csv(csv_path, agg, ["mode", "concurrency", "server", "req_s", "conn_s", "p50_us",
                              "p99_us", "errors", "time_wait_after", "server_cpu_us_per_req", "retrans_segs", "runs", "req_s_min",
                              "req_s_max", "error_kinds"])
    chart(png_path, agg)
    print("| mode | conc | server | req/s (median) | min–max | conn/s | p50 | p99 | errors | TIME_WAIT after | server CPU µs/req | retrans |")
    print("|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for a in agg:
        errs = str(a["errors"]) + (f" ({a['error_kinds']})" if a["error_kinds"] else "")
        tw = "?" if a["time_wait_after"] is None else f"{a['time_wait_after']:.0f}"
        print(f"| {a['mode']} | {a['concurrency']} | {a['server']} | {a['req_s']:,} | "
              f"{a['req_s_min']:,}–{a['req_s_max']:,} | {a['conn_s']:,} | {fmt_us(a['p50_us'])} | "
              f"{fmt_us(a['p99_us'])} | {errs} | {tw} | "
              f"{'?' if a['server_cpu_us_per_req'] is None else format(a['server_cpu_us_per_req'], '.1f')} | {a['retrans_segs']} |")


if __name__ == "__main__":
    main()
