//! Which of nginx's modules holdfast has: the source of `holdfast -V`'s
//! `configure arguments:` line and of the "holdfast has no MODULE" error for
//! the directives of a module it lacks.
//!
//! nginx's own test suite decides what to run from `-V` (Test::Nginx's
//! `has_module`): a default module is assumed present unless `-V` names
//! `--without-MODULE`, an optional one only when `-V` names `--with-MODULE`.
//! So `-V` lists `--without-…` for every default module holdfast does not
//! implement and `--with-…` for every optional one it does; a module moves
//! from one list to the other in the change that implements it.

/// One nginx module as holdfast sees it.
#[derive(Debug)]
pub struct Module {
    /// nginx's name for it (`ngx_http_gzip_module`).
    pub name: &'static str,
    /// nginx's configure switch (`--without-http_gzip_module` for a default
    /// module, `--with-http_ssl_module` for an optional one).
    pub switch: &'static str,
    /// holdfast implements it (wholly, or as far as `partial` says).
    pub present: bool,
    /// For a present module: what of it holdfast does not have yet.
    pub partial: &'static str,
    /// Its directives, for the "holdfast has no MODULE" error (absent modules).
    pub directives: &'static [&'static str],
}

const fn absent(
    name: &'static str,
    switch: &'static str,
    directives: &'static [&'static str],
) -> Module {
    Module {
        name,
        switch,
        present: false,
        partial: "",
        directives,
    }
}

const fn present(name: &'static str, switch: &'static str, partial: &'static str) -> Module {
    Module {
        name,
        switch,
        present: true,
        partial,
        directives: &[],
    }
}

