//! The map module at run time: ngx_http_map_variable().
//!
//! The source value is evaluated, looked up (exact, wildcards with
//! `hostnames`, regexes in order, `default`), and the value's template is
//! evaluated; a regex key's captures (`$1`, named groups) are those of that
//! match, for that value only. The value is kept for the rest of the
//! request unless the map is `volatile` (nginx's variable cache).

use std::cell::Cell;

use crate::conf::variables::{Segment, Variable};
use crate::core::cycle::Cycle;
use crate::http::variables::variable_value;
use crate::os::io::Transport;

/// How deep maps may refer to maps before the lookup is a cycle (nginx:
/// "cycle while evaluating variable").
const MAX_DEPTH: u32 = 32;

thread_local! {
    static DEPTH: Cell<u32> = const { Cell::new(0) };
}

/// Mirrors ngx_http_map_variable(): the value of the map `index` for the
/// connection's request, appended to `out`; false when it has none.
pub fn map_variable<S: Transport>(
    cy: &Cycle<S>,
    key: usize,
    index: u16,
    out: &mut Vec<u8>,
) -> bool {
    let Some(map) = cy
        .conf
        .http
        .as_ref()
        .and_then(|h| h.maps.get(usize::from(index)))
        .cloned()
    else {
        return false;
    };
    let slot = usize::from(index);
    if !map.volatile
        && let Some(r) = cy.conns[key].req()
        && let Some(Some(v)) = r.map_cache.borrow().get(slot)
    {
        out.extend_from_slice(v);
        return true;
    }
    let start = out.len();
    let depth = DEPTH.with(|d| d.get());
    if depth >= MAX_DEPTH {
        log::error!(
            "*{} cycle while evaluating variable \"{}\"",
            cy.conns[key].number,
            Variable::Map(index).name()
        );
        return false;
    }
    DEPTH.with(|d| d.set(depth + 1));
    let mut src = Vec::new();
    crate::http::variables::complex_value(cy, key, &map.source, &mut src);
    let mut caps: Option<(regex::bytes::Regex, Vec<(usize, usize)>)> = None;
    let found = map.find(&src, &mut |re, s| {
        let mut locs = re.capture_locations();
        if re.captures_read(&mut locs, s).is_none() {
            return false;
        }
        let spans = (0..locs.len())
            .map(|i| locs.get(i).unwrap_or((0, 0)))
            .collect();
        caps = Some((re.clone(), spans));
        true
    });
    let found = found.cloned();
    let ok = match found {
        Some(value) => {
            for seg in value.iter() {
                match seg {
                    Segment::Literal(l) => out.extend_from_slice(l),
                    Segment::Var(Variable::Capture(n)) if caps.is_some() => {
                        if let Some((_, spans)) = &caps
                            && let Some(&(s, e)) = spans.get(usize::from(*n))
                        {
                            out.extend_from_slice(src.get(s..e).unwrap_or_default());
                        }
                    }
                    Segment::Var(Variable::NamedCapture(name))
                        if caps.as_ref().is_some_and(|(re, _)| {
                            re.capture_names()
                                .flatten()
                                .any(|n| n.eq_ignore_ascii_case(name))
                        }) =>
                    {
                        if let Some((re, spans)) = &caps {
                            let i = re
                                .capture_names()
                                .position(|n| n.is_some_and(|n| n.eq_ignore_ascii_case(name)));
                            if let Some(&(s, e)) = i.and_then(|i| spans.get(i)) {
                                out.extend_from_slice(src.get(s..e).unwrap_or_default());
                            }
                        }
                    }
                    Segment::Var(v) => {
                        variable_value(cy, key, v, out);
                    }
                }
            }
            true
        }
        // No match and no `default`: the empty string, as nginx's null value.
        None => true,
    };
    DEPTH.with(|d| d.set(depth));
    if !map.volatile
        && let Some(r) = cy.conns[key].req()
    {
        let mut cache = r.map_cache.borrow_mut();
        if cache.len() <= slot {
            cache.resize(slot + 1, None);
        }
        cache[slot] = Some(out[start..].to_vec());
    }
    ok
}
