#!/usr/bin/env python3
"""Connections in known states, for scripts/inspector-browser-test.sh.

    clients.py scripted PORT OUT.json [--src IP] [--keepalive N] [--silent N]
               [--partial N] [--secs S]
        opens, from IP (default 127.0.0.2): N connections that send one
        request, read the whole response and stay open (keep-alive idle);
        N that send nothing (wait request); N that send part of a request
        header and stop. Writes OUT.json ({"state": ["ip:port", ...]}, the
        states the server should report) once all are in place, then holds
        them S seconds (default 60) or until killed.

    clients.py churn PORT [--src IP] [--fill N] [--rate R] [--secs S]
        opens N keep-alive connections (one request each, then idle), then R
        more a second for S seconds, each also left idle. With
        worker_connections small, the server drains the oldest idle ones;
        prints how many connections the server closed.

Loopback only; every wait is bounded. Exit status 1 if a connection fails
before it is in its state.
"""

import argparse
import asyncio
import json
import os
import sys

REQUEST = b"GET / HTTP/1.1\r\nHost: inspector\r\n\r\n"
PARTIAL = b"GET / HTTP/1.1\r\nHost: insp"
TIMEOUT = 5


async def open_conn(port, src):
    return await asyncio.wait_for(
        asyncio.open_connection("127.0.0.1", port, local_addr=(src, 0)), TIMEOUT)


async def read_response(reader):
    """Reads one response with a Content-Length body; returns its status line."""
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), TIMEOUT)
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value.strip())
    if length:
        await asyncio.wait_for(reader.readexactly(length), TIMEOUT)
    return head.split(b"\r\n", 1)[0]


def peer_of(writer):
    host, port = writer.get_extra_info("sockname")[:2]
    return "%s:%d" % (host, port)


async def keepalive_conn(port, src):
    reader, writer = await open_conn(port, src)
    writer.write(REQUEST)
    await writer.drain()
    status = await read_response(reader)
    if not status.startswith(b"HTTP/1.1 200"):
        raise RuntimeError("unexpected answer %r" % status)
    return reader, writer


async def scripted(a):
    held, states = [], {"keepalive": [], "wait_request": [], "reading_request": []}
    for _ in range(a.keepalive):
        r, w = await keepalive_conn(a.port, a.src)
        held.append(w)
        states["keepalive"].append(peer_of(w))
    for _ in range(a.silent):
        r, w = await open_conn(a.port, a.src)
        held.append(w)
        states["wait_request"].append(peer_of(w))
    for _ in range(a.partial):
        r, w = await open_conn(a.port, a.src)
        w.write(PARTIAL)
        await w.drain()
        held.append(w)
        states["reading_request"].append(peer_of(w))
    # A moment for the server to read the partial headers.
    await asyncio.sleep(0.2)
    with open(a.out + ".tmp", "w") as f:
        json.dump({k: v for k, v in states.items() if v}, f)
    os.replace(a.out + ".tmp", a.out)
    await asyncio.sleep(a.secs)
    for w in held:
        w.close()


async def churn(a):
    closed = 0
    opened = 0
    failed = 0

    async def one():
        nonlocal closed, opened, failed
        try:
            reader, writer = await keepalive_conn(a.port, a.src)
        except (OSError, asyncio.TimeoutError, asyncio.IncompleteReadError, RuntimeError):
            failed += 1
            return
        opened += 1
        try:
            # Idle until the server closes it (a drain) or the run ends.
            if await reader.read(1) == b"":
                closed += 1
        except OSError:
            closed += 1
        finally:
            writer.close()

    tasks = [asyncio.ensure_future(one()) for _ in range(a.fill)]
    await asyncio.sleep(0.5)
    loop = asyncio.get_running_loop()
    end = loop.time() + a.secs
    while loop.time() < end:
        tasks.append(asyncio.ensure_future(one()))
        await asyncio.sleep(1 / a.rate)
    print("churn: %d opened, %d failed, %d closed by the server" % (opened, failed, closed), flush=True)
    for t in tasks:
        t.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


def main():
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="mode", required=True)
    s = sub.add_parser("scripted")
    s.add_argument("port", type=int)
    s.add_argument("out")
    s.add_argument("--src", default="127.0.0.2")
    s.add_argument("--keepalive", type=int, default=3)
    s.add_argument("--silent", type=int, default=2)
    s.add_argument("--partial", type=int, default=1)
    s.add_argument("--secs", type=float, default=60)
    c = sub.add_parser("churn")
    c.add_argument("port", type=int)
    c.add_argument("--src", default="127.0.0.3")
    c.add_argument("--fill", type=int, default=56)
    c.add_argument("--rate", type=float, default=20)
    c.add_argument("--secs", type=float, default=20)
    a = p.parse_args()
    try:
        asyncio.run(scripted(a) if a.mode == "scripted" else churn(a))
    except (OSError, asyncio.TimeoutError, asyncio.IncompleteReadError, RuntimeError) as e:
        print("clients.py %s: %s" % (a.mode, e or type(e).__name__), file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
