#!/usr/bin/env python3
"""A stand-in for holdfast's `connection_status` location, for testing the
page (src/http/connection_status.html) in a browser without the server.

    fake_status.py PORT SCENARIO [EXPECTED.json]

Serves the page for any GET without `format=json`, and a scripted JSON
answer (the shape of `?format=json`) with it. Scenarios:

  scripted  the connections of EXPECTED.json ({"state": ["peer", ...]}),
            plus the browser's own request (state `writing`);
  big       20,000 connections over every state (the page must list the
            first few per state and say "+N more");
  flaky     every other answer fails: a 500, then a truncated body
            (the page must show the error and keep polling);
  workers   `worker_processes 3`: the answer is worker K's for `?worker=K`
            (default 0);
  proxy:URL the page from this tree, the JSON from a running holdfast
            (URL + this request's query): a new page against a holdfast
            built with another, without rebuilding.

Loopback only; runs until killed. Logs nothing.
"""

import json
import os
import random
import sys
import time
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

PAGE = os.path.join(os.path.dirname(__file__), "..", "..", "src", "http", "connection_status.html")
STATES = ["wait_request", "ssl_handshake", "reading_request", "reading_body", "processing",
          "upstream", "writing", "discarding", "keepalive", "lingering", "upstream_idle",
          "upgraded"]
HANDLERS = {
    "wait_request": ("ngx_http_wait_request_handler", "ngx_http_empty_handler", "read", 60000),
    "ssl_handshake": ("ngx_ssl_handshake_handler", "ngx_ssl_handshake_handler", "read", 60000),
    "reading_request": ("ngx_http_process_request_headers", "ngx_http_empty_handler", "read", 60000),
    "reading_body": ("ngx_http_read_client_request_body_handler", "ngx_http_request_empty_handler", "read", 60000),
    "processing": ("ngx_http_block_reading", "ngx_http_request_empty_handler", None, 0),
    "upstream": ("ngx_http_upstream_handler", "ngx_http_upstream_handler", "read", 60000),
    "writing": ("ngx_http_block_reading", "ngx_http_writer", "write", 60000),
    "discarding": ("ngx_http_discarded_request_body_handler", "ngx_http_request_empty_handler", "read", 5000),
    "keepalive": ("ngx_http_keepalive_handler", "ngx_http_empty_handler", "read", 60000),
    "lingering": ("ngx_http_lingering_close_handler", "ngx_http_empty_handler", "read", 5000),
    "upstream_idle": ("ngx_http_upstream_keepalive_close_handler", "ngx_http_upstream_keepalive_dummy_handler", None, 0),
    "upgraded": ("ngx_http_upstream_upgraded_read_downstream_handler", "ngx_http_upstream_upgraded_write_downstream_handler", None, 0),
}
STARTED = time.monotonic()


def conn(n, state, peer, age_ms):
    read, write, event, timeout = HANDLERS[state]
    timer = None
    if event:
        timer = {"event": event, "fires_in_ms": max(0, timeout - age_ms)}
    return {"n": n, "fd": n + 4, "peer": peer, "kind": "upstream" if state == "upstream_idle" else "client",
            "read_handler": read, "write_handler": write, "action": state.replace("_", " "),
            "state": state, "requests": 1 if state in ("keepalive", "writing") else 0,
            "age_ms": age_ms, "idle_ms": age_ms if state in ("keepalive", "wait_request") else None,
            "timer": timer, "reusable": None, "pipelined": False, "bytes_in": 80, "bytes_out": 150,
            "tls": state == "ssl_handshake", "upstream": "127.0.0.1:9000" if state == "upstream" else None}


