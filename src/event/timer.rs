//! Timers (nginx's `src/event/ngx_event_timer.{c,h}`), kept in a hierarchical
//! timing wheel instead of nginx's red-black tree (docs/timer-wheel.md §7).
//!
//! Mirrors `ngx_event_add_timer`, `ngx_event_del_timer`,
//! `ngx_event_find_timer`, `ngx_event_expire_timers` and
//! `ngx_event_no_timers_left`.
//!
//! Layout: 1 ms ticks, 5 levels of 64 slots. Level `L` has slots of `64^L` ms
//! and spans `64^(L+1)` ms, so the wheel covers `2^30` ms (about 12.4 days);
//! longer delays are clamped. Each level keeps a `u64` bitmap of non-empty
//! slots, so finding the next slot that comes due is a rotate and a
//! `trailing_zeros` per level, and advancing never walks empty ticks.
//! Entries live in a slab and are chained into their slot (or into `pending`)
//! through intrusive `u32` prev/next keys, so add and delete are O(1).
//!
//! A timer is filed at the level of the highest bit in which its deadline
//! differs from `elapsed` (tokio's rule). When a level-`L` slot comes due, its
//! entries cascade to a finer level, so every timer fires at its exact
//! millisecond and never early. Re-arming to a later deadline only rewrites
//! the deadline; the entry is re-filed when its old slot comes due.
//!
//! ```text
//!  add_timer ──► level L slot ──(slot start reached)──► level < L slot ──► … ──► pending
//!     │              │                                       │                   │
//!     │              └───────── del_timer / re-arm unlink it from wherever ──────┤
//!     └──(deadline already reached)──────────────────────────────────────────────┤
//!                                                 expire_timers() pops one ◄─────┘
//! ```

use std::fmt;
use std::mem::size_of;

use log::debug;
use slab::Slab;

/// Mirrors NGX_TIMER_LAZY_DELAY: re-arming a timer by less than this keeps the old deadline.
pub const TIMER_LAZY_DELAY_MS: u64 = 300;

/// The wheel's tick in ms (timer-wheel.md §7.3). Deadlines are whole ticks.
pub const TICK_MS: u64 = 1;
// The arithmetic below works in ms and relies on one tick being one ms.
const _: () = assert!(TICK_MS == 1, "the wheel's arithmetic assumes 1 ms ticks");

/// log2 of the number of slots per level.
const SLOT_BITS: u32 = 6;
/// Slots per level.
const SLOTS: usize = 1 << SLOT_BITS;
/// Mask extracting a slot index.
const SLOT_MASK: u64 = SLOTS as u64 - 1;
/// Number of levels.
const LEVELS: usize = 5;
/// Span of the whole wheel: delays are clamped to `MAX_DELAY_MS - 1` (like the
/// kernel's WHEEL_TIMEOUT_MAX).
pub const MAX_DELAY_MS: u64 = 1 << (SLOT_BITS as usize * LEVELS);
/// Clock values are clamped to this so that slot arithmetic cannot overflow
/// (about 146 million years of uptime).
const MAX_NOW_MS: u64 = 1 << 62;
/// "No entry" in the intrusive links and slot heads.
const NIL: u32 = u32::MAX;
/// `Entry::bucket` of an entry in the pending list (other values are
/// `level * SLOTS + slot`).
const PENDING: u16 = u16::MAX;

/// A handle to an armed timer, stored in the owner's slot (nginx's `timer_set`).
///
/// `generation` comes from a wheel-wide counter bumped on every (re-)arm, so a handle
/// to a deleted, fired or re-armed timer never matches a later entry that
/// reuses the same slab key (until 2^32 arms later).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimerHandle {
    key: u32,
    generation: u32,
}

/// One armed timer in the slab.
#[derive(Debug)]
struct Entry<T> {
    /// Absolute deadline in ms.
    deadline: u64,
    payload: T,
    prev: u32,
    next: u32,
    generation: u32,
    /// `level * SLOTS + slot`, or `PENDING`.
    bucket: u16,
}

/// Layout twin of slab 0.4's private `enum Entry<T> { Vacant(usize), Occupied(T) }`,
/// used only to report the per-timer memory cost.
#[allow(dead_code)]
enum SlabSlot<E> {
    Vacant(usize),
    Occupied(E),
}

/// One level of the wheel: 64 list heads and a bitmap of the non-empty ones.
#[derive(Clone, Copy)]
struct Level {
    occupied: u64,
    heads: [u32; SLOTS],
}

impl Level {
    const EMPTY: Level = Level {
        occupied: 0,
        heads: [NIL; SLOTS],
    };
}

/// The set of armed timers (nginx's `ngx_event_timer_rbtree`).
pub struct TimerWheel<T> {
    entries: Slab<Entry<T>>,
    levels: [Level; LEVELS],
    /// Due entries not yet handed out, oldest first.
    pending_head: u32,
    pending_tail: u32,
    /// Time up to which the wheel has been processed; never ahead of `now`.
    elapsed: u64,
    /// Latest clock value seen; smaller values passed in are raised to it.
    now: u64,
    /// Wheel-wide generation for handles.
    generation: u32,
    lazy_delay_ms: u64,
}

