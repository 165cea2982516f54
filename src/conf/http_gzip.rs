//! The compression modules' configuration: ngx_http_gzip_filter_module
//! (`gzip`, `gzip_types`, ...), the gzip parts of ngx_http_core_module
//! (`gzip_vary`, `gzip_http_version`, `gzip_proxied`, `gzip_disable`),
//! ngx_http_gzip_static_module (`gzip_static`), ngx_http_gunzip_filter_module
//! (`gunzip`, `gunzip_buffers`) and holdfast's `brotli_static` (the name
//! google/ngx_brotli gives it, so a configuration written for that module
//! runs unchanged; holdfast has the static half only).

use std::rc::Rc;

use super::ConfError;
use super::command::{ANY_HTTP, Command, LIF, bad, cmd, flag, once, size};
use super::parser::Directive;
use super::values::parse_number;

/// The modules' directives.
pub(super) static COMMANDS: &[Command] = &[
    cmd("gzip", ANY_HTTP | LIF, false, 1, 1),
    cmd("gzip_buffers", ANY_HTTP, false, 2, 2),
    cmd("gzip_types", ANY_HTTP, false, 1, super::command::MANY),
    cmd("gzip_comp_level", ANY_HTTP, false, 1, 1),
    cmd("gzip_window", ANY_HTTP, false, 1, 1),
    cmd("gzip_min_length", ANY_HTTP, false, 1, 1),
    cmd("gzip_vary", ANY_HTTP, false, 1, 1),
    cmd("gzip_http_version", ANY_HTTP, false, 1, 1),
    cmd("gzip_proxied", ANY_HTTP, false, 1, super::command::MANY),
    cmd("gzip_disable", ANY_HTTP, false, 1, super::command::MANY),
    cmd("gzip_static", ANY_HTTP, false, 1, 1),
    cmd("gunzip", ANY_HTTP, false, 1, 1),
    cmd("gunzip_buffers", ANY_HTTP, false, 2, 2),
    cmd("brotli_static", ANY_HTTP, false, 1, 1),
];

/// nginx's default `gzip_types` (ngx_http_html_default_types).
pub const GZIP_TYPES_DEFAULT: &[&str] = &["text/html"];
/// `gzip_min_length` default.
pub const GZIP_MIN_LENGTH: u64 = 20;
/// `gzip_buffers` default (32 4k on x86-64: one memory page each).
pub const GZIP_BUFFERS: (usize, usize) = (32, 4096);
/// `gunzip_buffers` default.
pub const GUNZIP_BUFFERS: (usize, usize) = (32, 4096);

/// `gzip_proxied` bits (nginx's NGX_HTTP_GZIP_PROXIED_*).
pub mod proxied {
    /// `off` (default).
    pub const OFF: u16 = 0x0002;
    /// `expired`.
    pub const EXPIRED: u16 = 0x0004;
    /// `no-cache`.
    pub const NO_CACHE: u16 = 0x0008;
    /// `no-store`.
    pub const NO_STORE: u16 = 0x0010;
    /// `private`.
    pub const PRIVATE: u16 = 0x0020;
    /// `no_last_modified`.
    pub const NO_LM: u16 = 0x0040;
    /// `no_etag`.
    pub const NO_ETAG: u16 = 0x0080;
    /// `auth`.
    pub const AUTH: u16 = 0x0100;
    /// `any`.
    pub const ANY: u16 = 0x0200;
}

/// `gzip_static` / `brotli_static`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum StaticMode {
    /// Off (default).
    #[default]
    Off,
    /// The compressed file answers clients that accept the encoding.
    On,
    /// The compressed file answers every client.
    Always,
}

/// `gzip_types`: the listed types, or `*` for any.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MimeTypes {
    /// `*`.
    Any,
    /// Lower-case types.
    List(Rc<[String]>),
}

impl MimeTypes {
    /// Mirrors ngx_http_test_content_type(): the type without parameters,
    /// compared ignoring case.
    pub fn matches(&self, content_type: &[u8]) -> bool {
        let base = content_type
            .split(|&b| b == b';')
            .next()
            .unwrap_or_default();
        let base = crate::http::parse::trim(base);
        match self {
            MimeTypes::Any => true,
            MimeTypes::List(l) => l.iter().any(|t| base.eq_ignore_ascii_case(t.as_bytes())),
        }
    }
}

