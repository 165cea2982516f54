//! Round-robin peer selection: nginx's `ngx_http_upstream_round_robin.c`.
//!
//! A [`PeerSet`] is one upstream's peers and their shared state (weights,
//! failures, connection counts): one per `upstream` block, or per host an
//! implicit `proxy_pass http://HOST` upstream resolves to, kept by the
//! worker for its lifetime. Each request keeps the list of peers it has
//! tried (nginx's `rrp->tried` and `rrp->peers`) and calls
//! [`PeerSet::get_peer`] for each try and [`PeerSet::free_peer`] when the
//! try is over.
//!
//! Peers are numbered in one space: the primary peers first, then the
//! backup peers, so an index also says which set it is in
//! ([`PeerSet::is_backup`]).
//!
//! Differences from nginx: times are milliseconds from the caller's cached
//! clock where nginx counts whole seconds (`ngx_time()`), so a
//! `fail_timeout` window ends to the millisecond; there are no shared-memory
//! zones, so the state is per worker (nginx without `zone` does the same).

use std::net::SocketAddr;

use crate::conf::http_upstream::{FAIL_TIMEOUT_MS, MAX_FAILS, UpstreamConf};

/// One peer (ngx_http_upstream_rr_peer_t).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Peer {
    /// The address to connect to.
    pub addr: crate::os::net::PeerAddr,
    /// The `server` as written (nginx's `peer->server`).
    pub server: String,
    /// `weight=`.
    pub weight: i64,
    /// The smooth round robin's running score.
    pub current_weight: i64,
    /// `weight`, lowered after failures and raised by one each time the
    /// peer is considered again.
    pub effective_weight: i64,
    /// Connections to it now (between `get_peer` and `free_peer`).
    pub conns: u32,
    /// `max_conns=` (0: no limit).
    pub max_conns: u32,
    /// Failures counted (reset by a success after the window was checked).
    pub fails: u32,
    /// `max_fails=` (0: failures never take the peer out).
    pub max_fails: u32,
    /// `fail_timeout=`.
    pub fail_timeout_ms: u64,
    /// When it last failed.
    pub accessed_ms: u64,
    /// When it last failed, or was chosen after a `fail_timeout` window.
    pub checked_ms: u64,
    /// `down`.
    pub down: bool,
}

impl Peer {
    /// A peer with nginx's defaults for an implicit upstream (weight 1,
    /// max_fails 1, fail_timeout 10 s).
    fn new(addr: crate::os::net::PeerAddr, server: &str) -> Peer {
        Peer {
            addr,
            server: server.to_string(),
            weight: 1,
            current_weight: 0,
            effective_weight: 1,
            conns: 0,
            max_conns: 0,
            fails: 0,
            max_fails: MAX_FAILS,
            fail_timeout_ms: FAIL_TIMEOUT_MS,
            accessed_ms: 0,
            checked_ms: 0,
            down: false,
        }
    }

    /// Taken out by `max_fails` failures, its `fail_timeout` window not yet
    /// over (the test in ngx_http_upstream_get_peer()).
    fn failed(&self, now_ms: u64) -> bool {
        self.max_fails > 0
            && self.fails >= self.max_fails
            && now_ms.saturating_sub(self.checked_ms) <= self.fail_timeout_ms
    }

    /// At its `max_conns` limit.
    fn full(&self) -> bool {
        self.max_conns > 0 && self.conns >= self.max_conns
    }
}

/// One upstream's peers (ngx_http_upstream_rr_peers_t, with its `next`
/// backup set).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerSet {
    /// The upstream's name (nginx's `peers->name`: what `$upstream_addr`
    /// shows when no peer could be chosen).
    pub name: String,
    /// The primary peers.
    pub primary: Vec<Peer>,
    /// The `backup` peers (numbered after the primary ones).
    pub backup: Vec<Peer>,
    /// One primary peer and no backup (nginx's `peers->single`): it is used
    /// whatever its failures.
    single: bool,
}

