#!/usr/bin/env bash
# The connection inspector's page (src/http/connection_status.html, served by
# `connection_status;` without `format=`) in a real headless browser
# (Debian's chromium, installed with apt-get when missing):
#
#   1. holdfast (target/debug/holdfast, or $HOLDFAST_BIN) on a free loopback
#      port with `location /status { connection_status; }`,
#      `location / { return 200 ok; }` and keepalive_timeout 60s;
#      scripts/inspector/clients.py opens, from 127.0.0.2, 3 connections left
#      idle after a request (keepalive), 2 that send nothing (wait_request)
#      and 1 that sends half a header (reading_request). chromium loads
#      /status and dumps the DOM after a few polls; scripts/inspector/check_dom.py
#      checks that each scripted connection is shown in its state's box, the
#      counts, and that the page recorded no error (window.onerror, unhandled
#      rejections, console.error) and chromium logged no console message;
#   2. the drain demo: holdfast with worker_connections 64, filled with idle
#      keep-alive connections and more arriving (clients.py churn), so that
#      ngx_drain_connections-style drains run; the page must show drains and
#      the queue's victims, and a screenshot of it (1400x1000) goes to
#      docs/connection-inspector.png (SHOT=path to put it elsewhere, SHOT=
#      for none).
#
# PAGE=tree serves the page from this tree's src/http/connection_status.html
# through scripts/inspector/fake_status.py (the JSON still from holdfast):
# a changed page checked against a holdfast built before the change.
#
# FAKE=1 runs the page against scripts/inspector/fake_status.py (a Python
# stand-in serving the page and scripted JSON) instead of holdfast, in four
# scenarios: the scripted connections above, 20,000 connections, failing
# polls, and three workers (`?worker=K`). Its screenshot goes to
# $tmp/fake.png unless SHOT is set.
#
# Exits 1 on a failed check; prints "SKIP: ..." and exits 0 only when chromium
# is absent and cannot be installed. Loopback only; every wait is bounded and
# the processes started are stopped at exit. Honours CARGO_TARGET_DIR.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/limits/common.sh

FAKE=${FAKE:-0}
PAGE=${PAGE:-holdfast}
HOLDFAST_BIN=${HOLDFAST_BIN:-${CARGO_TARGET_DIR:-target}/debug/holdfast}
CHROMIUM=${CHROMIUM:-chromium}

tmp=$(mktemp -d)
trap 'kill_started; rm -rf "$tmp"' EXIT
fails=0

# install_chromium: chromium on PATH, from apt-get if missing (as root, or
# through sudo without a password); SKIP otherwise.
install_chromium() {
    command -v "$CHROMIUM" >/dev/null 2>&1 && return 0
    local sudo=""
    [ "$(id -u)" = 0 ] || sudo="sudo -n"
    echo "== installing chromium (apt-get install --no-install-recommends chromium)"
    if command -v apt-get >/dev/null 2>&1; then
        export DEBIAN_FRONTEND=noninteractive
        $sudo apt-get install -y -q --no-install-recommends chromium >"$tmp/apt.log" 2>&1 ||
            { $sudo apt-get update -q >>"$tmp/apt.log" 2>&1 &&
              $sudo apt-get install -y -q --no-install-recommends chromium >>"$tmp/apt.log" 2>&1; } || true
    fi
    if ! command -v "$CHROMIUM" >/dev/null 2>&1; then
        echo "SKIP: chromium is not installed and apt-get could not install it:"
        tail -3 "$tmp/apt.log" 2>/dev/null | sed 's/^/    /'
        exit 0
    fi
}

