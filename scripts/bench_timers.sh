#!/usr/bin/env bash
# Timer wheel benchmarks (docs/timer-wheel.md §8): wheel vs BTreeMap vs
# BinaryHeap. Prints machine info first; pins to CPU 1 when taskset exists.
# Honours CARGO_TARGET_DIR. Usage: scripts/bench_timers.sh
set -euo pipefail
cd "$(dirname "$0")/.."

echo "== machine"
echo "date:    $(date -u +%Y-%m-%dT%H:%M:%SZ)"
echo "nproc:   $(nproc)"
echo "cpu:     $(grep -m1 'model name' /proc/cpuinfo 2>/dev/null | cut -d: -f2- | sed 's/^ *//' || uname -m)"
echo "rustc:   $(rustc -V)"
echo "commit:  $(git rev-parse --short HEAD 2>/dev/null || echo unknown)$(git diff --quiet 2>/dev/null || echo ' (dirty)')"

# Build first so that compilation is neither pinned nor mixed into the output.
cargo bench --bench timer_wheel --no-run

pin=()
if command -v taskset >/dev/null 2>&1 && taskset -c 1 true 2>/dev/null; then
    pin=(taskset -c 1)
    echo "pinned:  taskset -c 1"
else
    echo "pinned:  no (taskset unavailable)"
fi
echo
exec "${pin[@]}" cargo bench --bench timer_wheel