impl PeerSet {
    /// Mirrors ngx_http_upstream_init_round_robin() for an `upstream` block:
    /// each server's address is a peer, the `backup` ones in their own set.
    pub fn new(conf: &UpstreamConf) -> PeerSet {
        let peers = |backup: bool| -> Vec<Peer> {
            conf.servers
                .iter()
                .filter(|s| s.backup == backup)
                .map(|s| Peer {
                    weight: i64::from(s.weight),
                    effective_weight: i64::from(s.weight),
                    max_conns: s.max_conns,
                    max_fails: s.max_fails,
                    fail_timeout_ms: s.fail_timeout_ms,
                    down: s.down,
                    ..Peer::new(s.addr.clone(), &s.name)
                })
                .collect()
        };
        let primary = peers(false);
        let backup = peers(true);
        PeerSet {
            name: conf.name.clone(),
            single: primary.len() == 1 && backup.is_empty(),
            primary,
            backup,
        }
    }

    /// Mirrors ngx_http_upstream_init_round_robin() for an upstream
    /// `proxy_pass http://HOST[:PORT]` defines implicitly: every address
    /// `name` resolved to, weight 1, max_fails 1, fail_timeout 10 s, no
    /// backup.
    pub fn implicit(name: &str, addrs: &[SocketAddr]) -> PeerSet {
        PeerSet {
            name: name.to_string(),
            primary: addrs.iter().map(|a| Peer::new((*a).into(), name)).collect(),
            backup: Vec::new(),
            single: addrs.len() == 1,
        }
    }

    /// Mirrors ngx_http_upstream_tries() as ngx_http_upstream_init_round_robin_peer()
    /// sets `u->peer.tries`: how many peers a request may try (those not
    /// `down`, backups included).
    pub fn tries(&self) -> usize {
        self.primary
            .iter()
            .chain(&self.backup)
            .filter(|p| !p.down)
            .count()
    }

    /// The peer numbered `i` (primary peers first, then backup).
    pub fn peer(&self, i: usize) -> Option<&Peer> {
        match i.checked_sub(self.primary.len()) {
            None => self.primary.get(i),
            Some(b) => self.backup.get(b),
        }
    }

    /// The peer numbered `i`, to update.
    fn peer_mut(&mut self, i: usize) -> Option<&mut Peer> {
        match i.checked_sub(self.primary.len()) {
            None => self.primary.get_mut(i),
            Some(b) => self.backup.get_mut(b),
        }
    }

    /// Is peer `i` a `backup` one?
    pub fn is_backup(&self, i: usize) -> bool {
        i >= self.primary.len()
    }

    /// Mirrors ngx_http_upstream_get_round_robin_peer(): the peer for a
    /// request's next try, given the peers it has `tried` (every index an
    /// earlier call returned for it); None is nginx's NGX_BUSY ("no live
    /// upstreams").
    ///
    /// - A single peer (one primary, no backup) is returned unless it is
    ///   `down` or at `max_conns`, whatever its failures and `tried`.
    /// - Otherwise the primary set is searched (`get_peer_in`); when it has
    ///   nothing usable, the backup set is, and a request that has tried a
    ///   backup peer stays in the backup set (nginx switches `rrp->peers`).
    /// - When nothing is usable, the failure counts are left alone: peers
    ///   come back when their `fail_timeout` ends (nginx since 1.11.5; before,
    ///   it reset every peer's `fails`).
    ///
    /// The chosen peer's `conns` goes up by one until [`free_peer`](Self::free_peer).
    ///
    /// Differences: `tried` is a list, not a bitmap, and says which set the
    /// request is in.
    pub fn get_peer(&mut self, now_ms: u64, tried: &[usize]) -> Option<usize> {
        let n = self.primary.len();
        let in_backup = tried.iter().any(|&t| t >= n);
        let found = if in_backup {
            None
        } else if self.single {
            self.primary
                .first()
                .filter(|p| !p.down && !p.full())
                .map(|_| 0)
        } else {
            get_peer_in(&mut self.primary, now_ms, |i| tried.contains(&i))
        };
        let found = match found {
            Some(i) => Some(i),
            None if self.backup.is_empty() => None,
            None => {
                get_peer_in(&mut self.backup, now_ms, |i| tried.contains(&(n + i))).map(|i| n + i)
            }
        };
        if let Some(p) = found.and_then(|i| self.peer_mut(i)) {
            p.conns += 1;
        }
        found
    }