/// nginx's http modules (and the main-context modules a copied
/// configuration may name), in nginx's order.
pub static MODULES: &[Module] = &[
    present(
        "ngx_http_rewrite_module",
        "--without-http_rewrite_module",
        "",
    ),
    present(
        "ngx_http_stub_status_module",
        "--with-http_stub_status_module",
        "",
    ),
    present(
        "ngx_http_charset_module",
        "--without-http_charset_module",
        "",
    ),
    present(
        "ngx_http_gzip_module",
        "--without-http_gzip_module",
        "gzip_hash, postpone_gzipping, gzip_no_buffer",
    ),
    absent(
        "ngx_http_ssi_module",
        "--without-http_ssi_module",
        &[
            "ssi",
            "ssi_silent_errors",
            "ssi_ignore_recycled_buffers",
            "ssi_min_file_chunk",
            "ssi_value_length",
            "ssi_types",
            "ssi_last_modified",
        ],
    ),
    absent(
        "ngx_http_userid_module",
        "--without-http_userid_module",
        &[
            "userid",
            "userid_service",
            "userid_name",
            "userid_domain",
            "userid_path",
            "userid_expires",
            "userid_flags",
            "userid_p3p",
            "userid_mark",
        ],
    ),
    present("ngx_http_access_module", "--without-http_access_module", ""),
    absent(
        "ngx_http_auth_basic_module",
        "--without-http_auth_basic_module",
        &["auth_basic", "auth_basic_user_file"],
    ),
    absent(
        "ngx_http_mirror_module",
        "--without-http_mirror_module",
        &["mirror", "mirror_request_body"],
    ),
    present(
        "ngx_http_autoindex_module",
        "--without-http_autoindex_module",
        "",
    ),
    absent("ngx_http_geo_module", "--without-http_geo_module", &["geo"]),
    present(
        "ngx_http_map_module",
        "--without-http_map_module",
        "values are evaluated on each use (`volatile` is what it always is)",
    ),
    absent(
        "ngx_http_split_clients_module",
        "--without-http_split_clients_module",
        &["split_clients"],
    ),
    absent(
        "ngx_http_referer_module",
        "--without-http_referer_module",
        &[
            "valid_referers",
            "referer_hash_max_size",
            "referer_hash_bucket_size",
        ],
    ),
    present(
        "ngx_http_proxy_module",
        "--without-http_proxy_module",
        "no proxy_cache/proxy_store (no ngx_http_file_cache), proxy_ssl_ciphers, \
         proxy_ssl_crl, proxy_ssl_password_file, proxy_ssl_conf_command (issue 13), \
         proxy_cookie_*, proxy_bind, proxy_socket_keepalive, proxy_limit_rate, \
         proxy_force_ranges, proxy_pass_trailers",
    ),
    absent(
        "ngx_http_fastcgi_module",
        "--without-http_fastcgi_module",
        &[
            "fastcgi_pass",
            "fastcgi_param",
            "fastcgi_index",
            "fastcgi_split_path_info",
            "fastcgi_buffers",
            "fastcgi_buffer_size",
            "fastcgi_read_timeout",
            "fastcgi_connect_timeout",
            "fastcgi_send_timeout",
            "fastcgi_intercept_errors",
            "fastcgi_keep_conn",
            "fastcgi_cache",
            "fastcgi_cache_path",
            "fastcgi_cache_key",
            "fastcgi_cache_valid",
            "fastcgi_hide_header",
            "fastcgi_pass_header",
            "fastcgi_ignore_headers",
            "fastcgi_buffering",
            "fastcgi_next_upstream",
        ],
    ),
    absent(
        "ngx_http_uwsgi_module",
        "--without-http_uwsgi_module",
        &[
            "uwsgi_pass",
            "uwsgi_param",
            "uwsgi_buffers",
            "uwsgi_buffer_size",
            "uwsgi_read_timeout",
            "uwsgi_connect_timeout",
            "uwsgi_send_timeout",
            "uwsgi_modifier1",
            "uwsgi_modifier2",
        ],
    ),
    absent(
        "ngx_http_scgi_module",
        "--without-http_scgi_module",
        &[
            "scgi_pass",
            "scgi_param",
            "scgi_buffers",
            "scgi_buffer_size",
            "scgi_read_timeout",
            "scgi_connect_timeout",
            "scgi_send_timeout",
        ],
    ),
    absent(
        "ngx_http_grpc_module",
        "--without-http_grpc_module",
        &[
            "grpc_pass",
            "grpc_set_header",
            "grpc_read_timeout",
            "grpc_send_timeout",
            "grpc_connect_timeout",
            "grpc_buffer_size",
            "grpc_ssl_verify",
        ],
    ),
    absent(
        "ngx_http_memcached_module",
        "--without-http_memcached_module",
        &[
            "memcached_pass",
            "memcached_read_timeout",
            "memcached_send_timeout",
            "memcached_connect_timeout",
            "memcached_buffer_size",
            "memcached_gzip_flag",
        ],
    ),
    absent(
        "ngx_http_limit_conn_module",
        "--without-http_limit_conn_module",
        &[
            "limit_conn_zone",
            "limit_conn",
            "limit_conn_log_level",
            "limit_conn_status",
            "limit_conn_dry_run",
        ],
    ),
    absent(
        "ngx_http_limit_req_module",
        "--without-http_limit_req_module",
        &[
            "limit_req_zone",
            "limit_req",
            "limit_req_log_level",
            "limit_req_status",
            "limit_req_dry_run",
        ],
    ),
    absent(
        "ngx_http_empty_gif_module",
        "--without-http_empty_gif_module",
        &["empty_gif"],
    ),
    absent(
        "ngx_http_browser_module",
        "--without-http_browser_module",
        &[
            "modern_browser",
            "ancient_browser",
            "modern_browser_value",
            "ancient_browser_value",
        ],
    ),
    absent("ngx_http_upstream_module", "", &["upstream"]),
    absent(
        "ngx_http_upstream_hash_module",
        "--without-http_upstream_hash_module",
        &["hash"],
    ),
    absent(
        "ngx_http_upstream_ip_hash_module",
        "--without-http_upstream_ip_hash_module",
        &["ip_hash"],
    ),
    absent(
        "ngx_http_upstream_least_conn_module",
        "--without-http_upstream_least_conn_module",
        &["least_conn"],
    ),
    absent(
        "ngx_http_upstream_least_time_module",
        "--without-http_upstream_least_time_module",
        &["least_time"],
    ),
    absent(
        "ngx_http_upstream_random_module",
        "--without-http_upstream_random_module",
        &["random"],
    ),
    present(
        "ngx_http_upstream_keepalive_module",
        "--without-http_upstream_keepalive_module",
        "",
    ),
    absent(
        "ngx_http_upstream_zone_module",
        "--without-http_upstream_zone_module",
        &["zone"],
    ),
    absent(
        "ngx_http_upstream_sticky_module",
        "--without-http_upstream_sticky",
        &["sticky"],
    ),
    absent(
        "ngx_http_tunnel_module",
        "--without-http_tunnel_module",
        &[
            "tunnel_pass",
            "tunnel_connect_timeout",
            "tunnel_read_timeout",
            "tunnel_send_timeout",
        ],
    ),
    absent(
        "ngx_http_file_cache",
        "--without-http-cache",
        &[
            "proxy_cache",
            "proxy_cache_path",
            "proxy_cache_key",
            "proxy_cache_valid",
            "proxy_cache_bypass",
            "proxy_no_cache",
            "proxy_cache_use_stale",
            "proxy_cache_lock",
            "proxy_cache_methods",
            "proxy_cache_min_uses",
            "proxy_cache_revalidate",
            "proxy_cache_background_update",
            "proxy_store",
            "proxy_store_access",
        ],
    ),
    present(
        "ngx_regex_module",
        "--without-pcre",
        "the `regex` crate's syntax: no look-around, no backreferences",
    ),
    // Optional modules nginx builds only when asked: absent from `-V`.
    present(
        "ngx_http_ssl_module",
        "--with-http_ssl_module",
        "listen ... ssl, SNI, ssl_certificate(_key), ssl_protocols, ssl_session_cache/timeout/tickets, \
         ssl_session_ticket_key, ssl_prefer_server_ciphers, ssl_ciphers, ssl_reject_handshake, \
         ssl_buffer_size, ssl_early_data, ssl_verify_client/depth, ssl_client/trusted_certificate and \
         thirteen $ssl_* variables are there; OCSP, CRLs and $ssl_session_id are not (issue 13)",
    ),
    absent(
        "ngx_http_v2_module",
        "",
        &["http2", "http2_max_concurrent_streams"],
    ),
    absent("ngx_http_v3_module", "", &["http3", "quic_retry"]),
    absent(
        "ngx_http_realip_module",
        "",
        &["set_real_ip_from", "real_ip_header", "real_ip_recursive"],
    ),
    absent(
        "ngx_http_addition_filter_module",
        "",
        &["add_before_body", "add_after_body", "addition_types"],
    ),
    absent(
        "ngx_http_sub_filter_module",
        "",
        &[
            "sub_filter",
            "sub_filter_types",
            "sub_filter_once",
            "sub_filter_last_modified",
        ],
    ),
    absent(
        "ngx_http_dav_module",
        "",
        &[
            "dav_methods",
            "create_full_put_path",
            "min_delete_depth",
            "dav_access",
        ],
    ),
    present(
        "ngx_http_gunzip_filter_module",
        "--with-http_gunzip_module",
        "",
    ),
    present(
        "ngx_http_gzip_static_module",
        "--with-http_gzip_static_module",
        "",
    ),
    absent(
        "google/ngx_brotli's filter module (brotli_static is built in)",
        "",
        &[
            "brotli",
            "brotli_types",
            "brotli_comp_level",
            "brotli_buffers",
            "brotli_window",
            "brotli_min_length",
        ],
    ),
    absent(
        "ngx_http_auth_request_module",
        "",
        &["auth_request", "auth_request_set"],
    ),
    absent(
        "ngx_http_secure_link_module",
        "",
        &["secure_link", "secure_link_md5", "secure_link_secret"],
    ),
    absent("ngx_http_slice_filter_module", "", &["slice"]),
    absent(
        "ngx_http_mp4_module",
        "",
        &["mp4", "mp4_buffer_size", "mp4_max_buffer_size"],
    ),
    absent("ngx_http_flv_module", "", &["flv"]),
    absent("ngx_http_random_index_module", "", &["random_index"]),
    absent(
        "ngx_http_geoip_module",
        "",
        &["geoip_country", "geoip_city", "geoip_org"],
    ),
    absent("ngx_http_image_filter_module", "", &["image_filter"]),
    absent(
        "ngx_http_xslt_filter_module",
        "",
        &["xslt_stylesheet", "xml_entities"],
    ),
    absent(
        "ngx_http_perl_module",
        "",
        &["perl", "perl_modules", "perl_require", "perl_set"],
    ),
    absent("ngx_mail_module", "", &["mail"]),
    absent("ngx_stream_module", "", &["stream"]),
    absent("ngx_openssl_module", "", &["ssl_engine"]),
    absent("ngx_thread_pool_module", "", &["thread_pool"]),
    absent(
        "ngx_google_perftools_module",
        "",
        &["google_perftools_profiles"],
    ),
    absent("dynamic modules", "", &["load_module"]),
];