# browse URL OUT BUDGET_MS [--screenshot=FILE]: chromium loads URL, runs it
# for BUDGET_MS of virtual time (the page's timers; network fetches are
# real) and writes the DOM to OUT (with --screenshot, the image instead);
# its log goes to OUT.log.
browse() {
    local url=$1 out=$2 budget=$3
    shift 3
    local what=(--dump-dom)
    [ $# -gt 0 ] && what=("$@" --window-size=1400,1000 --hide-scrollbars)
    timeout 90 "$CHROMIUM" --headless=new --disable-gpu --no-sandbox \
        --enable-logging=stderr --v=0 --user-data-dir="$tmp/profile.$RANDOM" \
        --no-first-run --disable-extensions --disable-background-networking \
        --virtual-time-budget="$budget" "${what[@]}" "$url" >"$out" 2>"$out.log" || {
        echo "    FAIL chromium exited $? on $url:"; tail -5 "$out.log" | sed 's/^/      /'
        fails=$((fails + 1)); return 1; }
}

# check OUT CHECK [EXPECTED] [ALLOWED]: check_dom.py on the dumped DOM, and
# no console message in chromium's log but those matching ALLOWED.
check() {
    local out=$1 what=$2 expected=${3:-} allowed=${4:-}
    python3 scripts/inspector/check_dom.py "$out" "$what" $expected || fails=$((fails + 1))
    local console
    console=$(grep ':CONSOLE' "$out.log" | { [ -n "$allowed" ] && grep -Ev "$allowed" || cat; } || true)
    if [ -n "$console" ]; then
        echo "    FAIL console messages in chromium's log:"; printf '%s\n' "$console" | head -5 | sed 's/^/      /'
        fails=$((fails + 1))
    else
        echo "    ok   no console message in chromium's log"
    fi
}

# wait_file FILE: until FILE exists, at most 10 s.
wait_file() {
    for _ in $(seq 100); do [ -s "$1" ] && return 0; sleep 0.1; done
    echo "    FAIL $1 never appeared"; return 1
}

# json_field URL EXPR: a field of the JSON answer at URL (python expression on d).
json_field() {
    curl -fs --max-time 2 "$1" | python3 -c "import json, sys; d = json.load(sys.stdin); print($2)" 2>/dev/null
}

# start_holdfast NAME PORT WORKER_CONNECTIONS: holdfast in $tmp/NAME.
start_holdfast() {
    local d=$tmp/$1
    mkdir -p "$d/conf" "$d/logs"
    cat >"$d/conf/holdfast.conf" <<CONF
error_log $d/logs/error.log info;
events { worker_connections $3; }
http {
    access_log off;
    keepalive_timeout 60s;
    server {
        listen 127.0.0.1:$2;
        location /status { connection_status; }
        location / { return 200 ok; }
    }
}
CONF
    if ! "$HOLDFAST_BIN" -p "$d" -c "$d/conf/holdfast.conf" -t >"$d/test.log" 2>&1; then
        echo "FAIL: $HOLDFAST_BIN refuses the configuration (no connection_status handler in this build?):"
        sed 's/^/    /' "$d/test.log"
        exit 1
    fi
    "$HOLDFAST_BIN" -p "$d" -c "$d/conf/holdfast.conf" 2>>"$d/logs/stderr.log" &
    STARTED_PIDS+=($!)
    wait_http "http://127.0.0.1:$2/" || { cat "$d/logs/error.log"; exit 1; }
}

# page_url PORT: sets URL to the page for holdfast on PORT: holdfast's own,
# or (PAGE=tree) a fake_status.py relaying holdfast's JSON, on port PORT+100.
page_url() {
    URL=http://127.0.0.1:$1/status
    if [ "$PAGE" = tree ]; then
        local p
        p=$(pick_port $(($1 + 100)))
        python3 scripts/inspector/fake_status.py "$p" "proxy:$URL" &
        STARTED_PIDS+=($!)
        URL=http://127.0.0.1:$p/status
        wait_http "$URL"
    fi
}

install_chromium
echo "== $("$CHROMIUM" --version 2>/dev/null | head -1)"

if [ "$FAKE" = 1 ]; then
    PORT=$(pick_port 28930)
    url=http://127.0.0.1:$PORT/status
    cat >"$tmp/expected.json" <<'JSON'
{"keepalive": ["127.0.0.2:40001", "127.0.0.2:40002", "127.0.0.2:40003"],
 "wait_request": ["127.0.0.2:40004", "127.0.0.2:40005"],
 "reading_request": ["127.0.0.2:40006"]}
JSON
    for scenario in scripted big flaky workers; do
        python3 scripts/inspector/fake_status.py "$PORT" "$scenario" "$tmp/expected.json" &
        fake=$!
        STARTED_PIDS+=($fake)
        wait_http "$url"
        echo "== [fake] $scenario"
        case $scenario in
            scripted) browse "$url#rows=50" "$tmp/$scenario.html" 4000 &&
                          check "$tmp/$scenario.html" states "$tmp/expected.json"
                      browse "$url" "$tmp/fake-shot.out" 6000 --screenshot="$(realpath -m "${SHOT:-$tmp/fake.png}")" || true;;
            big)      browse "$url" "$tmp/$scenario.html" 3000 && check "$tmp/$scenario.html" big;;
            flaky)    browse "$url" "$tmp/$scenario.html" 6000 &&
                          check "$tmp/$scenario.html" flaky "" 'Failed to load resource';;
            workers)  browse "$url" "$tmp/w0.html" 2000 && check "$tmp/w0.html" workers:0
                      browse "$url?worker=2" "$tmp/w2.html" 2000 && check "$tmp/w2.html" workers:2;;
        esac
        kill "$fake" 2>/dev/null || true
        wait "$fake" 2>/dev/null || true
    done
