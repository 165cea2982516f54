//! ngx_http_autoindex_module's configuration: `autoindex`,
//! `autoindex_format`, `autoindex_localtime` and `autoindex_exact_size`, at
//! any http level (not in `if`), each inherited unless a level sets it.

use super::ConfError;
use super::command::{ANY_HTTP, Command, cmd, enum_value, flag_slot, once};
use super::parser::Directive;

/// The module's directives.
pub(super) static COMMANDS: &[Command] = &[
    cmd("autoindex", ANY_HTTP, false, 1, 1),
    cmd("autoindex_format", ANY_HTTP, false, 1, 1),
    cmd("autoindex_localtime", ANY_HTTP, false, 1, 1),
    cmd("autoindex_exact_size", ANY_HTTP, false, 1, 1),
];

/// `autoindex_format` (nginx's NGX_HTTP_AUTOINDEX_*).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AutoindexFormat {
    /// `html` (default): a `<pre>` table of links.
    #[default]
    Html,
    /// `json`: an array of objects.
    Json,
    /// `jsonp`: the JSON wrapped in a call of the `callback` argument (plain
    /// JSON without one).
    Jsonp,
    /// `xml`: a `<list>` of elements.
    Xml,
}

/// The merged settings of a level (ngx_http_autoindex_loc_conf_t).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AutoindexConf {
    /// `autoindex on|off` (off): a directory without an index file is listed.
    pub enable: bool,
    /// `autoindex_format` (html).
    pub format: AutoindexFormat,
    /// `autoindex_localtime on|off` (off): the html listing's times in the
    /// server's time zone rather than UTC.
    pub localtime: bool,
    /// `autoindex_exact_size on|off` (on): the html listing's sizes in
    /// bytes, else rounded to K, M or G.
    pub exact_size: bool,
}

impl Default for AutoindexConf {
    /// Mirrors the defaults of ngx_http_autoindex_merge_loc_conf().
    fn default() -> Self {
        AutoindexConf {
            enable: false,
            format: AutoindexFormat::Html,
            localtime: false,
            exact_size: true,
        }
    }
}

/// One level's settings as written.
#[derive(Debug, Default)]
pub(super) struct RawAutoindex {
    enable: Option<bool>,
    format: Option<AutoindexFormat>,
    localtime: Option<bool>,
    exact_size: Option<bool>,
}

/// The module's directives (ngx_conf_set_flag_slot / ngx_conf_set_enum_slot);
/// `Ok(false)` when `d` is not one of them.
pub(super) fn directive(d: &Directive, raw: &mut RawAutoindex) -> Result<bool, ConfError> {
    match d.name.as_str() {
        "autoindex" => flag_slot(&mut raw.enable, d)?,
        "autoindex_localtime" => flag_slot(&mut raw.localtime, d)?,
        "autoindex_exact_size" => flag_slot(&mut raw.exact_size, d)?,
        "autoindex_format" => {
            once(&raw.format, d)?;
            raw.format = Some(enum_value(
                d,
                &[
                    ("html", AutoindexFormat::Html),
                    ("json", AutoindexFormat::Json),
                    ("jsonp", AutoindexFormat::Jsonp),
                    ("xml", AutoindexFormat::Xml),
                ],
            )?);
        }
        _ => return Ok(false),
    }
    Ok(true)
}

/// Mirrors ngx_http_autoindex_merge_loc_conf(): each value the level's own,
/// else the parent's.
pub(super) fn merge(raw: RawAutoindex, parent: &AutoindexConf) -> AutoindexConf {
    AutoindexConf {
        enable: raw.enable.unwrap_or(parent.enable),
        format: raw.format.unwrap_or(parent.format),
        localtime: raw.localtime.unwrap_or(parent.localtime),
        exact_size: raw.exact_size.unwrap_or(parent.exact_size),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unset_values_come_from_the_parent() {
        let parent = AutoindexConf {
            enable: true,
            format: AutoindexFormat::Xml,
            localtime: true,
            exact_size: false,
        };
        assert_eq!(merge(RawAutoindex::default(), &parent), parent);
        let own = RawAutoindex {
            enable: Some(false),
            format: Some(AutoindexFormat::Json),
            ..Default::default()
        };
        let m = merge(own, &parent);
        assert_eq!((m.enable, m.format), (false, AutoindexFormat::Json));
        assert!(m.localtime && !m.exact_size);
    }
}
