//! `expires` over real TCP (issue 12, nginx's ngx_http_set_expires): each
//! form, with variables, only for the statuses add_header uses, and
//! ETag / Last-Modified set by the last add_header of the name.

mod common;

use common::{Server, get};

#[test]
fn every_form_of_expires() {
    let s = Server::with_server(
        "    location /epoch { expires epoch; }\n\
         \x20   location /max { expires max; }\n\
         \x20   location /off { expires off; }\n\
         \x20   location /access { expires 2048; }\n\
         \x20   location /negative { expires -2048; }\n\
         \x20   location /daily { expires @15h30m33s; }\n\
         \x20   location /modified { expires modified 2048; }\n\
         \x20   location /var { expires $arg_e; }\n\
         \x20   location /etag { add_header ETag foo always; add_header ETag '' always; }\n",
    );
    for f in [
        "epoch", "max", "off", "access", "negative", "daily", "modified", "var", "etag",
    ] {
        s.prefix().write(&format!("html/{f}"), "x");
    }
    let h = |path: &str, name: &str| s.request(&get(path)).header(name).map(str::to_string);
    assert_eq!(
        h("/epoch", "Expires").as_deref(),
        Some("Thu, 01 Jan 1970 00:00:01 GMT")
    );
    assert_eq!(h("/epoch", "Cache-Control").as_deref(), Some("no-cache"));
    assert_eq!(
        h("/max", "Expires").as_deref(),
        Some("Thu, 31 Dec 2037 23:55:55 GMT")
    );
    assert_eq!(
        h("/max", "Cache-Control").as_deref(),
        Some("max-age=315360000")
    );
    assert_eq!(h("/off", "Expires"), None);
    assert_eq!(
        h("/access", "Cache-Control").as_deref(),
        Some("max-age=2048")
    );
    assert_eq!(h("/negative", "Cache-Control").as_deref(), Some("no-cache"));
    assert!(h("/daily", "Expires").unwrap().ends_with("15:30:33 GMT"));
    let m = h("/modified", "Cache-Control").unwrap();
    assert!(m.starts_with("max-age=204"), "{m}");
    assert_eq!(
        h("/var?e=max", "Cache-Control").as_deref(),
        Some("max-age=315360000")
    );
    assert_eq!(h("/var?e=bad", "Expires"), None);
    assert_eq!(h("/var", "Expires"), None);
    // Not for a 404 (the statuses add_header uses without `always`).
    assert_eq!(h("/access-missing", "Cache-Control"), None);
    // The last add_header ETag decides: '' removes it.
    assert_eq!(h("/etag", "ETag"), None);
}