impl<T> fmt::Debug for TimerWheel<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let occupied: Vec<u64> = self.levels.iter().map(|l| l.occupied).collect();
        f.debug_struct("TimerWheel")
            .field("len", &self.entries.len())
            .field("elapsed", &self.elapsed)
            .field("now", &self.now)
            .field("lazy_delay_ms", &self.lazy_delay_ms)
            .field("occupied", &occupied)
            .field("pending", &(self.pending_head != NIL))
            .finish()
    }
}

impl<T> Default for TimerWheel<T> {
    fn default() -> Self {
        Self::new()
    }
}

/// The level at which a timer due at `deadline` is filed when the wheel is at
/// `elapsed`: that of the highest bit in which the two differ (tokio's
/// `level_for`). Anything beyond the top level goes into the top level, whose
/// slots then act as a ring.
fn level_for(elapsed: u64, deadline: u64) -> usize {
    let mut masked = (elapsed ^ deadline) | SLOT_MASK;
    if masked >= MAX_DELAY_MS {
        masked = MAX_DELAY_MS - 1;
    }
    (masked.ilog2() / SLOT_BITS) as usize
}

/// The slot of `deadline` at `level`.
fn slot_for(level: usize, deadline: u64) -> usize {
    ((deadline >> (level as u32 * SLOT_BITS)) & SLOT_MASK) as usize
}

impl<T> TimerWheel<T> {
    /// No nginx counterpart (metrics): bytes one timer costs in the slab
    /// (entry plus slab's slot enum).
    pub const ENTRY_BYTES: usize = size_of::<SlabSlot<Entry<T>>>();

    /// Mirrors ngx_event_timer_init() (src/event/ngx_event_timer.c): an empty
    /// wheel with nginx's lazy delay.
    pub fn new() -> Self {
        Self {
            entries: Slab::new(),
            levels: [Level::EMPTY; LEVELS],
            pending_head: NIL,
            pending_tail: NIL,
            elapsed: 0,
            now: 0,
            generation: 0,
            lazy_delay_ms: TIMER_LAZY_DELAY_MS,
        }
    }

    /// No nginx counterpart (NGX_TIMER_LAZY_DELAY is a compile-time constant
    /// there): sets the lazy delay; 0 makes every re-arm exact.
    pub fn set_lazy_delay(&mut self, ms: u64) {
        self.lazy_delay_ms = ms;
    }

    /// The lazy delay in force.
    pub fn lazy_delay(&self) -> u64 {
        self.lazy_delay_ms
    }

    /// Mirrors ngx_event_add_timer() (src/event/ngx_event_timer.h): arms the
    /// timer in `slot` to fire `after_ms` after `now_ms`.
    ///
    /// Returns false when the lazy rule kept the old timer, true when a timer
    /// was (re-)armed; `slot` then holds its new handle.
    ///
    /// Differences:
    /// - Lazy delay: if `slot` holds a live timer whose deadline differs from
    ///   the new one by less than the lazy delay (300 ms by default), the old
    ///   timer is kept *with its old payload* and `payload` is dropped. So a
    ///   timer may fire up to 299 ms early or late relative to the latest
    ///   re-arm; handlers must treat the timeout as authoritative, as nginx's
    ///   do. With a lazy delay of 0 every call re-arms.
    /// - A stale handle in `slot` (fired or deleted timer) counts as unarmed.
    /// - Re-arming reuses the entry but issues a new handle, so copies of the
    ///   old handle go stale. A later deadline is written in place and the
    ///   entry stays in its slot until that comes due (tokio's
    ///   `extend_expiration`), so keepalive-style re-arms touch no list;
    ///   precision is unaffected.
    /// - `after_ms` is clamped to `MAX_DELAY_MS - 1` (about 12.4 days).
    /// - `now_ms` smaller than a value seen before is taken as that value.
    pub fn add_timer(
        &mut self,
        slot: &mut Option<TimerHandle>,
        now_ms: u64,
        after_ms: u64,
        payload: T,
    ) -> bool {
        let now = self.advance_now(now_ms);
        let after = if after_ms >= MAX_DELAY_MS {
            debug!(
                "timer delay {after_ms} ms clamped to {} ms",
                MAX_DELAY_MS - 1
            );
            MAX_DELAY_MS - 1
        } else {
            after_ms
        };
        let deadline = now + after;

        if let Some(key) = slot.and_then(|h| self.live_key(h)) {
            let e = &mut self.entries[key as usize];
            if e.deadline.abs_diff(deadline) < self.lazy_delay_ms {
                return false;
            }
            self.generation = self.generation.wrapping_add(1);
            let generation = self.generation;
            if deadline > e.deadline && e.bucket != PENDING {
                // Extend in place (tokio's `extend_expiration`): the entry's
                // slot now comes due before its deadline, and the cascade
                // re-files it then.
                e.deadline = deadline;
                e.payload = payload;
                e.generation = generation;
                *slot = Some(TimerHandle { key, generation });
                return true;
            }
            self.unlink(key);
            let e = &mut self.entries[key as usize];
            e.deadline = deadline;
            e.payload = payload;
            e.generation = generation;
            self.link(key);
            *slot = Some(TimerHandle { key, generation });
            return true;
        }

        self.generation = self.generation.wrapping_add(1);
        let generation = self.generation;
        let key = self.entries.insert(Entry {
            deadline,
            payload,
            prev: NIL,
            next: NIL,
            generation,
            bucket: PENDING,
        });
        // Four billion live timers would need far more memory than we ever
        // have; NIL must stay free as the list terminator.
        assert!(key < NIL as usize, "timer wheel: slab key exceeds u32");
        let key = key as u32;
        self.link(key);
        *slot = Some(TimerHandle { key, generation });
        true
    }

