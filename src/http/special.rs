//! Error and redirect pages: nginx's `ngx_http_special_response.c`.

use crate::core::connection::req_in;
use crate::core::cycle::Cycle;
use crate::http::parse::Method;
use crate::http::request::Finalize;
use crate::http::response::{self, ResponseHead, SERVER_VERSION};
use crate::os::io::Transport;

/// nginx's internal "request header too large" code; sent as 400.
pub const REQUEST_HEADER_TOO_LARGE: u16 = 494;

/// nginx's NGX_HTTP_TO_HTTPS: a plain HTTP request on an `ssl` port,
/// answered 400 (an `error_page 497` may take it).
pub const TO_HTTPS: u16 = 497;

/// The status line text after `HTTP/1.1 ` (nginx's reason phrases; an
/// unknown code gets no phrase, as in nginx).
pub fn status_line(code: u16) -> &'static [u8] {
    match code {
        100 => b"100 Continue",
        101 => b"101 Switching Protocols",
        200 => b"200 OK",
        201 => b"201 Created",
        202 => b"202 Accepted",
        204 => b"204 No Content",
        206 => b"206 Partial Content",
        301 => b"301 Moved Permanently",
        302 => b"302 Moved Temporarily",
        303 => b"303 See Other",
        304 => b"304 Not Modified",
        307 => b"307 Temporary Redirect",
        308 => b"308 Permanent Redirect",
        400 | REQUEST_HEADER_TOO_LARGE | TO_HTTPS => b"400 Bad Request",
        crate::http::ssl_client::SSL_CERT_ERROR | crate::http::ssl_client::NO_CERT => {
            b"400 Bad Request"
        }
        401 => b"401 Unauthorized",
        402 => b"402 Payment Required",
        403 => b"403 Forbidden",
        404 => b"404 Not Found",
        405 => b"405 Not Allowed",
        406 => b"406 Not Acceptable",
        408 => b"408 Request Time-out",
        409 => b"409 Conflict",
        410 => b"410 Gone",
        411 => b"411 Length Required",
        412 => b"412 Precondition Failed",
        413 => b"413 Request Entity Too Large",
        414 => b"414 Request-URI Too Large",
        415 => b"415 Unsupported Media Type",
        416 => b"416 Requested Range Not Satisfiable",
        421 => b"421 Misdirected Request",
        429 => b"429 Too Many Requests",
        500 => b"500 Internal Server Error",
        501 => b"501 Not Implemented",
        502 => b"502 Bad Gateway",
        503 => b"503 Service Temporarily Unavailable",
        504 => b"504 Gateway Time-out",
        505 => b"505 HTTP Version Not Supported",
        507 => b"507 Insufficient Storage",
        _ => unknown_status(code),
    }
}

/// "NNN " for codes without a phrase (nginx prints the number and a space).
fn unknown_status(code: u16) -> &'static [u8] {
    const DIGITS: &[u8; 4000] = &{
        let mut t = [b' '; 4000];
        let mut i = 0;
        while i < 1000 {
            t[i * 4] = b'0' + (i / 100) as u8;
            t[i * 4 + 1] = b'0' + (i / 10 % 10) as u8;
            t[i * 4 + 2] = b'0' + (i % 10) as u8;
            i += 1;
        }
        t
    };
    let i = usize::from(code.min(999)) * 4;
    &DIGITS[i..i + 4]
}

/// The page title for a code (`404 Not Found`, `400 Request Header Or Cookie
/// Too Large` for 494).
fn title(code: u16) -> &'static [u8] {
    if code == REQUEST_HEADER_TOO_LARGE {
        return b"400 Request Header Or Cookie Too Large";
    }
    if code == TO_HTTPS {
        return b"400 The plain HTTP request was sent to HTTPS port";
    }
    if code == crate::http::ssl_client::SSL_CERT_ERROR {
        return b"400 The SSL certificate error";
    }
    if code == crate::http::ssl_client::NO_CERT {
        return b"400 No required SSL certificate was sent";
    }
    if code == 302 {
        // nginx's page says "Found" where its status line says "Moved
        // Temporarily".
        return b"302 Found";
    }
    let line = status_line(code);
    if line.ends_with(b" ") {
        &line[..3]
    } else {
        line
    }
}

/// Does a code get an HTML page (3xx–5xx, as in nginx's error_pages table)?
fn has_page(code: u16) -> bool {
    (300..600).contains(&code) && code != 304
}

