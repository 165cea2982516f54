#!/usr/bin/env python3
"""Holds N idle TLS keep-alive connections to 127.0.0.1:PORT (docs/tls.md).

Each connection completes a handshake (certificate not verified), sends one
request and reads its answer, then stays open until a line arrives on stdin
or 200 s pass. Prints "held N" once all are open, so a caller can read the
server's VmRSS before and after:

    python3 scripts/bench/tls_idle_conns.py PORT 5000 < fifo

Loopback only; bounded in count and time.
"""
import resource
import select
import socket
import ssl
import sys
import time

resource.setrlimit(resource.RLIMIT_NOFILE, (20000, 20000))
port, n = int(sys.argv[1]), int(sys.argv[2])
ctx = ssl.create_default_context()
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE
conns = []
deadline = time.time() + 120
for _ in range(min(n, 19000)):
    if time.time() > deadline:
        break
    s = socket.create_connection(("127.0.0.1", port))
    t = ctx.wrap_socket(s, server_hostname="localhost")
    t.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    t.recv(4096)
    conns.append(t)
print("held", len(conns), flush=True)
select.select([sys.stdin], [], [], 200)
