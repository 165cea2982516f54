#!/usr/bin/env bash
# holdfast vs nginx serving static files with `sendfile` and `tcp_nopush`
# switched, side by side: scripts/bench.sh's scenarios 4 and 5 once per
# combination, documented in docs/performance.md ("sendfile and tcp_nopush").
#
#   scripts/bench-sendfile.sh                   # 3 combinations, ~10-15 minutes
#   RUNS=3 SECS=3 scripts/bench-sendfile.sh     # shorter
#   COMBOS="off:off on:on" scripts/bench-sendfile.sh   # a subset
#
# Builds holdfast once (honours CARGO_TARGET_DIR, default target/) and keeps a
# copy of the binary in the output dir, so every combination measures the same
# build even when the tree changes meanwhile. Then, for each combination
# SENDFILE:TCP_NOPUSH of COMBOS (default "off:off on:off on:on"), runs
#   SENDFILE=.. TCP_NOPUSH=.. SCENARIOS="4 5" RSS=0 TIMERS=0 scripts/bench.sh
# (the same directives written into both servers' http blocks):
#   4 static 1 KiB   GET /1k.bin, keep-alive, 50 connections
#   5 static 1 MiB   GET /1m.bin, keep-alive, 10 connections
# each into its own BENCH_OUT subdir (sendfile-S_nopush-N) of one output dir,
# and finally prints one markdown table from the summary.json files that
# scripts/bench/summarize.py wrote: per combination, scenario and server the
# medians of CPU µs/request, req/s, syscalls/request (strace -c run) and p99,
# and the holdfast/nginx ratio of each; then the top syscalls per row. The
# table also goes to OUT/combined.md.
#
# RUNS, SECS and every other knob of scripts/bench.sh pass through (the
# environment is inherited). Bounded: bench.sh bounds every client, wait and
# helper, and each combination is also killed after COMBO_TIMEOUT seconds
# (default 1500); a combination that fails is reported and the others still
# run. Output dir: $BENCH_OUT (default: <target dir>/bench/sendfile-<timestamp>).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
START_TS=$(date +%s)

COMBOS=${COMBOS:-"off:off on:off on:on"}   # SENDFILE:TCP_NOPUSH pairs
COMBO_TIMEOUT=${COMBO_TIMEOUT:-1500}       # seconds per bench.sh run
export RUNS=${RUNS:-5}
export SECS=${SECS:-5}

log() { printf '[bench-sendfile %4ss] %s\n' "$(( $(date +%s) - START_TS ))" "$*" >&2; }
die() { log "error: $*"; exit 1; }

for combo in $COMBOS; do
    case $combo in on:on|on:off|off:on|off:off) ;; *) die "bad combination '$combo' (SENDFILE:TCP_NOPUSH, each on|off)" ;; esac
done

