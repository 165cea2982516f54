//! Location-level directives beyond build.rs's first set: request bodies,
//! lingering close, `keepalive_disable`, `stub_status`, `add_header` and the
//! access log (whose work is in `http_log.rs`).
//!
//! Mirrors the matching entries of ngx_http_core_module's command table and
//! ngx_http_core_merge_loc_conf(), ngx_http_set_stub_status(), and
//! ngx_http_headers_add() / ngx_http_headers_merge_conf(). build.rs hands every
//! location-level directive it does not know to [`Builder::more_directive`]
//! and takes these fields' merge from [`merge`].

use super::build::{Builder, bad, builtin_types, flag, msec, once, unknown};
use super::http_log::{self, RawAccessLog};
use super::parser::Directive;
use super::values::parse_size;
use super::{
    AddHeader, CLIENT_BODY_TIMEOUT_MS, CLIENT_MAX_BODY_SIZE, ConfError, KEEPALIVE_REQUESTS,
    KEEPALIVE_TIME_MS, KEEPALIVE_TIMEOUT_MS, KeepaliveDisable, LINGERING_TIME_MS,
    LINGERING_TIMEOUT_MS, LingeringClose, LocConf, SEND_TIMEOUT_MS,
};
use crate::http::variables;
use std::rc::Rc;

// keepalive_disable bits (nginx's NGX_HTTP_KEEPALIVE_DISABLE_*).
const KA_NONE: u8 = 0x01;
const KA_MSIE6: u8 = 0x02;
const KA_SAFARI: u8 = 0x04;

/// This file's per-level settings as written, before the merge.
#[derive(Debug, Default)]
pub(super) struct RawMore {
    client_max_body_size: Option<u64>,
    client_body_timeout_ms: Option<u64>,
    lingering_close: Option<LingeringClose>,
    lingering_time_ms: Option<u64>,
    lingering_timeout_ms: Option<u64>,
    reset_timedout_connection: Option<bool>,
    /// `KA_*` bits; `Some(KA_NONE)` after `keepalive_disable none`.
    keepalive_disable: Option<u8>,
    stub_status: bool,
    add_headers: Option<Vec<AddHeader>>,
    access_log: RawAccessLog,
}

/// Mirrors ngx_http_core_create_loc_conf() + the defaults of the merge: the
/// location settings when nothing is set anywhere (holdfast: no access log).
pub(super) fn defaults(b: &Builder<'_>) -> LocConf {
    LocConf {
        root: b.path("html"),
        index: vec!["index.html".to_string()],
        ret: None,
        types: Rc::new(builtin_types()),
        default_type: Rc::from("text/plain"),
        keepalive_timeout_ms: KEEPALIVE_TIMEOUT_MS,
        keepalive_header_s: None,
        keepalive_requests: KEEPALIVE_REQUESTS,
        keepalive_time_ms: KEEPALIVE_TIME_MS,
        send_timeout_ms: SEND_TIMEOUT_MS,
        server_tokens: true,
        client_max_body_size: CLIENT_MAX_BODY_SIZE,
        client_body_timeout_ms: CLIENT_BODY_TIMEOUT_MS,
        lingering_close: LingeringClose::On,
        lingering_time_ms: LINGERING_TIME_MS,
        lingering_timeout_ms: LINGERING_TIMEOUT_MS,
        reset_timedout_connection: false,
        keepalive_disable: KeepaliveDisable::default(),
        stub_status: false,
        add_headers: Rc::from([]),
        access_log: Rc::from([]),
    }
}

/// Mirrors this file's part of ngx_http_core_merge_loc_conf() and of the
/// headers and log modules' merges: the parent's settings with this level's
/// fields merged in. build.rs overrides the fields it merges itself.
///
/// `stub_status` is never inherited (nginx sets the level's content handler,
/// which is not merged); `add_header` and `access_log` lists replace the
/// parent's as a whole when the level has any.
pub(super) fn merge(raw: RawMore, parent: &LocConf) -> LocConf {
    LocConf {
        client_max_body_size: raw
            .client_max_body_size
            .unwrap_or(parent.client_max_body_size),
        client_body_timeout_ms: raw
            .client_body_timeout_ms
            .unwrap_or(parent.client_body_timeout_ms),
        lingering_close: raw.lingering_close.unwrap_or(parent.lingering_close),
        lingering_time_ms: raw.lingering_time_ms.unwrap_or(parent.lingering_time_ms),
        lingering_timeout_ms: raw
            .lingering_timeout_ms
            .unwrap_or(parent.lingering_timeout_ms),
        reset_timedout_connection: raw
            .reset_timedout_connection
            .unwrap_or(parent.reset_timedout_connection),
        keepalive_disable: raw.keepalive_disable.map_or(parent.keepalive_disable, |m| {
            KeepaliveDisable {
                msie6: m & KA_MSIE6 != 0,
                safari: m & KA_SAFARI != 0,
            }
        }),
        stub_status: raw.stub_status,
        add_headers: raw
            .add_headers
            .map_or_else(|| parent.add_headers.clone(), Rc::from),
        access_log: http_log::merge(raw.access_log, &parent.access_log),
        ..parent.clone()
    }
}