/// The directives of ngx_http_core_module (and of the other modules holdfast
/// has) that holdfast does not implement yet, with the issue that adds them.
static NOT_YET: &[(&str, &str)] = &[
    (
        "ssl_password_file",
        "ngx_http_ssl_module's ssl_password_file",
    ),
    ("ssl_dhparam", "ngx_http_ssl_module's ssl_dhparam"),
    ("ssl_ecdh_curve", "ngx_http_ssl_module's ssl_ecdh_curve"),
    ("ssl_crl", "ngx_http_ssl_module's ssl_crl"),
    ("ssl_ocsp", "ngx_http_ssl_module's ssl_ocsp"),
    ("ssl_stapling", "ngx_http_ssl_module's ssl_stapling"),
    (
        "ssl_stapling_verify",
        "ngx_http_ssl_module's ssl_stapling_verify",
    ),
    ("ssl_conf_command", "ngx_http_ssl_module's ssl_conf_command"),
    ("ssl", "ngx_http_ssl_module's ssl"),
    (
        "ssl_handshake_timeout",
        "ngx_http_ssl_module's ssl_handshake_timeout",
    ),
    (
        "ssl_certificate_cache",
        "ngx_http_ssl_module's ssl_certificate_cache",
    ),
    (
        "ssl_ocsp_responder",
        "ngx_http_ssl_module's ssl_ocsp_responder",
    ),
    ("ssl_ocsp_cache", "ngx_http_ssl_module's ssl_ocsp_cache"),
    (
        "ssl_stapling_file",
        "ngx_http_ssl_module's ssl_stapling_file",
    ),
    (
        "ssl_stapling_responder",
        "ngx_http_ssl_module's ssl_stapling_responder",
    ),
    // zlib's memLevel is not reachable through flate2; holdfast compresses
    // as soon as data comes and always sends what deflate produced.
    ("gzip_hash", "ngx_http_gzip_module's gzip_hash"),
    (
        "postpone_gzipping",
        "ngx_http_gzip_module's postpone_gzipping",
    ),
    ("gzip_no_buffer", "ngx_http_gzip_module's gzip_no_buffer"),
    (
        "proxy_cookie_domain",
        "ngx_http_proxy_module's proxy_cookie_domain",
    ),
    (
        "proxy_cookie_path",
        "ngx_http_proxy_module's proxy_cookie_path",
    ),
    (
        "proxy_cookie_flags",
        "ngx_http_proxy_module's proxy_cookie_flags",
    ),
    ("proxy_bind", "ngx_http_proxy_module's proxy_bind"),
    (
        "proxy_socket_keepalive",
        "ngx_http_proxy_module's proxy_socket_keepalive",
    ),
    (
        "proxy_limit_rate",
        "ngx_http_proxy_module's proxy_limit_rate",
    ),
    (
        "proxy_force_ranges",
        "ngx_http_proxy_module's proxy_force_ranges",
    ),
    (
        "proxy_headers_hash_max_size",
        "ngx_http_proxy_module's proxy_headers_hash_max_size",
    ),
    (
        "proxy_headers_hash_bucket_size",
        "ngx_http_proxy_module's proxy_headers_hash_bucket_size",
    ),
    (
        "proxy_pass_trailers",
        "ngx_http_proxy_module's proxy_pass_trailers",
    ),
    (
        "proxy_ssl_ciphers",
        "ngx_http_proxy_module's proxy_ssl_ciphers (issue 13)",
    ),
    (
        "proxy_ssl_crl",
        "ngx_http_proxy_module's proxy_ssl_crl (issue 13)",
    ),
    (
        "proxy_ssl_password_file",
        "ngx_http_proxy_module's proxy_ssl_password_file (issue 13)",
    ),
    (
        "proxy_ssl_conf_command",
        "ngx_http_proxy_module's proxy_ssl_conf_command (issue 13)",
    ),
    (
        "proxy_ssl_certificate_cache",
        "ngx_http_proxy_module's proxy_ssl_certificate_cache (issue 13)",
    ),
    (
        "proxy_ssl_key_log",
        "ngx_http_proxy_module's proxy_ssl_key_log (issue 13)",
    ),
    (
        "pcre_jit",
        "ngx_regex_module's pcre_jit (the regex crate has no JIT switch)",
    ),
    ("limit_except", "ngx_http_core_module's limit_except"),
    ("satisfy", "ngx_http_core_module's satisfy"),
    ("auth_delay", "ngx_http_core_module's auth_delay"),
    ("post_action", "ngx_http_core_module's post_action"),
    ("aio", "ngx_http_core_module's aio"),
    ("aio_write", "ngx_http_core_module's aio_write"),
    ("directio", "ngx_http_core_module's directio"),
    (
        "directio_alignment",
        "ngx_http_core_module's directio_alignment",
    ),
    ("read_ahead", "ngx_http_core_module's read_ahead"),
    (
        "ignore_invalid_headers",
        "ngx_http_core_module's ignore_invalid_headers",
    ),
    (
        "underscores_in_headers",
        "ngx_http_core_module's underscores_in_headers",
    ),
    (
        "absolute_redirect",
        "ngx_http_core_module's absolute_redirect",
    ),
    (
        "server_name_in_redirect",
        "ngx_http_core_module's server_name_in_redirect",
    ),
    (
        "port_in_redirect",
        "ngx_http_core_module's port_in_redirect",
    ),
    ("log_subrequest", "ngx_http_core_module's log_subrequest"),
    ("msie_padding", "ngx_http_core_module's msie_padding"),
    ("msie_refresh", "ngx_http_core_module's msie_refresh"),
    (
        "chunked_transfer_encoding",
        "ngx_http_core_module's chunked_transfer_encoding",
    ),
    ("postpone_output", "ngx_http_core_module's postpone_output"),
    ("send_lowat", "ngx_http_core_module's send_lowat"),
    ("subrequest_output_buffer_size", "subrequests"),
    (
        "open_file_cache_events",
        "ngx_http_core_module's open_file_cache_events",
    ),
    (
        "add_trailer",
        "ngx_http_headers_filter_module's add_trailer",
    ),
    (
        "open_log_file_cache",
        "ngx_http_log_module's open_log_file_cache",
    ),
    (
        "debug_connection",
        "ngx_event_core_module's debug_connection",
    ),
    (
        "use",
        "ngx_event_core_module's use (holdfast always uses epoll)",
    ),
    ("accept_mutex", "ngx_event_core_module's accept_mutex"),
    (
        "accept_mutex_delay",
        "ngx_event_core_module's accept_mutex_delay",
    ),
    (
        "worker_cpu_affinity",
        "ngx_core_module's worker_cpu_affinity",
    ),
    ("worker_priority", "ngx_core_module's worker_priority"),
    ("worker_rlimit_core", "ngx_core_module's worker_rlimit_core"),
    ("working_directory", "ngx_core_module's working_directory"),
    ("timer_resolution", "ngx_core_module's timer_resolution"),
    ("lock_file", "ngx_core_module's lock_file"),
    ("env", "ngx_core_module's env"),
    ("debug_points", "ngx_core_module's debug_points"),
];