    /// Mirrors ngx_event_del_timer() (src/event/ngx_event_timer.h): disarms
    /// the timer in `slot` and returns its payload.
    ///
    /// Differences: `slot` is always left `None`; a stale handle (timer fired,
    /// deleted or re-armed through another copy) is a no-op returning None.
    pub fn del_timer(&mut self, slot: &mut Option<TimerHandle>) -> Option<T> {
        let key = self.live_key(slot.take()?)?;
        self.unlink(key);
        Some(self.entries.remove(key as usize).payload)
    }

    /// No nginx counterpart (nginx reads `ev->timer.key`): the absolute
    /// deadline (ms) of a live timer, None if `h` is stale.
    pub fn deadline(&self, h: TimerHandle) -> Option<u64> {
        let key = self.live_key(h)?;
        Some(self.entries[key as usize].deadline)
    }

    /// Mirrors ngx_event_find_timer() (src/event/ngx_event_timer.c): ms from
    /// `now_ms` until the wheel needs attention; None when no timer is armed
    /// (NGX_TIMER_INFINITE), Some(0) when a timer is already due.
    ///
    /// Differences: the value may be the start of a coarse slot whose entries
    /// have to cascade, or of a slot holding timers since re-armed later,
    /// rather than a deadline, so the caller can wake up and find nothing to
    /// fire (at most once per occupied slot). It is never later than the
    /// earliest deadline.
    /// Cost: O(levels), no scanning.
    pub fn find_timer(&self, now_ms: u64) -> Option<u64> {
        if self.pending_head != NIL {
            return Some(0);
        }
        let (_, _, at) = self.next_expiration()?;
        let now = now_ms.min(MAX_NOW_MS).max(self.now);
        Some(at.saturating_sub(now))
    }

    /// Mirrors ngx_event_expire_timers() (src/event/ngx_event_timer.c), one
    /// timer at a time: removes and returns the payload of one timer whose
    /// deadline is ≤ `now_ms`, None when none is due.
    ///
    /// Differences: the caller loops (`while let Some(t) = wheel.expire_timers(now)`)
    /// and runs the handler between pops, so handlers may add and delete
    /// timers. The handle in the owner's slot goes stale: `del_timer` on it is
    /// a no-op, like nginx clearing `timer_set`. Due timers come out roughly
    /// in deadline order (exactly, when `now_ms` moves in small steps).
    /// `now_ms` smaller than a value seen before is taken as that value.
    pub fn expire_timers(&mut self, now_ms: u64) -> Option<T> {
        self.expire_timer(now_ms).map(|(payload, _)| payload)
    }

    /// [`TimerWheel::expire_timers`] with the expired timer's deadline, for
    /// nginx's `event timer del: FD: DEADLINE` trace line.
    pub fn expire_timer(&mut self, now_ms: u64) -> Option<(T, u64)> {
        let now = self.advance_now(now_ms);
        loop {
            if self.pending_head != NIL {
                let key = self.pending_head;
                self.unlink(key);
                let e = self.entries.remove(key as usize);
                return Some((e.payload, e.deadline));
            }
            match self.next_expiration() {
                Some((level, slot, at)) if at <= now => self.cascade(level, slot, at, now),
                _ => {
                    // Nothing comes due before `now`, so no occupied slot starts
                    // at or before it.
                    self.elapsed = now;
                    return None;
                }
            }
        }
    }

    /// Mirrors ngx_event_no_timers_left() (src/event/ngx_event_timer.c): true
    /// when no timer is armed, so a gracefully exiting worker may stop.
    ///
    /// Differences: there is no `cancelable` flag yet, so every timer counts.
    pub fn no_timers_left(&self) -> bool {
        self.entries.is_empty()
    }

