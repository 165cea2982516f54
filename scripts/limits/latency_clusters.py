#!/usr/bin/env python3
"""Summarises a holdfast-load --json report whose latencies bunch up in steps
(SYN or data retransmissions after an accept-queue overflow): counts per
latency band, decoded from the report's histogram buckets.

    latency_clusters.py REPORT.json
"""

import json
import sys

EXACT, SUB, SUB_BITS = 256, 128, 7


def bucket_low(i):
    """The smallest value (µs) of histogram bucket i (see hist.rs)."""
    if i < EXACT:
        return i
    shift = (i - EXACT) // SUB + 1
    return ((i - EXACT) % SUB + SUB) << shift


def main():
    r = json.load(open(sys.argv[1]))
    e = r["errors"]
    kinds = ", ".join(f"{k} {v}" for k, v in e.items() if v and k != "total")
    print(f"holdfast-load: {r['connections_opened']} connected (client side) of "
          f"{r['connect_attempts']}, {r['responses']} responses, errors {e['total']}"
          + (f" ({kinds})" if kinds else ""))
    h = r.get("hold")
    if h:
        print(f"hold: {h['held']} held, the last went idle {h['all_open_s']} s after the start "
              f"(connect waits are not in the latency of hold mode)")
    bands = [(0, 0.1), (0.1, 0.5), (0.5, 1.5), (1.5, 2.5), (2.5, 3.5), (3.5, 7.5), (7.5, 1e9)]
    counts = [0] * len(bands)
    for i, n in r["histogram"]["buckets"]:
        s = bucket_low(i) / 1e6
        for j, (lo, hi) in enumerate(bands):
            if lo <= s < hi:
                counts[j] += n
    print("response latency: " + ", ".join(
        f"{lo}-{hi if hi < 1e8 else '...'} s: {c}" for (lo, hi), c in zip(bands, counts) if c))


if __name__ == "__main__":
    main()