/// The merged settings of a level.
#[derive(Debug, Clone, PartialEq)]
pub struct GzipConf {
    /// `gzip on|off`.
    pub enable: bool,
    /// `gzip_types`.
    pub types: MimeTypes,
    /// `gzip_min_length`: shorter responses (by Content-Length) go as they are.
    pub min_length: u64,
    /// `gzip_comp_level` 1..9.
    pub comp_level: u32,
    /// `gzip_window`: the deflate window in bits (9..15).
    pub window_bits: u8,
    /// `gzip_buffers NUM SIZE`: compressed output goes out in chunks of
    /// SIZE; at most NUM × SIZE of it waits for the client before the
    /// input is read on.
    pub buffers: (usize, usize),
    /// `gzip_vary`: `Vary: Accept-Encoding` where a compression module
    /// looked at the request.
    pub vary: bool,
    /// `gzip_http_version 1.0|1.1`: the lowest request version served
    /// compressed (true: 1.1, the default).
    pub http11_only: bool,
    /// `gzip_proxied` bits.
    pub proxied: u16,
    /// `gzip_disable msie6`.
    pub disable_msie6: bool,
    /// `gzip_disable REGEX...` on User-Agent.
    pub disable: Option<Rc<[super::LocRegex]>>,
    /// `gzip_static`.
    pub gzip_static: StaticMode,
    /// `brotli_static`.
    pub brotli_static: StaticMode,
    /// `gunzip on|off`.
    pub gunzip: bool,
    /// `gunzip_buffers NUM SIZE` (as `buffers`, for the decompressed output).
    pub gunzip_buffers: (usize, usize),
}

impl Default for GzipConf {
    fn default() -> Self {
        GzipConf {
            enable: false,
            types: MimeTypes::List(GZIP_TYPES_DEFAULT.iter().map(|s| s.to_string()).collect()),
            min_length: GZIP_MIN_LENGTH,
            comp_level: 1,
            window_bits: 15,
            buffers: GZIP_BUFFERS,
            vary: false,
            http11_only: true,
            proxied: proxied::OFF,
            disable_msie6: false,
            disable: None,
            gzip_static: StaticMode::Off,
            brotli_static: StaticMode::Off,
            gunzip: false,
            gunzip_buffers: GUNZIP_BUFFERS,
        }
    }
}

/// One level's settings as written.
#[derive(Debug, Default)]
pub(super) struct RawGzip {
    enable: Option<bool>,
    types: Option<MimeTypes>,
    min_length: Option<u64>,
    comp_level: Option<u32>,
    window_bits: Option<u8>,
    buffers: Option<(usize, usize)>,
    vary: Option<bool>,
    http11_only: Option<bool>,
    proxied: Option<u16>,
    disable: Option<(bool, Vec<super::LocRegex>)>,
    gzip_static: Option<StaticMode>,
    brotli_static: Option<StaticMode>,
    gunzip: Option<bool>,
    gunzip_buffers: Option<(usize, usize)>,
}

impl RawGzip {
    /// Nothing set at this level (the parent's settings are shared as they are).
    fn is_empty(&self) -> bool {
        self.enable.is_none()
            && self.types.is_none()
            && self.min_length.is_none()
            && self.comp_level.is_none()
            && self.window_bits.is_none()
            && self.buffers.is_none()
            && self.vary.is_none()
            && self.http11_only.is_none()
            && self.proxied.is_none()
            && self.disable.is_none()
            && self.gzip_static.is_none()
            && self.brotli_static.is_none()
            && self.gunzip.is_none()
            && self.gunzip_buffers.is_none()
    }
}

fn set<T>(slot: &mut Option<T>, d: &Directive, v: T) -> Result<(), ConfError> {
    once(slot, d)?;
    *slot = Some(v);
    Ok(())
}

/// `NUM SIZE` of gzip_buffers / gunzip_buffers (ngx_conf_set_bufs_slot).
fn bufs(d: &Directive) -> Result<(usize, usize), ConfError> {
    let n = parse_number(&d.args[0])
        .ok()
        .filter(|n| *n > 0)
        .ok_or_else(|| bad(d, "invalid value"))?;
    Ok((n as usize, size(d, 1)?))
}

fn static_mode(d: &Directive) -> Result<StaticMode, ConfError> {
    match d.args[0].to_ascii_lowercase().as_str() {
        "on" => Ok(StaticMode::On),
        "off" => Ok(StaticMode::Off),
        "always" => Ok(StaticMode::Always),
        _ => Err(d.error(format!(
            "invalid value \"{}\" in \"{}\" directive, it must be \"on\", \"off\" or \"always\"",
            d.args[0], d.name
        ))),
    }
}