    /// Mirrors ngx_http_upstream_free_round_robin_peer(): the try on `peer`
    /// is over, `failed` or not.
    ///
    /// - A single peer's failures are not counted (any left are cleared).
    /// - A failure counts (`fails`, `accessed`, `checked` = now) and lowers
    ///   `effective_weight` by `weight / max_fails` (not below 0).
    /// - A success after the peer was chosen past its `fail_timeout`
    ///   (`accessed < checked`) clears `fails`.
    ///
    /// Returns true when this failure reached `max_fails`: the caller logs
    /// nginx's `upstream server temporarily disabled` warning (with the
    /// request's context, which this module does not have).
    pub fn free_peer(&mut self, peer: usize, failed: bool, now_ms: u64) -> bool {
        let single = self.single;
        let Some(p) = self.peer_mut(peer) else {
            return false;
        };
        p.conns = p.conns.saturating_sub(1);
        if single {
            p.fails = 0;
            return false;
        }
        if !failed {
            if p.accessed_ms < p.checked_ms {
                p.fails = 0;
            }
            return false;
        }
        p.fails = p.fails.saturating_add(1);
        p.accessed_ms = now_ms;
        p.checked_ms = now_ms;
        let mut disabled = false;
        if p.max_fails > 0 {
            p.effective_weight -= p.weight / i64::from(p.max_fails);
            disabled = p.fails >= p.max_fails;
        }
        if p.effective_weight < 0 {
            p.effective_weight = 0;
        }
        disabled
    }
}

/// Mirrors ngx_http_upstream_get_peer(): nginx's smooth weighted round
/// robin over one set. Every usable peer (not `tried`, not `down`, not taken
/// out by failures, not at `max_conns`) gains its `effective_weight`, which
/// creeps back up by one towards `weight`; the one with the highest
/// `current_weight` (the first of equals) is chosen and loses the total.
/// Weights 5, 1, 1 give a a b a c a a.
///
/// A peer chosen after its `fail_timeout` window has its `checked` time
/// moved to now, so a success clears its failures.
fn get_peer_in(peers: &mut [Peer], now_ms: u64, tried: impl Fn(usize) -> bool) -> Option<usize> {
    // The best so far: its index and current_weight.
    let mut best: Option<(usize, i64)> = None;
    let mut total: i64 = 0;
    for (i, peer) in peers.iter_mut().enumerate() {
        if tried(i) || peer.down || peer.failed(now_ms) || peer.full() {
            continue;
        }
        peer.current_weight += peer.effective_weight;
        total += peer.effective_weight;
        if peer.effective_weight < peer.weight {
            peer.effective_weight += 1;
        }
        if best.is_none_or(|(_, w)| peer.current_weight > w) {
            best = Some((i, peer.current_weight));
        }
    }
    let (b, _) = best?;
    let peer = peers.get_mut(b)?;
    peer.current_weight -= total;
    if now_ms.saturating_sub(peer.checked_ms) > peer.fail_timeout_ms {
        peer.checked_ms = now_ms;
    }
    Some(b)
}

/// Where the peer sets made per request begin in [`PeerSets`]' numbering
/// (far above any count of `upstream` blocks).
pub const RESOLVED_BASE: usize = usize::MAX / 2 + 1;