/// The error-page half of ngx_http_special_response_handler() with
/// ngx_http_send_error_page(): when the location has an `error_page` for
/// `code` (and no error page was used yet, unless `recursive_error_pages`),
/// the request is redirected to it — an internal redirect for `/uri`
/// (method GET unless HEAD), a named location for `@name`, else a 302 (or
/// the `=` code, when a redirect) to the URL. None: no page applies.
pub fn send_error_page<S: Transport>(cy: &mut Cycle<S>, key: usize, code: u16) -> Option<Finalize> {
    let c = &mut cy.conns[key];
    // A head refused before the server was known is answered with the
    // default server's settings, as nginx's request starts with them.
    let default = {
        let l = &cy.listening[c.li()];
        l.servers[l.default_server].clone()
    };
    let r = req_in(&mut c.data)?;
    if r.server.is_none() {
        r.loc = Some(default.conf.clone());
        r.server = Some(default);
    }
    r.err_status = code;
    if r.error_page || r.uri_changes == 0 {
        return None;
    }
    let loc = r.loc.clone()?;
    if loc.error_pages.is_empty() {
        return None;
    }
    if !loc.recursive_error_pages {
        r.error_page = true;
    }
    let page = loc.error_pages.iter().find(|p| p.status == code)?;
    if let Some(o) = page.overwrite {
        r.err_status = o;
    }
    let mut uri = Vec::new();
    crate::http::variables::complex_value(cy, key, &page.uri, &mut uri);
    let r = cy.conns[key].req_mut()?;
    if uri.starts_with(b"/") {
        let (uri, args) = crate::http::static_module::split_args(uri);
        if r.method != Method::Head {
            r.method = Method::Get;
        }
        return Some(crate::http::core_module::internal_redirect(
            cy, key, uri, args,
        ));
    }
    if uri.starts_with(b"@") {
        return Some(crate::http::core_module::named_location(cy, key, &uri));
    }
    if !page.overwrite.is_some_and(response::is_redirect) {
        r.err_status = 302;
    }
    let status = r.err_status;
    if let Err(s) = crate::http::body::discard_request_body(cy, key) {
        log::debug!("*{} discard failed: {s}", cy.conns[key].number);
        if let Some(r) = cy.conns[key].req_mut() {
            r.keepalive = false;
        }
    }
    response::set_location(cy, key, &uri);
    special_response_handler(cy, key, status);
    Some(Finalize::Done)
}

/// Mirrors ngx_http_special_response_handler(): the connection does not keep
/// alive after 400, 413, 414, 494, 500 and 501; the page is a small HTML
/// document like nginx's; HEAD gets the header only.
pub fn special_response_handler<S: Transport>(cy: &mut Cycle<S>, key: usize, code: u16) {
    let tokens;
    {
        let Some(r) = cy.conns[key].req_mut() else {
            return;
        };

        if matches!(
            code,
            400 | 413 | 414 | REQUEST_HEADER_TOO_LARGE | TO_HTTPS | 500 | 501 | 505
        ) {
            r.keepalive = false;
        }
        if code == 400 {
            r.lingering_close = false;
        }
        if code == 304 || code == 204 {
            r.header_only = true;
        }
        tokens = r.loc.as_ref().is_none_or(|l| l.server_tokens);
    }
    let t = title(code);
    let tail: &[u8] = if tokens {
        SERVER_VERSION.as_bytes()
    } else {
        b"holdfast"
    };
    let body_len = if has_page(code) { page_len(t, tail) } else { 0 };
    let head = ResponseHead {
        status: code,
        content_type: has_page(code).then_some(&b"text/html"[..]),
        content_length: (code != 304 && code != 204).then_some(body_len as u64),
        last_modified: None,
        etag: None,
        accept_ranges: false,
        content_encoding: None,
        charset: None,
    };
    response::send_header(cy, key, &head);
    if has_page(code) {
        for part in [
            PAGE_PARTS[0],
            t,
            PAGE_PARTS[1],
            t,
            PAGE_PARTS[2],
            tail,
            PAGE_PARTS[3],
        ] {
            response::send_body(cy, key, part);
        }
    }
}

const PAGE_PARTS: [&[u8]; 4] = [
    b"<html>\r\n<head><title>",
    b"</title></head>\r\n<body>\r\n<center><h1>",
    b"</h1></center>\r\n<hr><center>",
    b"</center>\r\n</body>\r\n</html>\r\n",
];

fn page_len(title: &[u8], tail: &[u8]) -> usize {
    PAGE_PARTS.iter().map(|p| p.len()).sum::<usize>() + 2 * title.len() + tail.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_lines() {
        assert_eq!(status_line(200), b"200 OK");
        assert_eq!(status_line(494), b"400 Bad Request");
        assert_eq!(status_line(299), b"299 ");
        assert_eq!(status_line(7), b"007 ");
        assert_eq!(title(494), b"400 Request Header Or Cookie Too Large");
        assert_eq!(title(599), b"599");
    }
}