def answer(conns, workers=1, index=0, drains=0, wc=1024):
    # The reusable queue: idle connections, the longest idle first (position 0).
    idle = [c for c in conns if c["state"] in ("keepalive", "wait_request")]
    idle.sort(key=lambda c: -c["age_ms"])
    for pos, c in enumerate(idle):
        c["reusable"] = {"position": pos}
    used = len(conns) + 1
    return {"worker": {"pid": 4000 + index, "index": index, "workers": workers},
            "now_ms": int((time.monotonic() - STARTED) * 1000),
            "cycle": {"worker_connections": wc, "used": used, "free": max(0, wc - used),
                      "reusable": len(idle), "drains": drains, "posted": 0,
                      "timers": {"total": sum(1 for c in conns if c["timer"]), "levels": [len(conns), 0, 0, 0]},
                      "accepts": len(conns) + 10, "handled": len(conns) + 10, "requests": len(conns) + 20,
                      "reading": sum(c["state"] == "reading_request" for c in conns),
                      "writing": 1, "waiting": len(idle)},
            "connections": conns, "shown": len(conns), "total": len(conns)}


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    polls = 0

    def log_message(self, *args):
        pass

    def send(self, status, ctype, body, length=None):
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body) if length is None else length))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        url = urlsplit(self.path)
        q = parse_qs(url.query)
        if q.get("format") != ["json"]:
            with open(PAGE, "rb") as f:
                return self.send(200, "text/html; charset=utf-8", f.read())
        Handler.polls += 1
        elapsed = int((time.monotonic() - STARTED) * 1000)
        peer = "%s:%d" % self.client_address[:2]
        scenario = self.server.scenario
        if scenario.startswith("proxy:"):
            try:
                with urllib.request.urlopen(scenario[6:] + "?" + url.query, timeout=5) as r:
                    return self.send(r.status, r.headers.get("Content-Type", ""), r.read())
            except urllib.error.HTTPError as e:
                return self.send(e.code, "text/plain", e.read())
            except OSError as e:
                return self.send(502, "text/plain", str(e).encode())
        if scenario == "scripted":
            conns, n = [], 1
            for state, peers in sorted(self.server.expected.items()):
                for p in peers:
                    conns.append(conn(n, state, p, 2000 + elapsed + 100 * n))
                    n += 1
            conns.append(conn(n, "writing", peer, 0))
            body = answer(conns)
        elif scenario == "big":
            rnd = random.Random(7)
            conns = [conn(n, rnd.choice(STATES), "127.0.0.%d:%d" % (2 + n // 60000, 1024 + n % 60000),
                          rnd.randrange(60000)) for n in range(1, 20001)]
            body = answer(conns, drains=Handler.polls, wc=20480)
        elif scenario == "flaky":
            if Handler.polls % 2 == 0:
                if Handler.polls % 4 == 0:
                    return self.send(500, "text/plain", b"fake failure\n")
                # Content-Length promises more than is sent: the body ends early.
                data = json.dumps(answer([conn(1, "keepalive", peer, 10)])).encode()
                self.send(200, "application/json", data[: len(data) // 2], length=len(data))
                self.close_connection = True
                return
            body = answer([conn(1, "keepalive", "127.0.0.2:40000", 10), conn(2, "writing", peer, 0)])
        elif scenario == "workers":
            k = int((q.get("worker") or ["0"])[0])
            if not 0 <= k < 3:
                return self.send(400, "text/plain", b"no such worker\n")
            body = answer([conn(1, "keepalive", "127.0.0.2:%d" % (40000 + k), 10),
                           conn(2, "writing", peer, 0)], workers=3, index=k)
            body["worker"].update(asked=k, answered=True)
        else:
            return self.send(500, "text/plain", b"unknown scenario\n")
        self.send(200, "application/json", json.dumps(body).encode())


def main():
    port, scenario = int(sys.argv[1]), sys.argv[2]
    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    server.daemon_threads = True
    server.scenario = scenario
    server.expected = {}
    if len(sys.argv) > 3:
        with open(sys.argv[3]) as f:
            server.expected = json.load(f)
    server.serve_forever()


if __name__ == "__main__":
    main()