/// A cycle's peer sets: the `upstream` blocks' (numbered by block), and
/// those made for one request from the addresses a name resolved to
/// (nginx's ngx_http_upstream_create_round_robin_peer(), numbered from
/// [`RESOLVED_BASE`]). The latter live until the request is freed, so a
/// reload, which replaces the blocks' sets, leaves them alone.
#[derive(Debug, Default)]
pub struct PeerSets {
    blocks: Vec<PeerSet>,
    resolved: slab::Slab<PeerSet>,
}

impl PeerSets {
    /// The `upstream` blocks' sets, in block order (replacing the old ones).
    pub fn set_blocks(&mut self, blocks: Vec<PeerSet>) {
        self.blocks = blocks;
    }

    /// The set numbered `i`.
    pub fn get(&self, i: usize) -> Option<&PeerSet> {
        match i.checked_sub(RESOLVED_BASE) {
            None => self.blocks.get(i),
            Some(r) => self.resolved.get(r),
        }
    }

    /// The set numbered `i`, to update.
    pub fn get_mut(&mut self, i: usize) -> Option<&mut PeerSet> {
        match i.checked_sub(RESOLVED_BASE) {
            None => self.blocks.get_mut(i),
            Some(r) => self.resolved.get_mut(r),
        }
    }

    /// Mirrors ngx_http_upstream_create_round_robin_peer(): one request's
    /// set for the addresses `name` resolved to (weight 1, max_fails 1,
    /// fail_timeout 10 s); its number.
    pub fn create_round_robin_peer(&mut self, name: &str, addrs: &[SocketAddr]) -> usize {
        RESOLVED_BASE + self.resolved.insert(PeerSet::implicit(name, addrs))
    }

    /// The request that made set `i` is done with it.
    pub fn free_resolved(&mut self, i: usize) {
        if let Some(r) = i.checked_sub(RESOLVED_BASE)
            && self.resolved.contains(r)
        {
            self.resolved.remove(r);
        }
    }

    /// Sets made per request and not freed yet.
    pub fn resolved_len(&self) -> usize {
        self.resolved.len()
    }
}

impl std::ops::Index<usize> for PeerSets {
    type Output = PeerSet;

    fn index(&self, i: usize) -> &PeerSet {
        match i.checked_sub(RESOLVED_BASE) {
            None => &self.blocks[i],
            Some(r) => &self.resolved[r],
        }
    }
}

impl std::ops::IndexMut<usize> for PeerSets {
    fn index_mut(&mut self, i: usize) -> &mut PeerSet {
        match i.checked_sub(RESOLVED_BASE) {
            None => &mut self.blocks[i],
            Some(r) => &mut self.resolved[r],
        }
    }
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::*;
    use crate::conf::http_upstream::UpstreamServer;

    /// An upstream `u` with servers `(port, weight)` on 127.0.0.1 and nginx's
    /// defaults otherwise; `edit` adjusts them.
    fn conf(servers: &[(u16, u32)], edit: impl Fn(usize, &mut UpstreamServer)) -> UpstreamConf {
        UpstreamConf {
            name: "u".into(),
            servers: servers
                .iter()
                .enumerate()
                .map(|(i, &(port, weight))| {
                    let mut s = UpstreamServer {
                        addr: SocketAddr::from(([127, 0, 0, 1], port)).into(),
                        name: format!("127.0.0.1:{port}"),
                        weight,
                        max_conns: 0,
                        max_fails: 1,
                        fail_timeout_ms: 10_000,
                        backup: false,
                        down: false,
                    };
                    edit(i, &mut s);
                    s
                })
                .collect(),
            keepalive: None,
            keepalive_requests: 1000,
            keepalive_time_ms: 3_600_000,
            keepalive_timeout_ms: 60_000,
            file: PathBuf::from("/fake/holdfast.conf"),
            line: 1,
        }
    }

    fn plain(servers: &[(u16, u32)]) -> PeerSet {
        PeerSet::new(&conf(servers, |_, _| {}))
    }

