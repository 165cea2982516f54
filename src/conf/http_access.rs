//! ngx_http_access_module's configuration: `allow` and `deny` with an
//! address, a CIDR network, `unix:` or `all`. A level with rules of its own
//! does not inherit its parent's.

use std::net::IpAddr;

use super::ConfError;
use super::command::{ANY_HTTP, Command, LMT, cmd};
use super::parser::Directive;

/// One `allow`/`deny` rule (ngx_http_access_module).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessRule {
    /// `deny` (else `allow`).
    pub deny: bool,
    /// What it matches.
    pub what: AccessMatch,
}

/// The addresses an access rule matches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AccessMatch {
    /// `all`.
    All,
    /// `unix:`: clients on a unix-domain socket.
    Unix,
    /// An IPv4 network (address and mask, host order).
    V4(u32, u32),
    /// An IPv6 network (address and mask).
    V6(u128, u128),
}

/// The module's directives.
pub(super) static COMMANDS: &[Command] = &[
    cmd("allow", ANY_HTTP | LMT, false, 1, 1),
    cmd("deny", ANY_HTTP | LMT, false, 1, 1),
];

/// `allow`/`deny`; `Ok(false)` when `d` is neither.
pub(super) fn directive(
    d: &Directive,
    rules: &mut Option<Vec<AccessRule>>,
) -> Result<bool, ConfError> {
    let deny = match d.name.as_str() {
        "allow" => false,
        "deny" => true,
        _ => return Ok(false),
    };
    let what = rule(d)?;
    rules
        .get_or_insert_with(Vec::new)
        .push(AccessRule { deny, what });
    Ok(true)
}

/// Mirrors ngx_http_access_rule(): `all`, `unix:`, or ngx_ptocidr's
/// `ADDR[/BITS]` (host bits beyond the mask are dropped with a warning).
fn rule(d: &Directive) -> Result<AccessMatch, ConfError> {
    let v = d.args[0].as_str();
    if v == "all" {
        return Ok(AccessMatch::All);
    }
    if v == "unix:" {
        return Ok(AccessMatch::Unix);
    }
    let invalid = || d.error(format!("invalid parameter \"{v}\""));
    let (addr, bits) = match v.split_once('/') {
        Some((a, b)) => (a, Some(b.parse::<u32>().map_err(|_| invalid())?)),
        None => (v, None),
    };
    let ip: IpAddr = addr.parse().map_err(|_| invalid())?;
    let (width, raw) = match ip {
        IpAddr::V4(ip) => (32, u128::from(u32::from(ip))),
        IpAddr::V6(ip) => (128, u128::from(ip)),
    };
    let (net, mask, low_bits) = network(raw, width, bits).ok_or_else(invalid)?;
    if low_bits {
        warn_low_bits(d, v);
    }
    let rule = match ip {
        // Both fit: the width is 32.
        IpAddr::V4(_) => AccessMatch::V4(net as u32, mask as u32),
        IpAddr::V6(_) => AccessMatch::V6(net, mask),
    };
    Ok(rule)
}

/// The network of `addr` (an address `width` bits wide) with a prefix of
/// `bits` (all of them when None): (network, mask, host bits were set).
fn network(addr: u128, width: u32, bits: Option<u32>) -> Option<(u128, u128, bool)> {
    let bits = bits.unwrap_or(width);
    if bits > width {
        return None;
    }
    let full = if width == 128 {
        u128::MAX
    } else {
        (1u128 << width) - 1
    };
    let mask = if bits == 0 {
        0
    } else {
        (full << (width - bits)) & full
    };
    Some((addr & mask, mask, addr & !mask & full != 0))
}

fn warn_low_bits(d: &Directive, v: &str) {
    log::warn!(
        "low address bits of {v} are meaningless in {}:{}",
        d.file.display(),
        d.line
    );
}

impl AccessRule {
    /// Does the rule apply to a client (its address, or None on a unix
    /// socket)?
    pub fn matches(&self, ip: Option<IpAddr>) -> bool {
        match (self.what, ip) {
            (AccessMatch::All, _) => true,
            (AccessMatch::Unix, None) => true,
            (AccessMatch::V4(net, mask), Some(IpAddr::V4(a))) => u32::from(a) & mask == net,
            (AccessMatch::V6(net, mask), Some(IpAddr::V6(a))) => {
                // An IPv4-mapped client matches IPv4 rules in nginx; an IPv6
                // rule compares the full address.
                u128::from(a) & mask == net
            }
            (AccessMatch::V4(net, mask), Some(IpAddr::V6(a))) => a
                .to_ipv4_mapped()
                .is_some_and(|a| u32::from(a) & mask == net),
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::network;

    #[test]
    fn networks() {
        assert_eq!(
            network(0x7f00_0001, 32, Some(8)),
            Some((0x7f00_0000, 0xff00_0000, true))
        );
        assert_eq!(
            network(0x0a00_0000, 32, Some(8)),
            Some((0x0a00_0000, 0xff00_0000, false))
        );
        assert_eq!(network(5, 32, Some(0)), Some((0, 0, true)));
        assert_eq!(network(5, 32, None), Some((5, 0xffff_ffff, false)));
        assert_eq!(network(1, 32, Some(33)), None);
        assert_eq!(network(1, 128, Some(128)), Some((1, u128::MAX, false)));
        assert_eq!(
            network(u128::MAX, 128, Some(64)).map(|n| n.1),
            Some(u128::MAX << 64)
        );
    }
}