    /// No nginx counterpart: the number of armed timers.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// No nginx counterpart (the connection inspector): armed timers per
    /// level, finest first; due ones not yet handed out count as level 0.
    /// Walks every entry: O(timers), only when asked.
    pub fn level_counts(&self) -> [usize; LEVELS] {
        let mut n = [0; LEVELS];
        for (_, e) in &self.entries {
            let level = if e.bucket == PENDING {
                0
            } else {
                usize::from(e.bucket) / SLOTS
            };
            n[level.min(LEVELS - 1)] += 1;
        }
        n
    }

    /// No nginx counterpart: no timer armed.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// No nginx counterpart (metrics): entries the slab holds without
    /// reallocating; the wheel's memory is about `capacity() * ENTRY_BYTES`.
    pub fn capacity(&self) -> usize {
        self.entries.capacity()
    }

    /// Raises the cached clock to `now_ms` and returns it (tokio clamps a
    /// backwards clock the same way).
    fn advance_now(&mut self, now_ms: u64) -> u64 {
        self.now = self.now.max(now_ms.min(MAX_NOW_MS));
        self.now
    }

    /// The slab key of `h` if it designates a live timer.
    fn live_key(&self, h: TimerHandle) -> Option<u32> {
        let e = self.entries.get(h.key as usize)?;
        (e.generation == h.generation).then_some(h.key)
    }

    /// The earliest occupied slot as (level, slot, start ms). Lower levels
    /// always come due before higher ones, so the first non-empty level wins.
    fn next_expiration(&self) -> Option<(usize, usize, u64)> {
        let (level, lvl) = self
            .levels
            .iter()
            .enumerate()
            .find(|(_, l)| l.occupied != 0)?;
        let shift = level as u32 * SLOT_BITS;
        // The slot holding `elapsed` is never occupied (it would have been
        // due), except at the top level where it holds entries of the next
        // rotation. So search from the slot after it, which then comes last.
        let first = ((self.elapsed >> shift) + 1) & SLOT_MASK;
        let dist = u64::from(lvl.occupied.rotate_right(first as u32).trailing_zeros());
        let slot = ((first + dist) & SLOT_MASK) as usize;
        Some((level, slot, self.slot_start(level, slot)))
    }

    /// When the occupied `slot` of `level` comes due: its start, the first
    /// time after `elapsed` that the slot is reached.
    fn slot_start(&self, level: usize, slot: usize) -> u64 {
        let shift = level as u32 * SLOT_BITS;
        let level_range = 1u64 << (shift + SLOT_BITS);
        let mut at = (self.elapsed & !(level_range - 1)) + ((slot as u64) << shift);
        if at <= self.elapsed {
            // The top level is a ring: a slot at or behind the current one
            // belongs to the next rotation (tokio's `next_expiration`).
            debug_assert_eq!(level, LEVELS - 1, "timer slot behind the wheel");
            at += level_range;
        }
        at
    }

    /// Empties the slot that starts at `at` (≤ `now`) and moves the wheel
    /// there: entries due by `now` go to `pending`, the others are re-filed
    /// at a finer level (or, beyond the wheel's range, the top level again).
    fn cascade(&mut self, level: usize, slot: usize, at: u64, now: u64) {
        self.elapsed = at;
        let lvl = &mut self.levels[level];
        let mut key = lvl.heads[slot];
        lvl.heads[slot] = NIL;
        lvl.occupied &= !(1u64 << slot);
        while key != NIL {
            let e = &self.entries[key as usize];
            let (next, deadline) = (e.next, e.deadline);
            if deadline <= now {
                self.push_pending(key);
            } else {
                self.push_slot(key, deadline);
            }
            key = next;
        }
    }

    /// Files an unlinked entry by its deadline.
    fn link(&mut self, key: u32) {
        let deadline = self.entries[key as usize].deadline;
        if deadline <= self.elapsed {
            self.push_pending(key);
        } else {
            self.push_slot(key, deadline);
        }
    }

    /// Pushes an unlinked entry due after `elapsed` onto its slot's list.
    fn push_slot(&mut self, key: u32, deadline: u64) {
        let level = level_for(self.elapsed, deadline);
        let slot = slot_for(level, deadline);
        let lvl = &mut self.levels[level];
        let head = lvl.heads[slot];
        lvl.heads[slot] = key;
        lvl.occupied |= 1u64 << slot;
        let e = &mut self.entries[key as usize];
        e.prev = NIL;
        e.next = head;
        e.bucket = (level * SLOTS + slot) as u16;
        if head != NIL {
            self.entries[head as usize].prev = key;
        }
    }

    /// Appends an unlinked entry to the pending list.
    fn push_pending(&mut self, key: u32) {
        let tail = self.pending_tail;
        let e = &mut self.entries[key as usize];
        e.prev = tail;
        e.next = NIL;
        e.bucket = PENDING;
        if tail == NIL {
            self.pending_head = key;
        } else {
            self.entries[tail as usize].next = key;
        }
        self.pending_tail = key;
    }

