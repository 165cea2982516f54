#!/usr/bin/env bash
# holdfast vs nginx serving static files with `sendfile` and `tcp_nopush`
# switched, side by side: scripts/bench.sh's scenarios 4 and 5 once per
# combination, documented in docs/performance.md ("sendfile and tcp_nopush").
#
#   scripts/bench-sendfile.sh                   # 3 combinations, ~10-15 minutes
#   RUNS=3 SECS=3 scripts/bench-sendfile.sh     # shorter
#   COMBOS="off:off on:on" scripts/bench-sendfile.sh   # a subset
#   NODELAY=1 scripts/bench-sendfile.sh         # + the tcp_nodelay part (~6 more minutes)
#   NODELAY=only scripts/bench-sendfile.sh      # the tcp_nodelay part alone
#
# Builds holdfast once (honours CARGO_TARGET_DIR, default target/; or takes the
# binary HOLDFAST_BIN names, without building) and keeps a copy of the binary
# in the output dir, so every combination measures the same build even when
# the tree changes meanwhile. Then, for each combination
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
# The tcp_nodelay part (NODELAY=1 or only; docs/performance.md, "tcp_nodelay"):
# for each TCP_NODELAY value of NODELAY_COMBOS (default "on off"), runs
#   TCP_NODELAY=.. SENDFILE=on TCP_NOPUSH=off SCENARIOS="1 4" RSS=0 TIMERS=0 scripts/bench.sh
#   1 keep-alive     GET /plaintext, 50 connections
#   4 static 1 KiB   GET /1k.bin, keep-alive, 50 connections
# into BENCH_OUT subdir nodelay-V, and prints the same table for those (also
# appended to OUT/combined.md). Both servers set TCP_NODELAY once per
# connection, when it first goes keep-alive.
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
NODELAY=${NODELAY:-0}                      # 0 | 1 | only: the tcp_nodelay part
NODELAY_COMBOS=${NODELAY_COMBOS:-"on off"} # TCP_NODELAY values of that part
COMBO_TIMEOUT=${COMBO_TIMEOUT:-1500}       # seconds per bench.sh run
export RUNS=${RUNS:-5}
export SECS=${SECS:-5}

log() { printf '[bench-sendfile %4ss] %s\n' "$(( $(date +%s) - START_TS ))" "$*" >&2; }
die() { log "error: $*"; exit 1; }

case $NODELAY in 0|1|only) ;; *) die "NODELAY must be 0, 1 or only" ;; esac
[ "$NODELAY" != only ] || COMBOS=""
for combo in $COMBOS; do
    case $combo in on:on|on:off|off:on|off:off) ;; *) die "bad combination '$combo' (SENDFILE:TCP_NOPUSH, each on|off)" ;; esac
done
[ "$NODELAY" != 0 ] || NODELAY_COMBOS=""
for nd in $NODELAY_COMBOS; do
    case $nd in on|off) ;; *) die "bad NODELAY_COMBOS value '$nd' (on|off)" ;; esac
done