impl Builder<'_> {
    /// Mirrors ngx_conf_handler() calling the handlers of this file's
    /// directives (context and argument count are checked already).
    pub(super) fn more_directive(&self, d: &Directive, raw: &mut RawMore) -> Result<(), ConfError> {
        match d.name.as_str() {
            "client_max_body_size" => {
                // Mirrors ngx_conf_set_off_slot(); 0 is allowed (no limit).
                once(&raw.client_max_body_size, d)?;
                let n = parse_size(&d.args[0]).map_err(|_| bad(d, "invalid value"))?;
                raw.client_max_body_size = Some(n as u64);
            }
            "client_body_timeout" => {
                once(&raw.client_body_timeout_ms, d)?;
                raw.client_body_timeout_ms = Some(msec(d, 0)?);
            }
            "lingering_close" => {
                // Mirrors ngx_conf_set_enum_slot().
                once(&raw.lingering_close, d)?;
                let v = &d.args[0];
                raw.lingering_close = Some(match v.to_ascii_lowercase().as_str() {
                    "off" => LingeringClose::Off,
                    "on" => LingeringClose::On,
                    "always" => LingeringClose::Always,
                    _ => return Err(d.error(format!("invalid value \"{v}\""))),
                });
            }
            "lingering_time" => {
                once(&raw.lingering_time_ms, d)?;
                raw.lingering_time_ms = Some(msec(d, 0)?);
            }
            "lingering_timeout" => {
                once(&raw.lingering_timeout_ms, d)?;
                raw.lingering_timeout_ms = Some(msec(d, 0)?);
            }
            "reset_timedout_connection" => {
                once(&raw.reset_timedout_connection, d)?;
                raw.reset_timedout_connection = Some(flag(d)?);
            }
            "keepalive_disable" => keepalive_disable(d, raw.keepalive_disable.get_or_insert(0))?,
            // Mirrors ngx_http_set_stub_status(); nginx ignores an argument.
            "stub_status" => raw.stub_status = true,
            "add_header" => add_header(d, raw.add_headers.get_or_insert_with(Vec::new))?,
            "access_log" => self.access_log(d, &mut raw.access_log)?,
            "log_format" => self.formats.borrow_mut().define(d)?,
            _ => return Err(unknown(d)),
        }
        Ok(())
    }
}

/// Mirrors ngx_conf_set_bitmask_slot() for `keepalive_disable`: the values
/// (any case) add to the level's set, a repeated one only warns; `none` sets
/// no browser but still counts as set, so the level does not inherit.
fn keepalive_disable(d: &Directive, mask: &mut u8) -> Result<(), ConfError> {
    for v in &d.args {
        let bit = match v.to_ascii_lowercase().as_str() {
            "none" => KA_NONE,
            "msie6" => KA_MSIE6,
            "safari" => KA_SAFARI,
            _ => return Err(d.error(format!("invalid value \"{v}\""))),
        };
        if *mask & bit != 0 {
            log::warn!("duplicate value \"{v}\" in {}:{}", d.file.display(), d.line);
        }
        *mask |= bit;
    }
    Ok(())
}

