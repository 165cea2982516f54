//! The http core module's sizing directives: the hash table sizes and the
//! memory pool sizes nginx has. holdfast range-checks them as nginx does and
//! otherwise ignores them (README, "Directives with no effect"); `-T` says so.

use super::ConfError;
use super::command::{num_slot, once, size};
use super::parser::Directive;

/// nginx's NGX_MIN_POOL_SIZE on a 64-bit system: the smallest
/// `connection_pool_size` / `request_pool_size` it accepts.
const MIN_POOL_SIZE: usize = 112;
/// nginx's `connection_pool_size` default on a 64-bit system (64 pointers).
pub(super) const CONNECTION_POOL_SIZE: usize = 512;
/// nginx's NGX_POOL_ALIGNMENT: pool sizes are multiples of it.
const POOL_ALIGNMENT: usize = 16;
/// nginx's ngx_cacheline_size on x86-64: hash bucket sizes round up to it.
const CACHELINE_SIZE: usize = 64;

/// The directives accepted, range-checked and otherwise without effect (the
/// README's "Directives with no effect" table), with the reason `-T` gives.
const NO_EFFECT: &[(&str, &str)] = &[
    (
        "client_body_in_single_buffer",
        "holdfast keeps a request body in memory in one buffer always, up to client_body_buffer_size",
    ),
    (
        "proxy_busy_buffers_size",
        "holdfast bounds a response's memory ahead of the client by proxy_buffers as a whole; the size is checked against them as nginx does",
    ),
    (
        "types_hash_max_size",
        "holdfast's hash maps size themselves",
    ),
    (
        "types_hash_bucket_size",
        "holdfast's hash maps size themselves",
    ),
    (
        "server_names_hash_max_size",
        "holdfast's hash maps size themselves",
    ),
    (
        "server_names_hash_bucket_size",
        "holdfast's hash maps size themselves",
    ),
    (
        "variables_hash_max_size",
        "holdfast's hash maps size themselves",
    ),
    (
        "variables_hash_bucket_size",
        "holdfast's hash maps size themselves",
    ),
    ("map_hash_max_size", "holdfast's hash maps size themselves"),
    (
        "map_hash_bucket_size",
        "holdfast's hash maps size themselves",
    ),
    ("connection_pool_size", "holdfast has no memory pools"),
    ("request_pool_size", "holdfast has no memory pools"),
];

/// The `-T` remarks for the [`NO_EFFECT`] directives of `tree`, in file order.
pub(super) fn no_effect_notes(tree: &[Directive], notes: &mut Vec<String>) {
    for d in tree {
        if let Some((_, why)) = NO_EFFECT.iter().find(|(name, _)| *name == d.name) {
            notes.push(format!(
                "{} {}: accepted, no effect ({why}) in {}:{}",
                d.name,
                d.args.join(" "),
                d.file.display(),
                d.line
            ));
        }
        if let Some(block) = &d.block {
            no_effect_notes(block, notes);
        }
    }
}

/// `*_hash_max_size` / `*_hash_bucket_size` as written: validated only (see
/// README, "Directives with no effect").
#[derive(Debug, Default, Clone, Copy)]
pub(super) struct HashSizes {
    max_size: Option<u64>,
    bucket_size: Option<usize>,
}

/// The main-level-only hash sizes of the http block.
#[derive(Debug, Default)]
pub(super) struct RawHttpMain {
    server_names_hash: HashSizes,
    variables_hash: HashSizes,
    map_hash: HashSizes,
}

/// The http-main-only table sizes; `Ok(false)` when `d` is not one of them.
pub(super) fn http_main_directive(d: &Directive, m: &mut RawHttpMain) -> Result<bool, ConfError> {
    match d.name.as_str() {
        "server_names_hash_max_size" => hash_max_size(d, &mut m.server_names_hash)?,
        "server_names_hash_bucket_size" => hash_bucket_size(d, &mut m.server_names_hash)?,
        "variables_hash_max_size" => hash_max_size(d, &mut m.variables_hash)?,
        "variables_hash_bucket_size" => hash_bucket_size(d, &mut m.variables_hash)?,
        "map_hash_max_size" => hash_max_size(d, &mut m.map_hash)?,
        "map_hash_bucket_size" => hash_bucket_size(d, &mut m.map_hash)?,
        _ => return Ok(false),
    }
    Ok(true)
}

/// The hash name of a `*_hash_max_size` / `*_hash_bucket_size` directive.
fn hash_name(d: &Directive) -> &str {
    d.name
        .strip_suffix("_max_size")
        .or_else(|| d.name.strip_suffix("_bucket_size"))
        .unwrap_or(&d.name)
}

/// `*_hash_max_size N`: a number, and not 0 (ngx_hash_init's check).
pub(super) fn hash_max_size(d: &Directive, h: &mut HashSizes) -> Result<(), ConfError> {
    num_slot(&mut h.max_size, d)?;
    if h.max_size == Some(0) {
        let name = hash_name(d);
        return Err(d.error(format!(
            "could not build {name}, you should increase {name}_max_size: 0"
        )));
    }
    Ok(())
}

/// `*_hash_bucket_size SIZE`: rounded up to the cache line, at most
/// 65536 − cache line (ngx_hash_init's check).
pub(super) fn hash_bucket_size(d: &Directive, h: &mut HashSizes) -> Result<(), ConfError> {
    once(&h.bucket_size, d)?;
    let v = size(d, 0)?;
    let aligned = v.div_ceil(CACHELINE_SIZE).saturating_mul(CACHELINE_SIZE);
    if aligned > 65536 - CACHELINE_SIZE {
        let name = hash_name(d);
        return Err(d.error(format!(
            "could not build {name}, too large {name}_bucket_size: {aligned}"
        )));
    }
    h.bucket_size = Some(aligned);
    Ok(())
}

/// Mirrors ngx_http_core_pool_size(): at least NGX_MIN_POOL_SIZE and a
/// multiple of NGX_POOL_ALIGNMENT.
pub(super) fn pool_size(d: &Directive, slot: &mut Option<usize>) -> Result<(), ConfError> {
    once(slot, d)?;
    let v = size(d, 0)?;
    if v < MIN_POOL_SIZE {
        return Err(d.error(format!(
            "the pool size must be no less than {MIN_POOL_SIZE}"
        )));
    }
    if v % POOL_ALIGNMENT != 0 {
        return Err(d.error(format!(
            "the pool size must be a multiple of {POOL_ALIGNMENT}"
        )));
    }
    *slot = Some(v);
    Ok(())
}