# ---------------------------------------------------------------- build once
TARGET_DIR=${CARGO_TARGET_DIR:-target}
case $TARGET_DIR in /*) ;; *) TARGET_DIR=$ROOT/$TARGET_DIR ;; esac
OUT=${BENCH_OUT:-$TARGET_DIR/bench/sendfile-$(date -u +%Y%m%dT%H%M%SZ)}
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
if [ -n "${HOLDFAST_BIN:-}" ]; then
    [ -x "$HOLDFAST_BIN" ] || die "HOLDFAST_BIN=$HOLDFAST_BIN is not an executable"
    log "using $HOLDFAST_BIN (no build)"
    cp "$HOLDFAST_BIN" "$OUT/holdfast"
else
    log "cargo build --release (target dir $TARGET_DIR)"
    cargo build --release -q
    [ -x "$TARGET_DIR/release/holdfast" ] || die "no $TARGET_DIR/release/holdfast"
    cp "$TARGET_DIR/release/holdfast" "$OUT/holdfast"
fi
: > "$OUT/combined.md"
{
    echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
    echo "command: RUNS=$RUNS SECS=$SECS COMBOS=\"$COMBOS\" NODELAY=$NODELAY NODELAY_COMBOS=\"$NODELAY_COMBOS\" scripts/bench-sendfile.sh"
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
         TCP_NODELAY=on HOLDFAST_BIN=$OUT/holdfast \
         BENCH_CMD="SENDFILE=$sf TCP_NOPUSH=$np SCENARIOS=\"4 5\" RSS=0 TIMERS=0 RUNS=$RUNS SECS=$SECS scripts/bench.sh" \
         timeout -k 30 "$COMBO_TIMEOUT" scripts/bench.sh > "$OUT/bench-${sf}_nopush-${np}.log" 2>&1; then
        log "  failed (see $OUT/bench-${sf}_nopush-${np}.log): $(tail -1 "$OUT/bench-${sf}_nopush-${np}.log")"
        failed+=("$combo")
    fi
done
for nd in $NODELAY_COMBOS; do
    sub=$OUT/nodelay-$nd
    log "tcp_nodelay $nd (sendfile on, tcp_nopush off) -> $sub"
    if ! TCP_NODELAY=$nd SENDFILE=on TCP_NOPUSH=off SCENARIOS="1 4" RSS=0 TIMERS=0 BENCH_OUT=$sub \
         HOLDFAST_BIN=$OUT/holdfast \
         BENCH_CMD="TCP_NODELAY=$nd SENDFILE=on TCP_NOPUSH=off SCENARIOS=\"1 4\" RSS=0 TIMERS=0 RUNS=$RUNS SECS=$SECS scripts/bench.sh" \
         timeout -k 30 "$COMBO_TIMEOUT" scripts/bench.sh > "$OUT/bench-nodelay-$nd.log" 2>&1; then
        log "  failed (see $OUT/bench-nodelay-$nd.log): $(tail -1 "$OUT/bench-nodelay-$nd.log")"
        failed+=("nodelay:$nd")
    fi
done

# ---------------------------------------------------------------- combined tables
# table TITLE "SCENARIOS" LABEL=SUBDIR... : one markdown table from the
# summary.json of each OUT/SUBDIR, appended to OUT/combined.md.
table() {
python3 - "$OUT" "$@" <<'PY' | tee -a "$OUT/combined.md"
import json, os, sys

out, title, scenarios, combos = sys.argv[1], sys.argv[2], sys.argv[3].split(), sys.argv[4:]
combos = [tuple(c.split("=", 1)) for c in combos]   # (label, subdir)
NAMES = {"1": "keep-alive", "2": "pipelined", "3": "short", "4": "static 1 KiB",
         "5": "static 1 MiB", "6": "idle+busy"}


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
for label, sub in combos:
    p = os.path.join(out, sub, "summary.json")
    try:
        j = json.load(open(p))
        data[label] = j["rows"]
        machine = machine or j.get("machine", {})
    except (OSError, ValueError, KeyError):
        data[label] = None

print(f"## {title} ({machine.get('runs', '')}; medians)")
print()
print("| combo | scenario | server | CPU µs/req | req/s | syscalls/req | p99 | note |")
print("|---|---|---|--:|--:|--:|--:|---|")
for label, _ in combos:
    rows = data[label]
    if rows is None:
        print(f"| {label} | - | - | - | - | - | - | no summary.json (run failed) |")
        continue
    for sc in scenarios:
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
for label, _ in combos:
    rows = data[label] or {}
    for sc in scenarios:
        for srv in ("holdfast", "nginx"):
            r = rows.get(f"{sc}/{srv}")
            if not r:
                continue
            tops = ", ".join(
                f"{name} {cr:.2f}" + (f" ({e:.2f} err)" if e else "")
                for name, cr, e in r.get("strace_top", []) if cr is not None and cr >= 0.005)
            print(f"| {label} | {sc} {NAMES[sc]} | {srv} | {tops} |")
print()
PY
}

if [ -n "$COMBOS" ]; then
    args=()
    for combo in $COMBOS; do
        sf=${combo%%:*} np=${combo##*:}
        args+=("sendfile $sf, tcp_nopush $np=sendfile-${sf}_nopush-${np}")
    done
    table "sendfile / tcp_nopush" "4 5" "${args[@]}"
fi
if [ -n "$NODELAY_COMBOS" ]; then
    args=()
    for nd in $NODELAY_COMBOS; do
        args+=("tcp_nodelay $nd=nodelay-$nd")
    done
    table "tcp_nodelay (sendfile on, tcp_nopush off)" "1 4" "${args[@]}"
fi

log "done in $(( $(date +%s) - START_TS )) s; results in $OUT"
if ((${#failed[@]})); then
    die "failed combinations: ${failed[*]}"
fi