    /// Takes a linked entry off its list, clearing the slot's bit if it empties.
    fn unlink(&mut self, key: u32) {
        let e = &self.entries[key as usize];
        let (prev, next, bucket) = (e.prev, e.next, e.bucket);
        if prev != NIL {
            self.entries[prev as usize].next = next;
        } else if bucket == PENDING {
            self.pending_head = next;
        } else {
            let (level, slot) = (bucket as usize / SLOTS, bucket as usize % SLOTS);
            let lvl = &mut self.levels[level];
            lvl.heads[slot] = next;
            if next == NIL {
                lvl.occupied &= !(1u64 << slot);
            }
        }
        if next != NIL {
            self.entries[next as usize].prev = prev;
        } else if bucket == PENDING {
            self.pending_tail = prev;
        }
    }

    /// Checks the lists, bitmaps and counts against each other.
    #[cfg(test)]
    fn check_invariants(&self) {
        let mut seen = 0;
        for (level, lvl) in self.levels.iter().enumerate() {
            for slot in 0..SLOTS {
                let head = lvl.heads[slot];
                assert_eq!(head != NIL, lvl.occupied & (1 << slot) != 0);
                let (mut prev, mut key) = (NIL, head);
                while key != NIL {
                    let e = &self.entries[key as usize];
                    assert_eq!(e.prev, prev);
                    assert_eq!(e.bucket as usize, level * SLOTS + slot);
                    // Within one slot of the deadline, unless extended in place.
                    assert!(
                        self.slot_start(level, slot) <= e.deadline,
                        "slot due too late"
                    );
                    (prev, key) = (key, e.next);
                    seen += 1;
                }
            }
        }
        let (mut prev, mut key) = (NIL, self.pending_head);
        while key != NIL {
            let e = &self.entries[key as usize];
            assert_eq!((e.prev, e.bucket), (prev, PENDING));
            assert!(e.deadline <= self.now, "pending entry not due");
            (prev, key) = (key, e.next);
            seen += 1;
        }
        assert_eq!(self.pending_tail, prev);
        assert_eq!(seen, self.entries.len());
        assert!(self.elapsed <= self.now);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    /// Pops everything due at `now`.
    fn drain<T>(w: &mut TimerWheel<T>, now: u64) -> Vec<T> {
        std::iter::from_fn(|| w.expire_timers(now)).collect()
    }

    #[test]
    fn add_del_expire_basic() {
        let mut w = TimerWheel::new();
        assert!(w.is_empty() && w.no_timers_left());
        assert_eq!(w.find_timer(0), None);
        let (mut a, mut b) = (None, None);
        assert!(w.add_timer(&mut a, 0, 100, "a"));
        assert!(w.add_timer(&mut b, 0, 5_000, "b"));
        assert_eq!(w.len(), 2);
        assert_eq!(w.deadline(a.unwrap()), Some(100));
        assert!(w.find_timer(0).unwrap() <= 100);
        assert_eq!(w.expire_timers(99), None);
        assert_eq!(w.expire_timers(100), Some("a"));
        assert_eq!(w.expire_timers(100), None);
        assert_eq!(w.del_timer(&mut b), Some("b"));
        assert_eq!(b, None);
        assert_eq!(w.del_timer(&mut b), None);
        assert!(w.is_empty() && w.no_timers_left());
        assert_eq!(drain(&mut w, 1_000_000), Vec::<&str>::new());
        w.check_invariants();
    }

    #[test]
    fn zero_delay_fires_on_next_expire() {
        let mut w = TimerWheel::new();
        let mut s = None;
        assert_eq!(w.expire_timers(50), None);
        w.add_timer(&mut s, 50, 0, 7);
        assert_eq!(w.find_timer(50), Some(0));
        assert_eq!(w.expire_timers(50), Some(7));
    }

    #[test]
    fn fires_at_exact_ms_after_cascading() {
        for after in [1, 63, 64, 65, 4_095, 4_096, 75_000, 262_144, 3_600_000] {
            let mut w = TimerWheel::new();
            let mut s = None;
            w.add_timer(&mut s, 10, after, ());
            let (mut now, mut wakeups) = (10, 0);
            loop {
                now += w.find_timer(now).expect("armed").max(1);
                wakeups += 1;
                if w.expire_timers(now).is_some() {
                    break;
                }
                assert!(now < 10 + after, "missed deadline {after}");
            }
            assert_eq!(now, 10 + after, "fired early or late");
            assert!(wakeups <= LEVELS, "{wakeups} wakeups for {after}");
        }
    }

    #[test]
    fn lazy_delay_keeps_close_deadlines() {
        let mut w = TimerWheel::new();
        let mut s = None;
        assert!(w.add_timer(&mut s, 0, 1_000, 1));
        let h = s.unwrap();
        // Later by 100 ms: kept, old payload too.
        assert!(!w.add_timer(&mut s, 100, 1_000, 2));
        // Earlier by 200 ms: kept (fires 200 ms late relative to this re-arm).
        assert!(!w.add_timer(&mut s, 100, 700, 3));
        // Exactly 299 ms: kept; 300 ms: re-armed.
        assert!(!w.add_timer(&mut s, 299, 1_000, 4));
        assert_eq!(s, Some(h));
        assert_eq!(w.deadline(h), Some(1_000));
        assert!(w.add_timer(&mut s, 300, 1_000, 5));
        assert_eq!(w.deadline(h), None, "old handle went stale");
        assert_eq!(w.deadline(s.unwrap()), Some(1_300));
        assert_eq!(w.len(), 1);
        assert_eq!(drain(&mut w, 1_299), Vec::<i32>::new());
        assert_eq!(drain(&mut w, 1_300), vec![5]);
    }

    #[test]
    fn extended_timer_fires_at_its_new_deadline_only() {
        let mut w = TimerWheel::new();
        w.set_lazy_delay(0);
        let mut s = None;
        w.add_timer(&mut s, 0, 100, 1);
        for (now, payload) in [(50, 2), (120, 3), (5_000, 4)] {
            assert!(w.add_timer(&mut s, now, 75_000, payload));
        }
        let deadline = 80_000;
        assert_eq!(w.deadline(s.unwrap()), Some(deadline));
        let mut now = 5_000;
        let mut wakeups = 0;
        while now < deadline {
            assert_eq!(w.expire_timers(now), None, "early at {now}");
            w.check_invariants();
            now += w.find_timer(now).unwrap().max(1);
            wakeups += 1;
        }
        assert!(wakeups <= 2 * LEVELS, "{wakeups} wakeups");
        assert_eq!(now, deadline);
        assert_eq!(drain(&mut w, deadline), vec![4]);
    }

    #[test]
    fn rearming_a_due_timer_later_defers_it() {
        let mut w = TimerWheel::new();
        w.set_lazy_delay(0);
        let mut slots = [None, None];
        w.add_timer(&mut slots[0], 0, 10, 0);
        w.add_timer(&mut slots[1], 0, 10, 1);
        // Popping one moves both to pending; the other is then re-armed later.
        let first = w.expire_timers(10).unwrap();
        let other = 1 - first;
        assert!(w.add_timer(&mut slots[other], 10, 100, 2));
        w.check_invariants();
        assert_eq!(w.expire_timers(10), None);
        assert_eq!(drain(&mut w, 109), Vec::<usize>::new());
        assert_eq!(drain(&mut w, 110), vec![2]);
    }

    #[test]
    fn lazy_delay_zero_always_rearms() {
        let mut w = TimerWheel::new();
        w.set_lazy_delay(0);
        let mut s = None;
        assert!(w.add_timer(&mut s, 0, 1_000, 1));
        assert!(w.add_timer(&mut s, 0, 1_000, 2));
        assert!(w.add_timer(&mut s, 1, 1_000, 3));
        assert_eq!(w.deadline(s.unwrap()), Some(1_001));
        assert_eq!(drain(&mut w, 1_000), Vec::<i32>::new());
        assert_eq!(drain(&mut w, 1_001), vec![3]);
    }

    #[test]
    fn stale_handle_after_fire_is_rejected() {
        let mut w = TimerWheel::new();
        let mut s = None;
        w.add_timer(&mut s, 0, 10, 1);
        let h = s.unwrap();
        assert_eq!(w.expire_timers(10), Some(1));
        assert_eq!(w.deadline(h), None);
        assert_eq!(w.del_timer(&mut s), None);
        assert_eq!(s, None);
        // A stale handle left in the slot counts as unarmed, whatever the lazy rule.
        let mut s = Some(h);
        assert!(w.add_timer(&mut s, 10, 0, 2));
        assert_eq!(w.expire_timers(10), Some(2));
    }

    #[test]
    fn stale_handle_after_slot_reuse_is_rejected() {
        let mut w = TimerWheel::new();
        let (mut a, mut b) = (None, None);
        w.add_timer(&mut a, 0, 100, "a");
        let old = a.unwrap();
        assert_eq!(w.del_timer(&mut a), Some("a"));
        w.add_timer(&mut b, 0, 100, "b");
        assert_eq!(b.unwrap().key, old.key, "slab key reused");
        assert_eq!(w.deadline(old), None);
        assert_eq!(w.del_timer(&mut Some(old)), None);
        assert_eq!(w.len(), 1);
        assert_eq!(w.expire_timers(100), Some("b"));
    }

    #[test]
    fn huge_delays_are_clamped() {
        let mut w = TimerWheel::new();
        let mut s = None;
        w.add_timer(&mut s, 5, u64::MAX, ());
        let d = w.deadline(s.unwrap()).unwrap();
        assert_eq!(d, 5 + MAX_DELAY_MS - 1);
        assert!(w.find_timer(5).unwrap() <= d - 5);
        assert_eq!(w.expire_timers(d - 1), None);
        assert_eq!(w.expire_timers(d), Some(()));
        w.check_invariants();
    }

    #[test]
    fn deadline_beyond_wheel_range_from_elapsed_is_not_early() {
        // The wheel was last advanced at 0 but the caller's clock is far ahead,
        // so the deadline lies several wheel rotations past `elapsed`.
        let mut w = TimerWheel::new();
        let mut s = None;
        let now = 3 * MAX_DELAY_MS + 12_345;
        w.add_timer(&mut s, now, MAX_DELAY_MS - 1, ());
        let d = now + MAX_DELAY_MS - 1;
        let mut t = now;
        while t < d {
            let wait = w.find_timer(t).unwrap();
            assert!(wait <= d - t);
            assert_eq!(w.expire_timers(t), None, "early at {t}");
            t += wait.max(1);
        }
        assert_eq!(w.expire_timers(d), Some(()));
    }

    #[test]
    fn all_on_the_same_deadline() {
        let mut w = TimerWheel::new();
        let mut slots = vec![None; 10_000];
        for (i, s) in slots.iter_mut().enumerate() {
            w.add_timer(s, 0, 60_000, i);
        }
        for s in slots.iter_mut().step_by(2) {
            assert!(w.del_timer(s).is_some());
        }
        assert_eq!(drain(&mut w, 59_999).len(), 0);
        let mut fired = drain(&mut w, 60_000);
        fired.sort_unstable();
        assert_eq!(fired, (1..10_000).step_by(2).collect::<Vec<_>>());
        assert!(w.is_empty());
        w.check_invariants();
    }

    #[test]
    fn clock_jump_of_one_hour() {
        const HOUR: u64 = 3_600_000;
        let mut w = TimerWheel::new();
        let mut slots = vec![None; 5_000];
        for (i, s) in slots.iter_mut().enumerate() {
            w.add_timer(s, 1_000, (i as u64 * 7_919) % (2 * HOUR), i);
        }
        let fired = drain(&mut w, 1_000 + HOUR);
        assert!(
            fired
                .iter()
                .all(|&i| (i as u64 * 7_919) % (2 * HOUR) <= HOUR)
        );
        assert_eq!(w.len() + fired.len(), 5_000);
        assert!(
            slots
                .iter()
                .filter_map(|s| w.deadline((*s)?))
                .all(|d| d > 1_000 + HOUR)
        );
        w.check_invariants();
        assert_eq!(drain(&mut w, 1_000 + 2 * HOUR).len() + fired.len(), 5_000);
    }

    #[test]
    fn smaller_now_counts_as_the_last_one() {
        let mut w = TimerWheel::new();
        let mut s = None;
        assert_eq!(w.expire_timers(1_000), None);
        w.add_timer(&mut s, 500, 100, ());
        assert_eq!(w.deadline(s.unwrap()), Some(1_100));
        assert!(w.find_timer(0).unwrap() <= 100);
        assert_eq!(w.expire_timers(1_099), None);
        assert_eq!(w.expire_timers(3), None);
        assert_eq!(w.expire_timers(1_100), Some(()));
    }

    #[test]
    fn entry_fits_the_memory_budget() {
        // timer-wheel.md §8: ≤ 48 B per live timer with a TimerTarget-sized payload.
        const { assert!(TimerWheel::<[u64; 2]>::ENTRY_BYTES <= 48) };
    }

    /// xorshift64* with a fixed seed, so failures reproduce.
    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
        }

