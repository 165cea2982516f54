//! The response body's way from the peer to the client: nginx's
//! `ngx_event_pipe.c` (`proxy_buffering on`) and the non-buffered relay
//! (`proxy_buffering off`), as far as they differ.
//!
//! ```text
//! peer bytes ─▶ relay_body (framing decoded) ─▶ pipe_write_to_downstream
//!     buffering off: into the client's queue; the peer is read again when
//!                    the queue is under proxy_buffer_size
//!     buffering on:  into the client's queue while it holds less than
//!                    proxy_buffers; past that, gathered (at most
//!                    proxy_temp_file_write_size) and appended to a temp
//!                    file the queue sends from — the peer is read as fast
//!                    as it sends, and freed (back to its pool) as soon as
//!                    the response is in, however slow the client
//! ```
//!
//! Where holdfast differs: nginx reads into a chain of `proxy_buffers` and
//! sends from them; holdfast's client queue (one `OutChain`: memory and
//! file regions in order) is the chain, and the memory bound is on what it
//! holds. The temp file is unlinked when it is made (see `core/file.rs`).

use crate::core::cycle::Cycle;
use crate::core::file::{TempFile, create_temp_file};
use crate::http::upstream::{client_conf, up_mut};
use crate::os::io::Transport;

/// A buffered response's spill state, held by the peer connection's
/// `UpstreamConn` while the response is relayed (nginx's `ngx_event_pipe_t`
/// temp file part).
#[derive(Debug, Default)]
pub struct Pipe {
    /// The temp file, once the client fell `proxy_buffers` behind.
    pub temp: Option<TempFile>,
    /// Body bytes gathered for the next temp file write.
    pub staged: Vec<u8>,
    /// The client went away under `proxy_ignore_client_abort on`: the
    /// response is read to its end and dropped (nginx's `downstream_error`).
    pub downstream_error: bool,
}

/// The buffering settings for the client `client` (its token).
fn buffering<S: Transport>(
    cy: &Cycle<S>,
    client: usize,
) -> std::rc::Rc<crate::conf::http_proxy::ProxyBuffering> {
    client_conf(cy, client).map_or_else(Default::default, |l| l.proxy.buffering.clone())
}

/// Mirrors ngx_event_pipe()'s "may the upstream be read" test (and the
/// non-buffered relay's): false while the client has enough queued.
/// Gathered bytes the client can now take go to its queue first.
pub fn pipe_read_upstream_allowed<S: Transport>(cy: &mut Cycle<S>, key: usize, ck: usize) -> bool {
    let Some(u) = up_mut(cy, key) else {
        return false;
    };
    let client = u.client;
    if u.pipe.as_ref().is_some_and(|p| p.downstream_error) {
        return true;
    }
    let b = buffering(cy, client);
    let pending = cy.conns[ck].hc().map_or(0, |hc| hc.out.pending());
    if !b.on {
        return pending < b.buffer_size as u64;
    }
    let Some(u) = up_mut(cy, key) else {
        return false;
    };
    let Some(p) = u.pipe.as_mut() else {
        return pending < b.memory() || b.max_temp_file_size > 0;
    };
    if !p.staged.is_empty() && pending < b.memory() {
        // The client caught up: what was gathered goes to it from memory.
        let staged = std::mem::take(&mut p.staged);
        let chunked = u.chunked_out;
        if let Some(hc) = cy.conns[ck].hc_mut() {
            queue_mem(&mut hc.out, &staged, chunked);
        }
        if let Some(p) = up_mut(cy, key).and_then(|u| u.pipe.as_mut()) {
            p.staged = staged;
            p.staged.clear();
        }
        return true;
    }
    let Some(u) = up_mut(cy, key) else {
        return false;
    };
    let Some(p) = u.pipe.as_ref() else {
        return true;
    };
    let file_len = p.temp.as_ref().map_or(0, |t| t.len);
    if b.max_temp_file_size == 0 {
        return pending < b.memory();
    }
    file_len < b.max_temp_file_size && (p.staged.len() as u64) < b.memory()
}

/// Appends body bytes to the client's queue, as one chunk when the
/// response goes chunked (ngx_http_chunked_body_filter).
fn queue_mem(out: &mut crate::core::buf::OutChain, data: &[u8], chunked: bool) {
    if data.is_empty() {
        return;
    }
    // What the client took is dropped before the queue grows (the queue
    // never holds more than one window of unsent bytes, but a client that
    // never quite catches up would otherwise keep the sent ones).
    out.compact();
    if chunked {
        out.mem
            .extend_from_slice(format!("{:x}\r\n", data.len()).as_bytes());
        out.mem.extend_from_slice(data);
        out.mem.extend_from_slice(b"\r\n");
    } else {
        out.mem.extend_from_slice(data);
    }
}