/// Mirrors ngx_http_headers_add(): `add_header NAME VALUE [always]`, the
/// value compiled (variables allowed; empty means "add nothing").
fn add_header(d: &Directive, list: &mut Vec<AddHeader>) -> Result<(), ConfError> {
    let value = variables::compile(&d.args[1]).map_err(|e| d.error(e))?;
    let always = match d.args.get(2).map(String::as_str) {
        None => false,
        Some("always") => true,
        Some(other) => return Err(d.error(format!("invalid parameter \"{other}\""))),
    };
    list.push(AddHeader {
        name: d.args[0].clone(),
        value,
        always,
    });
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::conf::build::tests::{assert_err, conf, http, server};
    use crate::http::variables::{Segment, Variable};

    fn names(h: &[AddHeader]) -> Vec<&str> {
        h.iter().map(|h| h.name.as_str()).collect()
    }

    #[test]
    fn defaults_everywhere() {
        let s = server("location /a { }");
        for c in [&s.conf, s.loc_conf(b"/a")] {
            assert_eq!(c.client_max_body_size, 1 << 20);
            assert_eq!(c.client_body_timeout_ms, 60_000);
            assert_eq!(c.lingering_close, LingeringClose::On);
            assert_eq!(c.lingering_time_ms, 30_000);
            assert_eq!(c.lingering_timeout_ms, 5_000);
            assert!(!c.reset_timedout_connection);
            assert_eq!(
                c.keepalive_disable,
                KeepaliveDisable {
                    msie6: true,
                    safari: false
                }
            );
            assert!(!c.stub_status);
            assert!(c.add_headers.is_empty());
            assert!(c.access_log.is_empty());
        }
        assert_eq!(LingeringClose::default(), LingeringClose::On);
    }

    #[test]
    fn inheritance_and_override() {
        let c = conf(
            "http {\n\
               client_max_body_size 10m; client_body_timeout 30s;\n\
               lingering_close always; lingering_time 1m; lingering_timeout 2s;\n\
               reset_timedout_connection on; keepalive_disable safari;\n\
               server {\n\
                 location /inherit { }\n\
                 location /own {\n\
                   client_max_body_size 0; client_body_timeout 500ms;\n\
                   lingering_close OFF; lingering_time 10s; lingering_timeout 1;\n\
                   reset_timedout_connection off; keepalive_disable msie6 safari;\n\
                 }\n\
                 client_max_body_size 2k;\n\
               }\n\
               server { lingering_close on; keepalive_disable none; }\n\
             }",
        );
        let h = http(&c);
        let s = &h.servers[0];
        // Set after the locations, still inherited by them.
        assert_eq!(s.conf.client_max_body_size, 2048);
        let i = s.loc_conf(b"/inherit");
        assert_eq!(i.client_max_body_size, 2048);
        assert_eq!(i.client_body_timeout_ms, 30_000);
        assert_eq!(i.lingering_close, LingeringClose::Always);
        assert_eq!(
            (i.lingering_time_ms, i.lingering_timeout_ms),
            (60_000, 2000)
        );
        assert!(i.reset_timedout_connection);
        assert_eq!(
            i.keepalive_disable,
            KeepaliveDisable {
                msie6: false,
                safari: true
            }
        );
        let o = s.loc_conf(b"/own");
        assert_eq!(o.client_max_body_size, 0);
        assert_eq!(o.client_body_timeout_ms, 500);
        assert_eq!(o.lingering_close, LingeringClose::Off);
        assert_eq!(
            (o.lingering_time_ms, o.lingering_timeout_ms),
            (10_000, 1000)
        );
        assert!(!o.reset_timedout_connection);
        assert_eq!(
            o.keepalive_disable,
            KeepaliveDisable {
                msie6: true,
                safari: true
            }
        );
        // The other fields still come from build.rs's merge.
        assert_eq!(o.root, s.conf.root);

        let s2 = &h.servers[1].conf;
        assert_eq!(s2.client_max_body_size, 10 << 20);
        assert_eq!(s2.lingering_close, LingeringClose::On);
        assert_eq!(
            s2.keepalive_disable,
            KeepaliveDisable {
                msie6: false,
                safari: false
            }
        );
    }

    #[test]
    fn keepalive_disable_values() {
        let ka = |args: &str| {
            let s = server(&format!("location / {{ keepalive_disable {args}; }}"));
            let k = s.loc_conf(b"/").keepalive_disable;
            (k.msie6, k.safari)
        };
        assert_eq!(ka("none"), (false, false));
        assert_eq!(ka("msie6"), (true, false));
        assert_eq!(ka("SAFARI"), (false, true));
        assert_eq!(ka("none safari"), (false, true));
        assert_eq!(ka("msie6 msie6"), (true, false));
        // Repeated at one level: the values add up.
        let s = server("keepalive_disable none; keepalive_disable safari;");
        assert!(s.conf.keepalive_disable.safari && !s.conf.keepalive_disable.msie6);
        // `none` at the server is not overridden by the http default.
        let s = server("keepalive_disable none; location / { }");
        assert!(!s.loc_conf(b"/").keepalive_disable.msie6);
    }

    #[test]
    fn stub_status_is_not_inherited() {
        let s = server(
            "location = /status { stub_status; }\n\
             location /s2 { stub_status on; }\n\
             location / { }",
        );
        assert!(!s.conf.stub_status);
        assert!(s.loc_conf(b"/status").stub_status);
        assert!(s.loc_conf(b"/s2").stub_status);
        assert!(!s.loc_conf(b"/").stub_status);
        // At server level (allowed by nginx) it is for URIs no location takes.
        let s = server("stub_status; location /x { }");
        assert!(s.conf.stub_status);
        assert!(!s.loc_conf(b"/x").stub_status);
        assert!(s.loc_conf(b"/y").stub_status);
    }

    #[test]
    fn add_header_replaces_not_merges() {
        let c = conf(
            "http {\n\
               add_header X-A a;\n\
               add_header X-B \"$host:$server_port\" always;\n\
               server {\n\
                 location /inherit { }\n\
                 location /own { add_header X-C c; }\n\
                 location /empty { add_header X-E \"\"; }\n\
               }\n\
               server { add_header X-S s; location /l { } }\n\
             }",
        );
        let h = http(&c);
        let s = &h.servers[0];
        assert_eq!(names(&s.conf.add_headers), ["X-A", "X-B"]);
        let b = &s.conf.add_headers[1];
        assert!(b.always);
        assert_eq!(
            b.value,
            vec![
                Segment::Var(Variable::Host),
                Segment::Literal(b":".to_vec().into()),
                Segment::Var(Variable::ServerPort),
            ]
        );
        assert!(!s.conf.add_headers[0].always);
        assert!(Rc::ptr_eq(
            &s.conf.add_headers,
            &s.loc_conf(b"/inherit").add_headers
        ));
        assert_eq!(names(&s.loc_conf(b"/own").add_headers), ["X-C"]);
        let e = &s.loc_conf(b"/empty").add_headers;
        assert_eq!(names(e), ["X-E"]);
        assert!(e[0].value.is_empty());
        let s = &h.servers[1];
        assert_eq!(names(&s.conf.add_headers), ["X-S"]);
        assert_eq!(names(&s.loc_conf(b"/l").add_headers), ["X-S"]);
    }

    #[test]
    fn value_and_argument_errors() {
        let wrap = |body: &str| format!("http {{\nserver {{\n{body}\n}}\n}}");
        let e = |body: &str, msg: &str| assert_err(&wrap(body), msg, 3);
        e(
            "client_max_body_size 1x;",
            "\"client_max_body_size\" directive invalid value",
        );
        e(
            "client_max_body_size -1;",
            "\"client_max_body_size\" directive invalid value",
        );
        e(
            "client_body_timeout 5q;",
            "\"client_body_timeout\" directive invalid value",
        );
        e("lingering_close sometimes;", "invalid value \"sometimes\"");
        e(
            "lingering_time forever;",
            "\"lingering_time\" directive invalid value",
        );
        e(
            "lingering_timeout 1y1y;",
            "\"lingering_timeout\" directive invalid value",
        );
        e(
            "reset_timedout_connection yes;",
            "invalid value \"yes\" in \"reset_timedout_connection\" directive, \
             it must be \"on\" or \"off\"",
        );
        e("keepalive_disable opera;", "invalid value \"opera\"");
        e(
            "keepalive_disable msie6 safari none;",
            "invalid number of arguments in \"keepalive_disable\" directive",
        );
        e(
            "keepalive_disable;",
            "invalid number of arguments in \"keepalive_disable\" directive",
        );
        e(
            "add_header X;",
            "invalid number of arguments in \"add_header\" directive",
        );
        e(
            "add_header X y always z;",
            "invalid number of arguments in \"add_header\" directive",
        );
        e(
            "add_header X y sometimes;",
            "invalid parameter \"sometimes\"",
        );
        e("add_header X $nope;", "unknown \"nope\" variable");
        e("add_header X a$;", "invalid variable name");
        e(
            "stub_status a b;",
            "invalid number of arguments in \"stub_status\" directive",
        );
        e(
            "client_body_timeout;",
            "invalid number of arguments in \"client_body_timeout\" directive",
        );
        e(
            "lingering_close on off;",
            "invalid number of arguments in \"lingering_close\" directive",
        );
        let dup = |d: &str, v: &str| {
            assert_err(
                &wrap(&format!("{d} {v};\n{d} {v};")),
                &format!("\"{d}\" directive is duplicate"),
                4,
            )
        };
        dup("client_max_body_size", "1m");
        dup("client_body_timeout", "1s");
        dup("lingering_close", "on");
        dup("lingering_time", "1s");
        dup("lingering_timeout", "1s");
        dup("reset_timedout_connection", "on");
    }

    #[test]
    fn wrong_contexts() {
        assert_err(
            "http {\nstub_status;\n}",
            "\"stub_status\" directive is not allowed here",
            2,
        );
        for d in [
            "client_max_body_size 1m",
            "client_body_timeout 1s",
            "lingering_close on",
            "lingering_time 1s",
            "lingering_timeout 1s",
            "reset_timedout_connection on",
            "keepalive_disable none",
            "stub_status",
            "add_header X y",
        ] {
            let name = d.split(' ').next().unwrap();
            let msg = format!("\"{name}\" directive is not allowed here");
            assert_err(&format!("{d};"), &msg, 1);
            assert_err(&format!("events {{\n{d}; }}"), &msg, 2);
        }
        assert_err(
            "http { server { location / {\nstub_status { } } } }",
            "directive \"stub_status\" is not terminated by \";\"",
            2,
        );
    }
}
