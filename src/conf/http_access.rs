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
    let rule = match ip {
        IpAddr::V4(ip) => {
            let bits = bits.unwrap_or(32);
            if bits > 32 {
                return Err(invalid());
            }
            let mask = if bits == 0 {
                0
            } else {
                u32::MAX << (32 - bits)
            };
            let a = u32::from(ip);
            if a & !mask != 0 {
                warn_low_bits(d, v);
            }
            AccessMatch::V4(a & mask, mask)
        }
        IpAddr::V6(ip) => {
            let bits = bits.unwrap_or(128);
            if bits > 128 {
                return Err(invalid());
            }
            let mask = if bits == 0 {
                0
            } else {
                u128::MAX << (128 - bits)
            };
            let a = u128::from(ip);
            if a & !mask != 0 {
                warn_low_bits(d, v);
            }
            AccessMatch::V6(a & mask, mask)
        }
    };
    Ok(rule)
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