    /// `n` requests of one try each, every one a success: the ports chosen.
    fn run(set: &mut PeerSet, now_ms: u64, n: usize) -> Vec<u16> {
        (0..n)
            .map(|_| {
                let i = set.get_peer(now_ms, &[]).expect("a peer");
                set.free_peer(i, false, now_ms);
                set.peer(i).unwrap().addr.port()
            })
            .collect()
    }

    #[test]
    fn smooth_weighted_sequence_5_1_1() {
        let mut set = plain(&[(1, 5), (2, 1), (3, 1)]);
        // nginx's documented order: a a b a c a a, then again.
        let once = vec![1, 1, 2, 1, 3, 1, 1];
        assert_eq!(run(&mut set, 0, 7), once);
        assert_eq!(run(&mut set, 0, 7), once);
        assert!(set.primary.iter().all(|p| p.current_weight == 0));
        assert!(set.primary.iter().all(|p| p.conns == 0));
    }

    #[test]
    fn equal_weights_take_turns() {
        let mut set = plain(&[(1, 1), (2, 1), (3, 1)]);
        assert_eq!(run(&mut set, 0, 6), vec![1, 2, 3, 1, 2, 3]);
        // Weights 2 and 1 interleave rather than bunch.
        let mut set = plain(&[(1, 2), (2, 1)]);
        assert_eq!(run(&mut set, 0, 6), vec![1, 2, 1, 1, 2, 1]);
    }

    #[test]
    fn down_peers_are_skipped() {
        let mut set = PeerSet::new(&conf(&[(1, 1), (2, 1), (3, 1)], |i, s| s.down = i == 1));
        assert_eq!(run(&mut set, 0, 4), vec![1, 3, 1, 3]);
        assert_eq!(set.tries(), 2);
        let mut set = PeerSet::new(&conf(&[(1, 1), (2, 1)], |_, s| s.down = true));
        assert_eq!(set.get_peer(0, &[]), None);
        assert_eq!(set.tries(), 0);
        // A single peer marked down is not used either.
        let mut set = PeerSet::new(&conf(&[(1, 1)], |_, s| s.down = true));
        assert_eq!(set.get_peer(0, &[]), None);
    }

    #[test]
    fn tried_peers_are_excluded() {
        let mut set = plain(&[(1, 1), (2, 1), (3, 1)]);
        let mut tried = Vec::new();
        for _ in 0..3 {
            let i = set.get_peer(0, &tried).unwrap();
            assert!(!tried.contains(&i));
            set.free_peer(i, true, 0);
            tried.push(i);
        }
        tried.sort_unstable();
        assert_eq!(tried, vec![0, 1, 2]);
        // Every peer tried and no backup: NGX_BUSY.
        assert_eq!(set.get_peer(0, &tried), None);
        assert_eq!(set.tries(), 3);
    }

    #[test]
    fn max_fails_and_fail_timeout() {
        let mut set = plain(&[(1, 1), (2, 1)]);
        // Port 1 fails once (max_fails=1): out for fail_timeout (10 s).
        let a = set.get_peer(1000, &[]).unwrap();
        assert_eq!(a, 0);
        assert!(set.free_peer(a, true, 1000), "disabled: log the warning");
        assert_eq!(set.primary[0].effective_weight, 0);
        assert_eq!(run(&mut set, 2000, 3), vec![2, 2, 2]);
        // The window includes its last millisecond.
        assert_eq!(run(&mut set, 11_000, 2), vec![2, 2]);
        // After it the peer is usable again, its effective weight climbing
        // back from 0 (so port 2 still wins twice); once chosen, its
        // `checked` moves on...
        assert_eq!(run(&mut set, 11_001, 2), vec![2, 2]);
        let i = set.get_peer(11_001, &[]).unwrap();
        assert_eq!(i, 0);
        assert_eq!(set.primary[0].checked_ms, 11_001);
        // ...so a success clears its failures.
        assert!(!set.free_peer(i, false, 11_002));
        assert_eq!(set.primary[0].fails, 0);
        // A success that was not a re-check leaves `fails` as it was.
        let mut set = PeerSet::new(&conf(&[(1, 1), (2, 1)], |_, s| s.max_fails = 3));
        let i = set.get_peer(0, &[]).unwrap();
        assert!(!set.free_peer(i, true, 50));
        let j = set.get_peer(60, &[]).unwrap();
        set.free_peer(j, false, 60);
        let i2 = set.get_peer(70, &[]).unwrap();
        assert_eq!(i2, i);
        set.free_peer(i2, false, 70);
        assert_eq!(set.primary[i].fails, 1);
    }