        fn below(&mut self, n: u64) -> u64 {
            self.next() % n
        }
    }

    fn random_delay(rng: &mut Rng) -> u64 {
        match rng.below(100) {
            0..30 => rng.below(64),
            30..60 => rng.below(5_000),
            60..85 => rng.below(150_000),
            85..95 => rng.below(1 << 31),
            _ => u64::MAX - rng.below(1 << 40),
        }
    }

    fn random_step(rng: &mut Rng) -> u64 {
        match rng.below(10_000) {
            0..7_000 => rng.below(4),
            7_000..9_000 => rng.below(100),
            9_000..9_900 => rng.below(2_000),
            9_900..9_996 => rng.below(100_000),
            9_996..9_998 => 3_600_000,
            _ => rng.below(1 << 31),
        }
    }

    /// Random add / re-arm / delete / advance sequences checked against a
    /// BTreeMap model (style.md rule 14d).
    fn differential(seed: u64, lazy: u64, ops: usize) {
        const OWNERS: usize = 500;
        let mut rng = Rng(seed);
        let mut w: TimerWheel<(usize, u64)> = TimerWheel::new();
        w.set_lazy_delay(lazy);
        let mut slots: Vec<Option<TimerHandle>> = vec![None; OWNERS];
        // Per owner: (deadline, seq) of its live timer; and all of them ordered.
        let mut live: Vec<Option<(u64, u64)>> = vec![None; OWNERS];
        let mut model: BTreeMap<(u64, u64), usize> = BTreeMap::new();
        let mut stale: Vec<TimerHandle> = Vec::new();
        let mut last_after = vec![0u64; OWNERS];
        let (mut now, mut seen, mut seq, mut fired) = (0u64, 0u64, 0u64, 0usize);
        let (mut kept_n, mut rearm_n, mut del_n) = (0, 0, 0);

        for op in 0..ops {
            let owner = rng.below(OWNERS as u64) as usize;
            match rng.below(100) {
                0..45 => {
                    // A third of the time re-arm with the owner's previous
                    // delay, as keepalive does, so the lazy rule gets exercised.
                    let after = if rng.below(3) == 0 {
                        last_after[owner]
                    } else {
                        random_delay(&mut rng)
                    };
                    last_after[owner] = after;
                    let expect = now + after.min(MAX_DELAY_MS - 1);
                    seq += 1;
                    let before = slots[owner];
                    let kept = matches!(live[owner], Some((d, _)) if d.abs_diff(expect) < lazy);
                    let armed = w.add_timer(&mut slots[owner], now, after, (owner, seq));
                    seen = now;
                    assert_eq!(armed, !kept, "op {op}: lazy rule");
                    kept_n += kept as usize;
                    rearm_n += (live[owner].is_some() && armed) as usize;
                    if armed {
                        if let Some(old) = live[owner].replace((expect, seq)) {
                            model.remove(&old);
                            stale.extend(before);
                        }
                        model.insert((expect, seq), owner);
                        assert_eq!(w.deadline(slots[owner].unwrap()), Some(expect));
                    } else {
                        assert_eq!(slots[owner], before);
                    }
                }
                45..60 => {
                    let h = slots[owner];
                    let got = w.del_timer(&mut slots[owner]);
                    assert_eq!(slots[owner], None);
                    match live[owner].take() {
                        Some(old) => {
                            model.remove(&old);
                            assert_eq!(got, Some((owner, old.1)), "op {op}: del");
                            del_n += 1;
                            stale.extend(h);
                        }
                        None => assert_eq!(got, None, "op {op}: del of unarmed"),
                    }
                }
                60..65 => {
                    if !stale.is_empty() {
                        let h = stale[rng.below(stale.len() as u64) as usize];
                        assert_eq!(w.deadline(h), None, "op {op}: stale deadline");
                        assert_eq!(w.del_timer(&mut Some(h)), None, "op {op}: stale del");
                    }
                }
                65..70 => {
                    // The clock moves but timers are only added and deleted
                    // for a while (I/O handlers run before expiry), so the
                    // wheel lags behind `now`, possibly by more than its range.
                    now += random_step(&mut rng);
                }
                _ => {
                    now += random_step(&mut rng);
                    // Sometimes the clock appears to go backwards: the wheel
                    // must go on using the latest value it has seen.
                    let passed = if rng.below(20) == 0 {
                        seen.saturating_sub(rng.below(1_000))
                    } else {
                        now
                    };
                    seen = seen.max(passed);
                    while let Some((o, s)) = w.expire_timers(passed) {
                        let (d, want) = live[o].take().expect("fired timer not armed");
                        assert_eq!(s, want, "op {op}: fired a replaced payload");
                        assert!(d <= seen, "op {op}: fired {} ms early", d - seen);
                        model.remove(&(d, s));
                        fired += 1;
                        // Leave the stale handle in the slot half of the time.
                        if rng.below(2) == 0 {
                            stale.extend(slots[o].take());
                        } else {
                            stale.extend(slots[o]);
                        }
                    }
                    if let Some((&(d, _), _)) = model.first_key_value() {
                        assert!(d > seen, "op {op}: missed a timer due at {d} (now {seen})");
                    }
                }
            }
            if stale.len() > 4_096 {
                stale.drain(..2_048);
            }
            let earliest = model.first_key_value().map(|(&(d, _), _)| d);
            match (w.find_timer(now), earliest) {
                (None, None) => {}
                (Some(wait), Some(d)) => {
                    assert!(
                        wait <= d.saturating_sub(now),
                        "op {op}: find_timer {wait} > {d} - {now}: {w:?} {model:?}"
                    )
                }
                other => panic!("op {op}: find_timer {other:?}"),
            }
            assert_eq!(w.len(), model.len());
            if op % 4_096 == 0 {
                w.check_invariants();
            }
        }
        w.check_invariants();
        assert!(fired > ops / 20, "too few timers fired ({fired})");
        assert!(
            rearm_n > ops / 50 && del_n > ops / 50,
            "too few re-arms/deletes"
        );
        assert!(
            lazy == 0 || kept_n > ops / 1_000,
            "lazy rule barely exercised"
        );
    }

    #[test]
    fn differential_against_btreemap_exact() {
        differential(0x9e37_79b9_7f4a_7c15, 0, 500_000);
    }

    #[test]
    fn differential_against_btreemap_lazy() {
        differential(0xdead_beef_cafe_f00d, TIMER_LAZY_DELAY_MS, 500_000);
    }
}
