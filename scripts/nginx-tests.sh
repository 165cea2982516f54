#!/usr/bin/env bash
# Runs files of nginx's own test suite (nginx/nginx-tests, Perl, Test::Nginx)
# against holdfast, unmodified, and prints `FILE ok/planned` per file and a
# total. The yardstick of docs/nginx-tests.md.
#
#   scripts/nginx-tests.sh NGINX_TESTS_DIR [FILE.t ...]
#   BINARY=/usr/sbin/nginx scripts/nginx-tests.sh DIR FILE.t   # the same files on nginx
#   VERBOSE=1 scripts/nginx-tests.sh DIR http_host.t           # prove -v output too
#
# The suite is not vendored: fetch nginx/nginx-tests yourself. Without FILE
# arguments the files of docs/nginx-tests.md's table are run. BINARY defaults
# to target/release/holdfast (built first). As root, prove runs as `nobody`
# (the suite expects an unprivileged user); the suite's directory and the
# binary must be readable by it. Installs prove's Perl modules (libio-socket-
# ssl-perl for the ssl files) when apt-get is there and they are missing.
#
# Counting: a subtest counts as passed only when prove reports `ok` and it is
# not a skip; a file that skips itself (prove's `skipped: REASON`) passes
# nothing and is shown as `skipped (REASON)`; one that dies before printing
# its plan is shown as such. TODO subtests that pass are counted and shown.
set -uo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

if [ $# -lt 1 ] || [ ! -f "$1/lib/Test/Nginx.pm" ]; then
    echo "usage: $0 NGINX_TESTS_DIR [FILE.t ...]" >&2
    exit 2
fi
TESTS=$(cd "$1" && pwd)
shift

DEFAULT_FILES=(
    http_keepalive.t access_log_variables.t http_uri.t http_method.t http_host.t
    http_header_buffers.t stub_status.t
)
if [ $# -gt 0 ]; then FILES=("$@"); else FILES=("${DEFAULT_FILES[@]}"); fi

if [ -z "${BINARY:-}" ]; then
    cargo build --release --quiet --bin holdfast || exit 1
    BINARY=$ROOT/target/release/holdfast
fi
case $BINARY in /*) ;; *) BINARY=$ROOT/$BINARY ;; esac

if ! perl -MIO::Socket::SSL -e1 2>/dev/null && command -v apt-get >/dev/null; then
    apt-get install -y -qq libio-socket-ssl-perl >/dev/null 2>&1 || true
fi

run_as=()
if [ "$(id -u)" = 0 ]; then run_as=(runuser -u nobody --); fi

total_ok=0 total_planned=0 total_todo=0
printf '%-34s %s\n' FILE "ok/planned"
for f in "${FILES[@]}"; do
    out=$(cd "$TESTS" && timeout 600 "${run_as[@]}" env TEST_NGINX_BINARY="$BINARY" \
        ${TEST_NGINX_MODULES:+TEST_NGINX_MODULES=$TEST_NGINX_MODULES} \
        prove -v "$f" 2>&1)
    [ -n "${VERBOSE:-}" ] && printf '%s\n' "$out"
    # prove -v reports a skip_all as `FILE .. skipped: REASON`.
    skip=$(printf '%s\n' "$out" | sed -n 's/^.*\.\. *skipped: *//p' | head -1)
    if [ -n "$skip" ]; then
        printf '%-34s skipped (%s)\n' "$f" "$skip"
        continue
    fi
    plan=$(printf '%s\n' "$out" | grep -m1 -E '^1\.\.[0-9]+' || true)
    if [ -z "$plan" ]; then
        printf '%-34s died before its plan\n' "$f"
        continue
    fi
    planned=${plan#1..}
    planned=${planned%% *}
    [ -z "$planned" ] && planned=0
    ok=$(printf '%s\n' "$out" | grep -E '^ok [0-9]+' | grep -viE '# *skip' | wc -l)
    todo=$(printf '%s\n' "$out" | grep -E '^ok [0-9]+' | grep -ciE '# *TODO' || true)
    note=""
    [ "$todo" -gt 0 ] && note=" ($todo TODO passed)"
    printf '%-34s %s/%s%s\n' "$f" "$ok" "$planned" "$note"
    total_ok=$((total_ok + ok))
    total_planned=$((total_planned + planned))
    total_todo=$((total_todo + todo))
done
printf '%-34s %s/%s\n' TOTAL "$total_ok" "$total_planned"