/// holdfast's own modules (nginx has no counterpart): `holdfast -V` lists
/// them on a line of their own, outside nginx's `configure arguments:`.
pub static OWN_MODULES: &[&str] = &["ngx_http_connection_status_module"];

/// What names a directive holdfast does not know, when nginx has it: "no
/// ngx_http_gzip_module" or "ngx_http_core_module's alias" (not yet).
pub fn module_of(directive: &str) -> Option<String> {
    if let Some((_, what)) = NOT_YET.iter().find(|(d, _)| *d == directive) {
        return Some(format!("{what} yet"));
    }
    MODULES
        .iter()
        .find(|m| !m.present && m.directives.contains(&directive))
        .map(|m| m.name.to_string())
}

/// The `configure arguments:` of `holdfast -V`: `--with-…` for the optional
/// modules holdfast has, `--without-…` for the default ones it lacks.
pub fn configure_arguments() -> String {
    let mut args: Vec<&str> = MODULES
        .iter()
        .filter(|m| m.present && m.switch.starts_with("--with-"))
        .map(|m| m.switch)
        .collect();
    args.extend(
        MODULES
            .iter()
            .filter(|m| !m.present && m.switch.starts_with("--without-"))
            .map(|m| m.switch),
    );
    args.join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn configure_arguments_tell_what_is_there() {
        let a = configure_arguments();
        assert!(a.starts_with("--with-http_stub_status_module "), "{a}");
        for without in ["--without-http_ssi_module", "--without-http-cache"] {
            assert!(a.contains(without), "{without}");
        }
        for with in [
            "--without-http_proxy_module",
            "--without-http_upstream_keepalive_module",
            "--without-http_rewrite_module",
            "--without-http_map_module",
            "--without-http_access_module",
            "--without-pcre",
            "--without-http_autoindex_module",
            "--without-http_gzip_module",
        ] {
            assert!(!a.contains(with), "{with}");
        }
        assert!(a.contains("--with-http_gzip_static_module"));
        assert!(a.contains("--with-http_gunzip_module"));
        assert!(a.contains("--with-http_ssl_module"));
        // Test::Nginx's has('http') looks for a bare `--without-http`.
        assert!(!a.split(' ').any(|w| w == "--without-http"));
    }

    #[test]
    fn missing_directives_name_their_module() {
        assert_eq!(module_of("gzip"), None);
        assert_eq!(
            module_of("gzip_hash").as_deref(),
            Some("ngx_http_gzip_module's gzip_hash yet")
        );
        assert_eq!(
            module_of("ssl_dhparam").as_deref(),
            Some("ngx_http_ssl_module's ssl_dhparam yet")
        );
        assert_eq!(
            module_of("limit_except").as_deref(),
            Some("ngx_http_core_module's limit_except yet")
        );
        assert_eq!(module_of("no_such_thing"), None);
        assert_eq!(module_of("root"), None);
    }
}
