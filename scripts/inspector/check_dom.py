#!/usr/bin/env python3
"""Checks the DOM chromium dumped (--dump-dom) of the connection_status page.

    check_dom.py DOM.html CHECK [EXPECTED.json]

CHECK is one of:
  states    EXPECTED.json ({"state": ["ip:port", ...]}): each listed peer is
            shown in its state's box and nowhere else, and each state's count
            is at least the number listed (the browser's own connections
            count too);
  big       20,000 connections: the counts add up to the answer's total, at
            most the page's rows per state are listed, and "+N more" says
            the rest;
  flaky     failed polls are shown as such and polling went on;
  workers:K the answer is worker K's of 3 and the page links the other two;
  drain     the page shows drains so far, a reusable queue and its victims.
Every check also requires at least one answer drawn and an empty
#page-errors (no window.onerror, unhandled rejection or console.error).
Prints what it found; exit status 1 on a failed check.
"""

import json
import re
import sys
from html.parser import HTMLParser


class Page(HTMLParser):
    def __init__(self):
        super().__init__()
        self.meta = {}
        self.states = {}        # state -> {"count": n, "peers": [...], "more": text}
        self.errors = ""
        self.status = ""
        self.worker_links = []
        self.victims = 0
        self.queue = 0
        self.stack = []         # (tag, what) for text capture
        self.state = None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        cls = (a.get("class") or "").split()
        what = None
        if a.get("id") == "meta":
            self.meta = {k[5:]: v for k, v in a.items() if k.startswith("data-")}
        elif a.get("id") == "page-errors":
            what = "errors"
        elif a.get("id") == "status":
            what = "status"
        elif tag == "section" and "data-state" in a:
            self.state = a["data-state"]
            self.states[self.state] = {"count": int(a.get("data-count", -1)), "peers": [], "more": ""}
        elif tag == "tr" and "data-peer" in a and self.state:
            self.states[self.state]["peers"].append(a["data-peer"])
        elif "more" in cls and self.state:
            what = "more"
        elif tag == "a" and "data-worker" in a:
            self.worker_links.append(int(a["data-worker"]))
        elif tag == "span" and "data-pos" in a:
            self.queue += 1
            self.victims += "victim" in cls
        if tag not in ("br", "img", "input", "meta", "link"):
            self.stack.append((tag, what))

    def handle_endtag(self, tag):
        while self.stack:
            t, _ = self.stack.pop()
            if t == tag:
                break
        if tag == "section":
            self.state = None

    def handle_data(self, data):
        for _, what in reversed(self.stack):
            if what == "errors":
                self.errors += data
            elif what == "status":
                self.status += data
            elif what == "more" and self.state:
                self.states[self.state]["more"] += data
            if what:
                break


def main():
    dom, check = sys.argv[1], sys.argv[2]
    p = Page()
    with open(dom, encoding="utf-8", errors="replace") as f:
        p.feed(f.read())
    fails = []

    def need(ok, what):
        print("    %s %s" % ("ok  " if ok else "FAIL", what))
        if not ok:
            fails.append(what)

    polls = int(p.meta.get("polls", 0))
    failures = int(p.meta.get("failures", 0))
    print("    page: %d answers drawn, %d failed polls; status: %s" % (polls, failures, p.status.strip()))
    print("    counts: " + ", ".join("%s %d" % (s, v["count"]) for s, v in p.states.items() if v["count"]))
    need(p.errors.strip() == "", "no page errors" + (": " + p.errors.strip() if p.errors.strip() else ""))
    need(polls >= 1, "at least one answer drawn")
    need(len(p.states) >= 12, "a box per state (%d)" % len(p.states))

    if check == "states":
        with open(sys.argv[3]) as f:
            expected = json.load(f)
        need(polls >= 2, "polled more than once (%d)" % polls)
        for state, peers in expected.items():
            box = p.states.get(state, {"count": 0, "peers": []})
            need(set(peers) <= set(box["peers"]),
                 "%s shows the %d scripted connections %s" % (state, len(peers), " ".join(peers)))
            need(box["count"] >= len(peers), "%s count %d >= %d" % (state, box["count"], len(peers)))
            ours = [x for x in box["peers"] if x.rsplit(":", 1)[0] == peers[0].rsplit(":", 1)[0]]
            need(len(ours) == len(peers),
                 "%s lists exactly the scripted ones from their address (%d)" % (state, len(ours)))
            elsewhere = [s for s, b in p.states.items() if s != state and set(peers) & set(b["peers"])]
            need(not elsewhere, "%s connections in no other state %s" % (state, elsewhere or ""))
    elif check == "big":
        total = int(p.meta.get("total", 0))
        counted = sum(v["count"] for v in p.states.values())
        need(total == 20000 and counted == total, "counts add up to the total (%d of %d)" % (counted, total))
        rows = max(len(v["peers"]) for v in p.states.values())
        need(rows <= 8, "at most 8 rows per state (%d)" % rows)
        mores = [v for v in p.states.values() if v["count"] > len(v["peers"])]
        need(all(re.search(r"\+[\d,]+ more", v["more"]) for v in mores) and mores,
             "'+N more' under every state with more than it lists")
        need(p.queue <= 64 and p.victims == 32, "queue shows 64 at most (%d), 32 victims (%d)" % (p.queue, p.victims))
    elif check == "flaky":
        need(failures >= 1, "failed polls counted (%d)" % failures)
        need(polls >= 2, "polling went on after a failure (%d answers)" % polls)
        need(bool(p.meta.get("last-error")), "the last error kept: %s" % p.meta.get("last-error"))
    elif check.startswith("workers:"):
        k = int(check.split(":")[1])
        need(p.meta.get("worker-index") == str(k) and p.meta.get("workers") == "3",
             "worker %s of %s answered" % (p.meta.get("worker-index"), p.meta.get("workers")))
        need(sorted(p.worker_links) == [w for w in range(3) if w != k],
             "links to the other workers %s" % p.worker_links)
    elif check == "drain":
        need(int(p.meta.get("drains", 0)) > 0, "drains so far: %s" % p.meta.get("drains"))
        need(p.queue > 0 and p.victims >= 1, "reusable queue %d shown, %d victims" % (p.queue, p.victims))
    else:
        need(False, "unknown check " + check)
    sys.exit(1 if fails else 0)


if __name__ == "__main__":
    main()
