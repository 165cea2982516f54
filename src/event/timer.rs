//! Timers: placeholder BTreeMap implementation with the final API; replaced by
//! the hierarchical wheel of timer-wheel.md §7.

use std::collections::BTreeMap;

/// Mirrors NGX_TIMER_LAZY_DELAY: re-arming a timer by less than this keeps the old deadline.
pub const TIMER_LAZY_DELAY_MS: u64 = 300;

/// A handle to an armed timer, stored in the owner's slot (nginx's `timer_set`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimerHandle {
    key: u64,
    deadline: u64,
}

/// The set of armed timers.
#[derive(Debug)]
pub struct TimerWheel<T> {
    map: BTreeMap<(u64, u64), T>,
    seq: u64,
    lazy_delay_ms: u64,
}

impl<T> Default for TimerWheel<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T> TimerWheel<T> {
    /// An empty set with nginx's lazy delay.
    pub fn new() -> Self {
        Self {
            map: BTreeMap::new(),
            seq: 0,
            lazy_delay_ms: TIMER_LAZY_DELAY_MS,
        }
    }

    /// Changes the lazy delay (0 makes every re-arm exact).
    pub fn set_lazy_delay(&mut self, ms: u64) {
        self.lazy_delay_ms = ms;
    }

    /// Mirrors ngx_event_add_timer(). Returns false when the old timer was kept (lazy).
    pub fn add_timer(
        &mut self,
        slot: &mut Option<TimerHandle>,
        now_ms: u64,
        after_ms: u64,
        payload: T,
    ) -> bool {
        let deadline = now_ms.saturating_add(after_ms);
        if let Some(h) = *slot {
            if self.map.contains_key(&(h.deadline, h.key))
                && h.deadline.abs_diff(deadline) < self.lazy_delay_ms
            {
                return false;
            }
            self.del_timer(slot);
        }
        self.seq += 1;
        self.map.insert((deadline, self.seq), payload);
        *slot = Some(TimerHandle {
            key: self.seq,
            deadline,
        });
        true
    }

    /// Mirrors ngx_event_del_timer().
    pub fn del_timer(&mut self, slot: &mut Option<TimerHandle>) -> Option<T> {
        let h = slot.take()?;
        self.map.remove(&(h.deadline, h.key))
    }

    /// The absolute deadline of an armed timer.
    pub fn deadline(&self, h: TimerHandle) -> Option<u64> {
        self.map
            .contains_key(&(h.deadline, h.key))
            .then_some(h.deadline)
    }

    /// Mirrors ngx_event_find_timer(): ms until the next deadline, None when empty.
    pub fn find_timer(&self, now_ms: u64) -> Option<u64> {
        self.map
            .keys()
            .next()
            .map(|&(d, _)| d.saturating_sub(now_ms))
    }

    /// Mirrors ngx_event_expire_timers(), one at a time.
    pub fn expire_timers(&mut self, now_ms: u64) -> Option<T> {
        let (&k, _) = self.map.iter().next()?;
        if k.0 > now_ms {
            return None;
        }
        self.map.remove(&k)
    }

    /// Number of armed timers.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// No timer armed.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }
}
