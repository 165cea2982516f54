//! The debug-build invariant check run after every event handler: the
//! bookkeeping that nginx keeps by convention, checked (holdfast's own;
//! nginx has no such check). A broken invariant panics in debug builds, which
//! every test runs; release builds do not compile the check.

use crate::core::connection::{EvKind, EventRef, NIL, ReadHandler};
use crate::core::cycle::Cycle;

/// Above this many connections the whole-cycle counts are not recounted
/// after each handler (that would be quadratic in load tests).
const RECOUNT_MAX_CONNECTIONS: usize = 512;

impl<S: crate::os::io::Transport> Cycle<S> {
    /// Checks the connection `token` names (when it still exists) and, for
    /// small cycles, the whole-cycle counts:
    /// - reusable ⇔ linked in the reusable queue, and the queue's length;
    /// - idle in keep-alive ⇒ no request (the busy state was given back);
    /// - an event marked posted ⇔ it is in a posted queue;
    /// - an event with a timer ⇔ the timer wheel holds it;
    /// - stub_status's reading + writing ⇔ connections with a request.
    pub fn check_invariants(&self, token: usize) {
        if let Some(key) = self.lookup(token) {
            self.check_connection(key, token);
        }
        if self.conns.len() <= RECOUNT_MAX_CONNECTIONS {
            let with_request = self.conns.iter().filter(|(_, c)| c.req().is_some()).count();
            assert_eq!(
                (self.stats.reading + self.stats.writing) as usize,
                with_request,
                "stub_status reading+writing vs requests in flight"
            );
            let reusable = self.conns.iter().filter(|(_, c)| c.reusable).count();
            assert_eq!(
                self.reusable_n, reusable,
                "reusable_n vs reusable connections"
            );
        }
    }

    fn check_connection(&self, key: usize, token: usize) {
        let c = &self.conns[key];
        let k = key as u32;
        let linked =
            c.prev != NIL || c.next != NIL || self.reusable_head == k || self.reusable_tail == k;
        assert_eq!(
            c.reusable, linked,
            "*{} reusable flag vs queue links",
            c.number
        );
        if c.read.handler == ReadHandler::Keepalive {
            assert!(
                c.req().is_none(),
                "*{} idle in keep-alive with a request",
                c.number
            );
        }
        for (kind, posted, timer) in [
            (EvKind::Read, c.read.posted, c.read.timer),
            (EvKind::Write, c.write.posted, c.write.timer),
        ] {
            let ev = EventRef { token, kind };
            let queued = self.posted.contains(&ev) || self.posted_next.contains(&ev);
            assert_eq!(
                posted, queued,
                "*{} {kind:?} posted flag vs queue",
                c.number
            );
            if let Some(h) = timer {
                assert!(
                    self.timers.deadline(h).is_some(),
                    "*{} {kind:?} timer handle not in the wheel",
                    c.number
                );
            }
        }
    }
}
