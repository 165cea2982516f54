#!/usr/bin/env bash
# Runs each cargo-fuzz target of fuzz/ for SECONDS (default 600) and prints,
# per target, the executions, executions per second, new corpus entries and
# findings (crashers written to fuzz/artifacts/<target>/).
#
#   scripts/fuzz.sh [SECONDS]
#
# Environment:
#   FUZZ_TARGETS    targets to run (default: "http_connection chunked config tls_handshake")
#   FUZZ_SANITIZER  none (default) or address
#   FUZZ_ARGS       extra libFuzzer arguments (e.g. "-seed=1 -jobs=2")
#
# Toolchain: this machine has only the stable toolchain, and cargo-fuzz is
# meant for nightly. Without a sanitizer (`--sanitizer none`, the default
# here) cargo-fuzz passes only stable flags (-Cpasses=sancov-module,
# -Cllvm-args=-sanitizer-coverage-*, -Cdebug-assertions), so the targets
# build on stable as they are. AddressSanitizer needs `-Zsanitizer=address`,
# a nightly-only flag: with FUZZ_SANITIZER=address this script sets
# RUSTC_BOOTSTRAP=1, which lets the stable compiler accept it (the ASan
# runtime ships with stable's rust-std). The targets are safe Rust, so ASan
# finds little more than the panics, overflow checks and debug assertions
# that are on in both modes, and it runs about 2x slower.
#
# Corpora: the seeds in fuzz/corpus/<target>/ are committed and stay small;
# what libFuzzer adds goes to fuzz/work/corpus/<target>/ (ignored by git).
# A crasher is replayed with
#   cargo fuzz run --sanitizer none <target> fuzz/artifacts/<target>/<file>
# and becomes a test in tests/fuzz_regressions.rs (then the file is deleted).
set -euo pipefail
cd "$(dirname "$0")/.."

secs="${1:-600}"
if ! [[ "$secs" =~ ^[0-9]+$ ]] || [ "$secs" -lt 1 ]; then
    echo "usage: $0 [SECONDS]" >&2
    exit 2
fi
targets="${FUZZ_TARGETS:-http_connection chunked config tls_handshake}"
sanitizer="${FUZZ_SANITIZER:-none}"
read -r -a extra <<<"${FUZZ_ARGS:-}"

if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "== installing cargo-fuzz"
    cargo install cargo-fuzz --locked
fi
if [ "$sanitizer" != none ]; then
    export RUSTC_BOOTSTRAP=1
fi

echo "== building fuzz targets (sanitizer: $sanitizer)"
cargo fuzz build --sanitizer "$sanitizer"

# The value of one of libFuzzer's final `stat::NAME: VALUE` lines, or nothing.
stat_of() {
    grep -o "$1: *[0-9]*" "$2" | grep -o '[0-9]*$' | tail -1 || true
}

declare -A max_len=([http_connection]=8192 [chunked]=4096 [config]=8192)
mkdir -p fuzz/work/logs
summary=()
found=0
for t in $targets; do
    mkdir -p "fuzz/work/corpus/$t" "fuzz/artifacts/$t"
    before=$(find "fuzz/artifacts/$t" -type f | sort)
    args=(
        -max_total_time="$secs"
        -timeout=10
        -rss_limit_mb=4096
        -max_len="${max_len[$t]:-4096}"
        -print_final_stats=1
    )
    if [ -f "fuzz/dict/$t.dict" ]; then
        args+=(-dict="fuzz/dict/$t.dict")
    fi
    log="fuzz/work/logs/$t.log"
    echo "== $t: ${secs}s (log: $log)"
    set +e
    cargo fuzz run --sanitizer "$sanitizer" "$t" \
        "fuzz/work/corpus/$t" "fuzz/corpus/$t" -- "${args[@]}" "${extra[@]}" >"$log" 2>&1
    rc=$?
    set -e
    # (-fork mode prints no final stats: the last status line counts then)
    execs=$(stat_of 'stat::number_of_executed_units' "$log")
    execs=${execs:-$(grep -oE '^#[0-9]+' "$log" | tail -1 | tr -d '#' || true)}
    rate=$(stat_of 'stat::average_exec_per_sec' "$log")
    units=$(stat_of 'stat::new_units_added' "$log")
    cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1 | grep -o '[0-9]*' || true)
    new=$(comm -13 <(echo "$before") <(find "fuzz/artifacts/$t" -type f | sort) | sed '/^$/d')
    if [ -n "$new" ] || [ "$rc" -ne 0 ]; then
        found=1
        grep -m1 -A2 -E "panicked at|ERROR: libFuzzer|ERROR: AddressSanitizer" "$log" | cut -c1-300 | sed 's/^/    /' || true
        if [ -n "$new" ]; then
            status="FINDINGS (exit $rc): $(grep -c . <<<"$new") crasher(s), e.g. $(head -1 <<<"$new")"
        else
            status="FINDINGS (exit $rc): see $log"
        fi
    else
        status="no findings"
    fi
    line="$t: ${execs:-?} executions in ${secs}s, ${rate:-?} exec/s, cov ${cov:-?}, ${units:-?} new corpus units; $status"
    echo "$line"
    summary+=("$line")
done

echo
echo "== summary"
printf '%s\n' "${summary[@]}"
exit "$found"
