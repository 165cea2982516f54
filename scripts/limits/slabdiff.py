#!/usr/bin/env python3
"""The growth of the kernel's slab caches between two /proc/slabinfo copies.

    slabdiff.py BEFORE AFTER [TOP=10] [PER=N]

Prints the TOP caches by bytes added (active objects x object size) and the
total; with PER=N also bytes per unit (e.g. per connection).
"""

import sys


def read(path):
    caches = {}
    with open(path) as f:
        for line in f:
            if line.startswith(("slabinfo", "#")):
                continue
            p = line.split()
            # name active_objs num_objs objsize objperslab pagesperslab : ...
            caches[p[0]] = (int(p[1]), int(p[3]))
    return caches


def main():
    a, b = read(sys.argv[1]), read(sys.argv[2])
    top = int(sys.argv[3]) if len(sys.argv) > 3 else 10
    per = int(sys.argv[4]) if len(sys.argv) > 4 else 0
    rows = []
    for name, (objs, size) in b.items():
        before = a.get(name, (0, size))[0]
        rows.append((name, objs - before, size, (objs - before) * size))
    rows.sort(key=lambda r: -r[3])
    total = sum(r[3] for r in rows)
    print(f"    {'cache':<24} {'objects added':>14} {'object size':>12} {'MiB added':>10}"
          + (f" {'bytes/conn':>11}" if per else ""))
    for name, n, size, nbytes in rows[:top]:
        line = f"    {name:<24} {n:>14,} {size:>12} {nbytes / 2**20:>10.1f}"
        if per:
            line += f" {nbytes / per:>11.0f}"
        print(line)
    line = f"    {'all caches':<24} {'':>14} {'':>12} {total / 2**20:>10.1f}"
    if per:
        line += f" {total / per:>11.0f}"
    print(line)
    # Something outside the test (on this VM, its process monitor) lists
    # /proc/PID/fd of every process now and then: one proc inode, one dentry
    # and one LSM inode blob per descriptor listed. Not a cost of the sockets.
    d = {name: (n, size) for name, n, size, _ in rows}
    proc_n = d.get("proc_inode_cache", (0, 0))[0]
    if proc_n > 0:
        extra = proc_n * (d["proc_inode_cache"][1] + d.get("dentry", (0, 0))[1]
                          + d.get("lsm_inode_cache", (0, 0))[1])
        line = (f"    {'without /proc/PID/fd':<24} {'':>14} {'':>12} {(total - extra) / 2**20:>10.1f}")
        if per:
            line += f" {(total - extra) / per:>11.0f}"
        print(line + f"   ({proc_n:,} proc inodes + their dentries: someone listed /proc/PID/fd)")


if __name__ == "__main__":
    main()