/// Mirrors ngx_event_pipe_write_to_downstream() with
/// ngx_event_pipe_write_chain_to_temp_file(): the decoded body bytes of
/// one read go to the client's queue, or, with buffering on and the client
/// `proxy_buffers` behind, to the temp file (gathered to
/// `proxy_temp_file_write_size`; `done`: the response is complete, write
/// what is gathered). False: the temp file failed (logged; the caller
/// ends the exchange with the peer and the client).
pub fn pipe_write_to_downstream<S: Transport>(
    cy: &mut Cycle<S>,
    key: usize,
    ck: usize,
    data: &[u8],
    done: bool,
) -> bool {
    let Some(u) = up_mut(cy, key) else {
        return false;
    };
    let (client, chunked) = (u.client, u.chunked_out);
    if u.pipe.as_ref().is_some_and(|p| p.downstream_error) {
        return true;
    }
    let b = buffering(cy, client);
    let pending = cy.conns[ck].hc().map_or(0, |hc| hc.out.pending());
    let spilling = up_mut(cy, key)
        .and_then(|u| u.pipe.as_ref())
        .is_some_and(|p| !p.staged.is_empty());
    let to_memory = !b.on
        || b.max_temp_file_size == 0
        || (!spilling && pending + data.len() as u64 <= b.memory());
    if to_memory {
        if let Some(hc) = cy.conns[ck].hc_mut() {
            queue_mem(&mut hc.out, data, chunked);
        }
        return true;
    }
    let Some(u) = up_mut(cy, key) else {
        return false;
    };
    let p = u.pipe.get_or_insert_with(Default::default);
    p.staged.extend_from_slice(data);
    if p.staged.len() < b.temp_file_write_size && !done {
        return true;
    }
    write_chain_to_temp_file(cy, key, ck, chunked)
}

/// Writes the gathered bytes to the response's temp file (made on first
/// use, with nginx's warning) and queues that file region for the client.
fn write_chain_to_temp_file<S: Transport>(
    cy: &mut Cycle<S>,
    key: usize,
    ck: usize,
    chunked: bool,
) -> bool {
    let Some(u) = up_mut(cy, key) else {
        return false;
    };
    let client = u.client;
    let needs_file = u.pipe.as_ref().is_some_and(|p| p.temp.is_none());
    if needs_file {
        let path = client_conf(cy, client).map(|l| l.proxy.temp_path.clone());
        let made = match path {
            Some(path) => create_temp_file(&path, true),
            None => Err(std::io::Error::from(std::io::ErrorKind::NotFound)),
        };
        match made {
            Ok(f) => {
                crate::http::request::http_warn!(
                    cy,
                    ck,
                    "an upstream response is buffered to a temporary file {} while reading upstream",
                    f.name.display()
                );
                if let Some(p) = up_mut(cy, key).and_then(|u| u.pipe.as_mut()) {
                    p.temp = Some(f);
                }
            }
            Err(e) => {
                crate::http::request::http_crit!(cy, ck, "{e} while reading upstream");
                return false;
            }
        }
    }
    let Some(p) = up_mut(cy, key).and_then(|u| u.pipe.as_mut()) else {
        return false;
    };
    if p.staged.is_empty() {
        return true;
    }
    let Some(temp) = p.temp.as_mut() else {
        return false;
    };
    let start = temp.len;
    if let Err(e) = temp.write(&p.staged) {
        let msg = format!(
            "write() \"{}\" failed ({})",
            temp.name.display(),
            crate::os::io::OsErr(&e)
        );
        crate::http::request::http_crit!(cy, ck, "{msg} while reading upstream");
        return false;
    }
    let (file, end, n) = (temp.file.clone(), temp.len, p.staged.len());
    p.staged.clear();
    if let Some(hc) = cy.conns[ck].hc_mut() {
        let out = &mut hc.out;
        out.compact();
        if chunked {
            out.mem.extend_from_slice(format!("{n:x}\r\n").as_bytes());
        }
        out.push_file(file, start, end);
        if chunked {
            out.mem.extend_from_slice(b"\r\n");
        }
    }
    true
}
