//! The posted-events queue: nginx's `event/ngx_event_posted.c`.
//!
//! Work that must continue later in the same loop iteration (a pipelined
//! request, a keep-alive connection whose next request already arrived, a
//! handler that stopped before WouldBlock) is posted here; a non-empty queue
//! makes the next poll non-blocking.

use std::collections::VecDeque;

use crate::core::connection::{EvKind, EventRef};
use crate::core::cycle::Cycle;
use crate::os::io::Transport;

/// FIFO of posted events (`ngx_posted_events`).
#[derive(Debug, Default)]
pub struct PostedQueue {
    queue: VecDeque<EventRef>,
}

impl PostedQueue {
    /// Mirrors ngx_post_event(): the caller has checked the event's `posted` flag.
    pub fn push(&mut self, ev: EventRef) {
        self.queue.push_back(ev);
    }

    /// Takes the oldest posted event (ngx_event_process_posted's loop step).
    pub fn pop(&mut self) -> Option<EventRef> {
        self.queue.pop_front()
    }

    /// Events waiting.
    pub fn len(&self) -> usize {
        self.queue.len()
    }

    /// Nothing posted.
    pub fn is_empty(&self) -> bool {
        self.queue.is_empty()
    }

    /// Is `ev` waiting (the debug-build invariant check)?
    pub fn contains(&self, ev: &EventRef) -> bool {
        self.queue.contains(ev)
    }
}

/// Mirrors ngx_event_process_posted(): runs posted events, including the ones
/// posted while this runs (the next pipelined request), at most `max` of them;
/// events of connections closed meanwhile are skipped by token.
pub fn process_posted<S: Transport>(cy: &mut Cycle<S>, max: usize) {
    for _ in 0..max {
        let Some(ev) = cy.posted.pop() else { break };
        let Some(key) = cy.lookup(ev.token) else {
            continue;
        };
        log::debug!("*{} posted event {:?}", cy.conns[key].number, ev.kind);
        match ev.kind {
            EvKind::Read => {
                cy.conns[key].read.posted = false;
                crate::http::run_read_handler(cy, key);
            }
            EvKind::Write => {
                cy.conns[key].write.posted = false;
                crate::http::run_write_handler(cy, key);
            }
        }
    }
}