    #[test]
    fn failures_lower_the_effective_weight_which_recovers() {
        let mut set = PeerSet::new(&conf(&[(1, 10), (2, 10)], |_, s| s.max_fails = 2));
        let i = set.get_peer(0, &[]).unwrap();
        assert!(!set.free_peer(i, true, 0), "1 of 2 failures");
        assert_eq!(set.primary[i].effective_weight, 5);
        assert!(set.free_peer(i, true, 0), "2 of 2: disabled");
        assert_eq!(set.primary[i].effective_weight, 0);
        // Back after the window, it climbs by one per selection round.
        let _ = run(&mut set, 20_000, 1);
        assert_eq!(set.primary[i].effective_weight, 1);
        let _ = run(&mut set, 20_000, 8);
        assert_eq!(set.primary[i].effective_weight, 9);
    }

    #[test]
    fn max_fails_zero_never_takes_a_peer_out() {
        let mut set = PeerSet::new(&conf(&[(1, 1), (2, 1)], |_, s| s.max_fails = 0));
        for t in 0..10 {
            let i = set.get_peer(t, &[]).unwrap();
            assert!(!set.free_peer(i, true, t));
        }
        assert_eq!(run(&mut set, 10, 4), vec![1, 2, 1, 2]);
        assert!(set.primary.iter().all(|p| p.effective_weight == 1));
    }

    #[test]
    fn all_failed_peers_stay_out_until_their_window_ends() {
        let mut set = plain(&[(1, 1), (2, 1)]);
        for _ in 0..2 {
            let i = set.get_peer(0, &[]).unwrap();
            set.free_peer(i, true, 0);
        }
        // nginx ≥ 1.11.5 does not reset the counts when nothing is left.
        assert_eq!(set.get_peer(5000, &[]), None);
        assert_eq!(set.get_peer(5000, &[]), None);
        assert!(set.primary.iter().all(|p| p.fails == 1));
        // Both back after 10 s, their effective weights rising from 0.
        assert_eq!(run(&mut set, 10_001, 4), vec![2, 2, 1, 2]);
        assert!(set.primary.iter().all(|p| p.fails == 0));
    }

    #[test]
    fn a_single_peer_is_always_chosen() {
        let mut set = plain(&[(7, 3)]);
        assert_eq!(set.tries(), 1);
        for t in 0..5 {
            assert_eq!(set.get_peer(t, &[0]), Some(0), "tried is ignored too");
            assert!(!set.free_peer(0, true, t), "failures are not counted");
        }
        assert_eq!(set.primary[0].fails, 0);
        assert_eq!(set.primary[0].effective_weight, 3);
        // An implicit upstream of one address behaves the same.
        let mut set = PeerSet::implicit("h:80", &[SocketAddr::from(([127, 0, 0, 1], 80))]);
        assert_eq!(set.get_peer(0, &[]), Some(0));
        set.free_peer(0, true, 0);
        assert_eq!(set.get_peer(1, &[]), Some(0));
        assert_eq!(set.primary[0].server, "h:80");
    }