else
    [ -x "$HOLDFAST_BIN" ] || { echo "FAIL: no $HOLDFAST_BIN (cargo build, or set HOLDFAST_BIN)"; exit 1; }

    echo "== [holdfast] the scripted connections"
    PORT=$(pick_port 28930)
    start_holdfast states "$PORT" 256
    python3 scripts/inspector/clients.py scripted "$PORT" "$tmp/expected.json" --secs 60 &
    STARTED_PIDS+=($!)
    wait_file "$tmp/expected.json" || exit 1
    echo "    scripted: $(cat "$tmp/expected.json")"
    page_url "$PORT"
    browse "$URL#rows=50" "$tmp/states.html" 4000 &&
        check "$tmp/states.html" states "$tmp/expected.json"

    echo "== [holdfast] the drain demo: worker_connections 64, idle connections filling it, more arriving"
    DPORT=$(pick_port $((PORT + 1)))
    start_holdfast drain "$DPORT" 64
    page_url "$DPORT"
    durl=$URL
    python3 scripts/inspector/clients.py scripted "$DPORT" "$tmp/drain-expected.json" \
        --keepalive 2 --silent 2 --partial 1 --secs 60 &
    STARTED_PIDS+=($!)
    wait_file "$tmp/drain-expected.json" || exit 1
    python3 scripts/inspector/clients.py churn "$DPORT" --fill 52 --rate 100 --secs 20 &
    STARTED_PIDS+=($!)
    drains=0
    for _ in $(seq 100); do
        drains=$(json_field "http://127.0.0.1:$DPORT/status?format=json" 'd["cycle"]["drains"]' || echo 0)
        [ "${drains:-0}" -gt 0 ] && break
        sleep 0.1
    done
    echo "    drains before the browser: ${drains:-0}"
    browse "$durl" "$tmp/drain.html" 15000 &&
        check "$tmp/drain.html" drain "" 'Failed to load resource'
    if [ -n "${SHOT-docs/connection-inspector.png}" ]; then
        shot=${SHOT:-docs/connection-inspector.png}
        browse "$durl" "$tmp/shot.out" 20000 --screenshot="$(realpath -m "$shot")" &&
            echo "    screenshot: $shot ($(stat -c %s "$shot") bytes)"
    fi
    grep -c 'reusing connections' "$tmp/drain/logs/error.log" | sed 's/^/    error log: /; s/$/ "reusing connections" warnings/' || true
fi

if [ "$fails" -gt 0 ]; then
    echo "== FAIL: $fails failed checks"
    exit 1
fi
echo "== all checks passed"