# ---------------------------------------------------------------- build once
TARGET_DIR=${CARGO_TARGET_DIR:-target}
case $TARGET_DIR in /*) ;; *) TARGET_DIR=$ROOT/$TARGET_DIR ;; esac
OUT=${BENCH_OUT:-$TARGET_DIR/bench/sendfile-$(date -u +%Y%m%dT%H%M%SZ)}
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
log "cargo build --release (target dir $TARGET_DIR)"
cargo build --release -q
[ -x "$TARGET_DIR/release/holdfast" ] || die "no $TARGET_DIR/release/holdfast"
cp "$TARGET_DIR/release/holdfast" "$OUT/holdfast"
{
    echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
    echo "command: RUNS=$RUNS SECS=$SECS COMBOS=\"$COMBOS\" scripts/bench-sendfile.sh"
    echo "commit: $(git rev-parse --short HEAD 2>/dev/null || echo unknown)" \
         "($(git status --porcelain -- src Cargo.toml Cargo.lock 2>/dev/null | wc -l) changed files under src/ and Cargo.*)"
} > "$OUT/sendfile.txt"

# ---------------------------------------------------------------- runs
failed=()
for combo in $COMBOS; do
    sf=${combo%%:*} np=${combo##*:}
    sub=$OUT/sendfile-${sf}_nopush-${np}
    log "sendfile $sf, tcp_nopush $np -> $sub"
    if ! SENDFILE=$sf TCP_NOPUSH=$np SCENARIOS="4 5" RSS=0 TIMERS=0 BENCH_OUT=$sub \
         HOLDFAST_BIN=$OUT/holdfast \
         BENCH_CMD="SENDFILE=$sf TCP_NOPUSH=$np SCENARIOS=\"4 5\" RSS=0 TIMERS=0 RUNS=$RUNS SECS=$SECS scripts/bench.sh" \
         timeout -k 30 "$COMBO_TIMEOUT" scripts/bench.sh > "$OUT/bench-${sf}_nopush-${np}.log" 2>&1; then
        log "  failed (see $OUT/bench-${sf}_nopush-${np}.log): $(tail -1 "$OUT/bench-${sf}_nopush-${np}.log")"
        failed+=("$combo")
    fi
done

# ---------------------------------------------------------------- combined table
python3 - "$OUT" $COMBOS <<'PY' | tee "$OUT/combined.md"
import json, os, sys

out, combos = sys.argv[1], sys.argv[2:]
NAMES = {"4": "static 1 KiB", "5": "static 1 MiB"}


def lat(us):
    if us is None:
        return "-"
    return f"{us / 1000:.2f} ms" if us >= 1000 else f"{us:.0f} µs"


def num(v, nd):
    if v is None:
        return "-"
    return f"{v:,.0f}" if nd == 0 else f"{v:.{nd}f}"


def sysc(r):
    v, st = r.get("syscalls_per_req"), r.get("syscalls_steady")
    if v is None:
        return "-"
    if st is not None and abs(st - v) >= 0.005:
        return f"{v:.2f} ({st:.2f})"
    return f"{v:.2f}"


def ratio(h, n, k):
    a, b = (h or {}).get(k), (n or {}).get(k)
    return f"**{a / b:.2f}**" if a is not None and b else "-"


data = {}
machine = {}
for c in combos:
    sf, np_ = c.split(":")
    p = os.path.join(out, f"sendfile-{sf}_nopush-{np_}", "summary.json")
    try:
        j = json.load(open(p))
        data[c] = j["rows"]
        machine = machine or j.get("machine", {})
    except (OSError, ValueError, KeyError):
        data[c] = None

print(f"## sendfile / tcp_nopush ({machine.get('runs', '')}; medians)")
print()
print("| combo | scenario | server | CPU µs/req | req/s | syscalls/req | p99 | note |")
print("|---|---|---|--:|--:|--:|--:|---|")
for c in combos:
    sf, np_ = c.split(":")
    label = f"sendfile {sf}, tcp_nopush {np_}"
    rows = data[c]
    if rows is None:
        print(f"| {label} | - | - | - | - | - | - | no summary.json (run failed) |")
        continue
    for sc in ("4", "5"):
        h, n = rows.get(f"{sc}/holdfast"), rows.get(f"{sc}/nginx")
        for srv, r in (("holdfast", h), ("nginx", n)):
            if not r:
                continue
            notes = []
            if r.get("cpu_pct") is not None and r["cpu_pct"] < 90:
                notes.append(f"client-bound ({r['cpu_pct']:.0f}% of a core)")
            if r.get("errors"):
                notes.append(f"{r['errors']} wrk errors")
            if r.get("runs") != r.get("runs_total"):
                notes.append(f"{r.get('runs')} of {r.get('runs_total')} runs")
            print(f"| {label} | {sc} {NAMES[sc]} | {srv} | {num(r.get('cpu_us'), 2)} | "
                  f"{num(r.get('rps'), 0)} | {sysc(r)} | {lat(r.get('p99_us'))} | {'; '.join(notes)} |")
        if h and n:
            print(f"| {label} | {sc} {NAMES[sc]} | ratio hf/ng | {ratio(h, n, 'cpu_us')} | "
                  f"{ratio(h, n, 'rps')} | {ratio(h, n, 'syscalls_per_req')} | {ratio(h, n, 'p99_us')} | |")
print()
print("Ratios are holdfast / nginx (below 1 is better for holdfast, except req/s). "
      "syscalls/req from one strace -c run per row (in parentheses: without per-connection "
      "set-up calls); CPU µs/req, req/s and p99 are medians of the measured runs.")
print()
print("### Top syscalls per request (strace -c -f, one run per row)")
print()
print("| combo | scenario | server | top syscalls: calls/req (errors/req) |")
print("|---|---|---|---|")
for c in combos:
    sf, np_ = c.split(":")
    rows = data[c] or {}
    for sc in ("4", "5"):
        for srv in ("holdfast", "nginx"):
            r = rows.get(f"{sc}/{srv}")
            if not r:
                continue
            tops = ", ".join(
                f"{name} {cr:.2f}" + (f" ({e:.2f} err)" if e else "")
                for name, cr, e in r.get("strace_top", []) if cr is not None and cr >= 0.005)
            print(f"| sendfile {sf}, tcp_nopush {np_} | {sc} {NAMES[sc]} | {srv} | {tops} |")
PY

log "done in $(( $(date +%s) - START_TS )) s; results in $OUT"
if ((${#failed[@]})); then
    die "failed combinations: ${failed[*]}"
fi