/// The modules' directives at any http level; `Ok(false)` when `d` is not one.
pub(super) fn directive(d: &Directive, raw: &mut RawGzip) -> Result<bool, ConfError> {
    let arg = d.args.first().map_or("", String::as_str);
    match d.name.as_str() {
        "gzip" => set(&mut raw.enable, d, flag(d)?)?,
        "gunzip" => set(&mut raw.gunzip, d, flag(d)?)?,
        "gzip_vary" => set(&mut raw.vary, d, flag(d)?)?,
        "gzip_buffers" => set(&mut raw.buffers, d, bufs(d)?)?,
        "gunzip_buffers" => set(&mut raw.gunzip_buffers, d, bufs(d)?)?,
        "gzip_static" => set(&mut raw.gzip_static, d, static_mode(d)?)?,
        "brotli_static" => set(&mut raw.brotli_static, d, static_mode(d)?)?,
        "gzip_min_length" => {
            let n = super::values::parse_size(arg).map_err(|_| bad(d, "invalid value"))?;
            set(&mut raw.min_length, d, n as u64)?;
        }
        "gzip_comp_level" => {
            // ngx_conf_check_num_bounds: 1..9.
            let n = parse_number(arg).map_err(|_| bad(d, "invalid number"))?;
            if !(1..=9).contains(&n) {
                return Err(d.error("value must be between 1 and 9"));
            }
            set(&mut raw.comp_level, d, n as u32)?;
        }
        "gzip_window" => {
            // ngx_http_gzip_window: a power of two from 512 to 32k.
            let n = super::values::parse_size(arg).map_err(|_| bad(d, "invalid value"))?;
            let bits = (9..=15u8).find(|b| 1usize << b == n);
            let Some(bits) = bits else {
                return Err(d.error("must be 512, 1k, 2k, 4k, 8k, 16k, or 32k"));
            };
            set(&mut raw.window_bits, d, bits)?;
        }
        "gzip_http_version" => {
            let v = match arg {
                "1.0" => false,
                "1.1" => true,
                _ => return Err(d.error(format!("invalid value \"{arg}\""))),
            };
            set(&mut raw.http11_only, d, v)?;
        }
        "gzip_types" => {
            // ngx_http_types_slot: `*` anywhere means any type.
            let t = if d.args.iter().any(|a| a == "*") {
                MimeTypes::Any
            } else {
                let mut l: Vec<String> = GZIP_TYPES_DEFAULT.iter().map(|s| s.to_string()).collect();
                for a in &d.args {
                    let a = a.to_ascii_lowercase();
                    if !l.contains(&a) {
                        l.push(a);
                    }
                }
                MimeTypes::List(Rc::from(l))
            };
            set(&mut raw.types, d, t)?;
        }
        "gzip_proxied" => {
            let mut bits = 0;
            for a in &d.args {
                bits |= match a.as_str() {
                    "off" => proxied::OFF,
                    "expired" => proxied::EXPIRED,
                    "no-cache" => proxied::NO_CACHE,
                    "no-store" => proxied::NO_STORE,
                    "private" => proxied::PRIVATE,
                    "no_last_modified" => proxied::NO_LM,
                    "no_etag" => proxied::NO_ETAG,
                    "auth" => proxied::AUTH,
                    "any" => proxied::ANY,
                    _ => return Err(d.error(format!("invalid value \"{a}\""))),
                };
            }
            set(&mut raw.proxied, d, bits)?;
        }
        "gzip_disable" => {
            // ngx_http_gzip_disable: `msie6` is a special name, anything
            // else a case-insensitive regex on User-Agent.
            let (msie6, list) = raw.disable.get_or_insert_with(Default::default);
            for a in &d.args {
                if a == "msie6" {
                    *msie6 = true;
                    continue;
                }
                let re = regex::bytes::RegexBuilder::new(a)
                    .case_insensitive(true)
                    .build()
                    .map_err(|e| d.error(format!("{e}")))?;
                list.push(super::LocRegex(re));
            }
        }
        _ => return Ok(false),
    }
    Ok(true)
}

/// The modules' merges: unset values come from the parent.
pub(super) fn merge(raw: RawGzip, parent: &Rc<GzipConf>) -> Rc<GzipConf> {
    if raw.is_empty() {
        return parent.clone();
    }
    let p = parent.as_ref();
    let (disable_msie6, disable) = match raw.disable {
        Some((m, l)) => (m, (!l.is_empty()).then(|| Rc::from(l))),
        None => (p.disable_msie6, p.disable.clone()),
    };
    Rc::new(GzipConf {
        enable: raw.enable.unwrap_or(p.enable),
        types: raw.types.unwrap_or_else(|| p.types.clone()),
        min_length: raw.min_length.unwrap_or(p.min_length),
        comp_level: raw.comp_level.unwrap_or(p.comp_level),
        window_bits: raw.window_bits.unwrap_or(p.window_bits),
        buffers: raw.buffers.unwrap_or(p.buffers),
        vary: raw.vary.unwrap_or(p.vary),
        http11_only: raw.http11_only.unwrap_or(p.http11_only),
        proxied: raw.proxied.unwrap_or(p.proxied),
        disable_msie6,
        disable,
        gzip_static: raw.gzip_static.unwrap_or(p.gzip_static),
        brotli_static: raw.brotli_static.unwrap_or(p.brotli_static),
        gunzip: raw.gunzip.unwrap_or(p.gunzip),
        gunzip_buffers: raw.gunzip_buffers.unwrap_or(p.gunzip_buffers),
    })
}