    #[test]
    fn one_primary_with_a_backup_is_not_single() {
        let mut set = PeerSet::new(&conf(&[(1, 1), (2, 1)], |i, s| s.backup = i == 1));
        assert_eq!(set.tries(), 2);
        assert_eq!(set.get_peer(0, &[]), Some(0));
        assert!(set.free_peer(0, true, 0));
        // The primary is out: the backup answers, and is numbered after it.
        assert_eq!(set.get_peer(1, &[]), Some(1));
        assert!(set.is_backup(1) && !set.is_backup(0));
        assert_eq!(set.peer(1).unwrap().addr.port(), 2);
        set.free_peer(1, false, 1);
        // The primary's window over, it is used again.
        assert_eq!(set.get_peer(10_001, &[]), Some(0));
    }

    #[test]
    fn backup_set_when_primaries_are_unusable() {
        let mut set = PeerSet::new(&conf(&[(1, 1), (2, 1), (3, 1), (4, 1)], |i, s| {
            s.backup = i >= 2;
            s.down = i == 0;
        }));
        assert_eq!(set.tries(), 3);
        // A request: primary 1 fails, then the backups take over...
        let mut tried = vec![set.get_peer(0, &[]).unwrap()];
        assert_eq!(tried, vec![1]);
        set.free_peer(1, true, 0);
        let b = set.get_peer(0, &tried).unwrap();
        assert!(set.is_backup(b));
        tried.push(b);
        set.free_peer(b, true, 0);
        // ...and the request stays with them for its next try.
        let b2 = set.get_peer(0, &tried).unwrap();
        assert!(set.is_backup(b2) && b2 != b);
        tried.push(b2);
        set.free_peer(b2, false, 0);
        assert_eq!(set.get_peer(0, &tried), None);
        // The next request: primary 1 still out, backups in turn (the one
        // that failed is out as well).
        assert_eq!(run(&mut set, 1, 2), vec![b2 as u16 + 1; 2]);
        // Without backups nothing is left once the primaries are out.
        let mut set = PeerSet::new(&conf(&[(1, 1)], |_, s| s.down = true));
        assert_eq!(set.get_peer(0, &[]), None);
    }

    #[test]
    fn max_conns_limits_concurrent_use() {
        let mut set = PeerSet::new(&conf(&[(1, 5), (2, 1)], |i, s| {
            s.max_conns = if i == 0 { 1 } else { 0 }
        }));
        let a = set.get_peer(0, &[]).unwrap();
        assert_eq!((a, set.primary[0].conns), (0, 1));
        // Port 1 is busy: the others get the work.
        assert_eq!(set.get_peer(0, &[]), Some(1));
        assert_eq!(set.get_peer(0, &[]), Some(1));
        set.free_peer(a, false, 0);
        assert_eq!(set.primary[0].conns, 0);
        assert_eq!(set.get_peer(0, &[]), Some(0));
        // A single peer at its limit is busy too.
        let mut set = PeerSet::new(&conf(&[(1, 1)], |_, s| s.max_conns = 1));
        assert_eq!(set.get_peer(0, &[]), Some(0));
        assert_eq!(set.get_peer(0, &[]), None);
        set.free_peer(0, false, 0);
        assert_eq!(set.get_peer(0, &[]), Some(0));
    }

    #[test]
    fn implicit_upstream_of_several_addresses() {
        let addrs = [
            SocketAddr::from(([127, 0, 0, 1], 80)),
            SocketAddr::from(([127, 0, 0, 2], 80)),
        ];
        let mut set = PeerSet::implicit("example:80", &addrs);
        assert_eq!((set.tries(), set.name.as_str()), (2, "example:80"));
        let i = set.get_peer(0, &[]).unwrap();
        set.free_peer(i, true, 0);
        // Not single: the failed address is out for 10 s.
        assert_eq!(run(&mut set, 1, 2), vec![80, 80]);
        assert_eq!(set.get_peer(2, &[1 - i]), None);
        assert_eq!(set.peer(2), None);
        assert!(!set.free_peer(9, true, 0), "an unknown index is ignored");
    }
}
