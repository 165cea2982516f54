//! Response compression: nginx's ngx_http_gzip_filter_module and
//! ngx_http_gunzip_filter_module (body filters), and ngx_http_gzip_ok() of
//! the core module (may this client get gzip?).
//!
//! The header filter decides; when a body must be coded (or recoded by the
//! charset filter, whose stage sits between gunzip and gzip as in nginx's
//! body filter order), the request gets a [`BodyFilter`] and the content
//! handlers (static files, error pages,
//! `return`, the proxy's pipe) queue the body into its `raw` chain instead
//! of the connection's output (see [`body_chain`]). The write filter
//! ([`send_out`](crate::http::response::send_out)) runs [`BodyFilter::pump`]
//! whenever less than `gzip_buffers` of coded output waits for the client:
//! a file is read 32 KiB at a time, coded, and framed as chunks for an
//! HTTP/1.1 client, so a GB file is compressed in constant memory and a
//! slow client holds back the reading.
//!
//! The deflate state (flate2 on zlib-rs, about 270 KB at level 1) is
//! taken from a free list when a response starts and given back when the
//! request is freed: an idle keep-alive connection holds none of it.

use std::cell::RefCell;
use std::io::{self, Write};
use std::os::unix::fs::FileExt;

use flate2::{Compress, Compression, FlushCompress, Status};

use crate::conf::http_gzip::{GzipConf, proxied};
use crate::core::buf::OutChain;
use crate::core::cycle::Cycle;
use crate::http::charset_filter::{Recode, RecodeCtx};
use crate::http::parse::Version;
use crate::os::io::Transport;

/// Input coded per step of the pump (nginx's default `output_buffers`
/// size, 32k).
pub const INPUT_STEP: usize = 32 * 1024;

/// Input given to the gunzip decoder at a time, so one step's output stays
/// bounded (deflate expands at most ~1032:1).
const GUNZIP_STEP: usize = 1024;

/// Deflate states kept for reuse, at most.
const POOL_MAX: usize = 16;

/// Bodies of a known length up to this are deflated with miniz_oxide
/// rather than zlib-rs: zlib-rs resets a fixed 128 KiB hash table (and
/// clears its 48 KiB symbol buffer) per stream, which costs more than
/// compressing 1 KiB (nginx shrinks zlib's hash for small bodies; flate2
/// cannot). Measured crossover on text: ~8 KiB; at 4 KiB miniz's output is
/// ~5% bigger.
pub const SMALL_BODY: u64 = 4096;

/// gzip's member header as nginx writes it: no name, no time, OS unix.
const GZIP_HEADER: [u8; 10] = [0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3];
/// Output that may wait for the client before a body filter without gzip
/// or gunzip recodes more (nginx's default `output_buffers`, 2 × 32k).
const RECODE_WINDOW: u64 = 2 * INPUT_STEP as u64;

/// `r->gzip_tested`, `r->gzip_ok`, `r->gzip_vary` as bits of
/// [`Request::gzip_flags`](crate::http::request::Request::gzip_flags).
pub mod flags {
    /// ngx_http_gzip_ok() ran.
    pub const TESTED: u8 = 0x01;
    /// ...and said yes.
    pub const OK: u8 = 0x02;
    /// A compression module looked at this response: `Vary: Accept-Encoding`
    /// with `gzip_vary on`.
    pub const VARY: u8 = 0x04;
}

thread_local! {
    /// Free deflate states by (level, window bits). holdfast serves from one
    /// thread; a thread-local list lets the state go back from the
    /// request's Drop wherever the request is freed.
    static DEFLATE_POOL: RefCell<Vec<(u32, u8, Compress)>> = const { RefCell::new(Vec::new()) };
}

/// The zlib-rs level for `gzip_comp_level`: the same number, except 1.
/// zlib's level 1 (nginx's default) is its `deflate_fast`; zlib-rs's level 1
/// is zlib-ng's `deflate_quick` (static Huffman codes only), whose output
/// is ~30% bigger on text (docs/static-bench.md). zlib-rs's level 2 is
/// `deflate_fast`: about zlib's level-1 output, still faster than zlib.
pub fn zlib_rs_level(comp_level: u32) -> u32 {
    if comp_level == 1 { 2 } else { comp_level }
}

fn take_deflate(level: u32, bits: u8) -> Compress {
    let reused = DEFLATE_POOL.with(|p| {
        let mut p = p.borrow_mut();
        let i = p.iter().position(|(l, b, _)| *l == level && *b == bits)?;
        Some(p.swap_remove(i).2)
    });
    match reused {
        Some(mut c) => {
            c.reset();
            c
        }
        None => Compress::new_gzip(Compression::new(zlib_rs_level(level)), bits),
    }
}

thread_local! {
    /// Free miniz_oxide compressors by level (see [`SMALL_BODY`]).
    static SMALL_POOL: RefCell<Vec<(u32, Box<miniz_oxide::deflate::core::CompressorOxide>)>> =
        const { RefCell::new(Vec::new()) };
}

fn take_small(level: u32) -> Box<miniz_oxide::deflate::core::CompressorOxide> {
    use miniz_oxide::deflate::core::{CompressorOxide, create_comp_flags_from_zip_params};
    let reused = SMALL_POOL.with(|p| {
        let mut p = p.borrow_mut();
        let i = p.iter().position(|(l, _)| *l == level)?;
        Some(p.swap_remove(i).1)
    });
    match reused {
        Some(mut c) => {
            c.reset();
            c
        }
        // Raw deflate (negative window bits): holdfast writes the gzip
        // member's header and trailer.
        None => Box::new(CompressorOxide::new(create_comp_flags_from_zip_params(
            level as i32,
            -15,
            0,
        ))),
    }
}

fn give_small(level: u32, c: Box<miniz_oxide::deflate::core::CompressorOxide>) {
    SMALL_POOL.with(|p| {
        let mut p = p.borrow_mut();
        if p.len() < POOL_MAX {
            p.push((level, c));
        }
    });
}

fn give_deflate(level: u32, bits: u8, c: Compress) {
    DEFLATE_POOL.with(|p| {
        let mut p = p.borrow_mut();
        if p.len() < POOL_MAX {
            p.push((level, bits, c));
        }
    });
}

/// Deflate states in the free list (for tests and the status pages).
pub fn pooled_deflate_states() -> usize {
    DEFLATE_POOL.with(|p| p.borrow().len())
}

/// One stage of a body filter.
enum Coder {
    Gzip {
        level: u32,
        bits: u8,
        z: Option<Compress>,
    },
    /// A body of at most [`SMALL_BODY`] (miniz_oxide, raw deflate, the
    /// member's header and trailer written here).
    GzipSmall {
        level: u32,
        z: Option<Box<miniz_oxide::deflate::core::CompressorOxide>>,
        crc: flate2::Crc,
        started: bool,
    },
    Gunzip(Box<flate2::write::MultiGzDecoder<Vec<u8>>>),
    /// The charset filter's recoding.
    Recode(RecodeCtx),
}

impl std::fmt::Debug for Coder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Coder::Gzip { .. } => "Gzip",
            Coder::GzipSmall { .. } => "GzipSmall",
            Coder::Gunzip(_) => "Gunzip",
            Coder::Recode(_) => "Recode",
        })
    }
}

impl Coder {
    /// Codes `input` (with `finish`, ends the stream), appending to `out`.
    fn code(&mut self, input: &[u8], finish: bool, out: &mut Vec<u8>) -> io::Result<()> {
        match self {
            Coder::Gzip { z: Some(z), .. } => deflate(z, input, finish, out)?,
            Coder::Gzip { z: None, .. } => {}
            Coder::GzipSmall {
                z: Some(z),
                crc,
                started,
                ..
            } => {
                if !*started {
                    *started = true;
                    out.extend_from_slice(&GZIP_HEADER);
                }
                crc.update(input);
                deflate_small(z, input, finish, out)?;
                if finish {
                    out.extend_from_slice(&crc.sum().to_le_bytes());
                    out.extend_from_slice(&crc.amount().to_le_bytes());
                }
            }
            Coder::GzipSmall { z: None, .. } => {}
            Coder::Gunzip(d) => {
                for piece in input.chunks(GUNZIP_STEP) {
                    d.write_all(piece).map_err(inflate_error)?;
                    out.append(d.get_mut());
                }
                if finish {
                    d.try_finish().map_err(inflate_error)?;
                    out.append(d.get_mut());
                }
            }
            Coder::Recode(ctx) => ctx.recode(input, out),
        }
        Ok(())
    }
}

/// A response body on its way through gunzip, the charset filter's
/// recoding and gzip, those of them the header filters chose (nginx's
/// ngx_http_gunzip_ctx_t, ngx_http_charset_ctx_t, ngx_http_gzip_ctx_t).
#[derive(Debug)]
pub struct BodyFilter {
    /// The stages, in nginx's body filter order: gunzip, recode, gzip.
    stages: Vec<Coder>,
    /// The body as the content handler queued it, not yet coded.
    pub raw: OutChain,
    /// The handler queued all of the body (nginx's last_buf).
    pub last: bool,
    /// The coded stream is complete (trailer and last chunk queued).
    pub done: bool,
    /// The body was cut short (the peer failed): what is coded goes out,
    /// the stream is not finished, so the client sees it incomplete.
    pub abort: bool,
    /// Coded output goes out as chunks (set by the header that is sent:
    /// HTTP/1.1 client, a length the filters cleared or the peer did not
    /// give).
    pub chunked: bool,
    /// Coded output that may wait for the client before more is coded.
    window: u64,
    /// Bytes in and out of the last stage (`$gzip_ratio`).
    pub bytes_in: u64,
    /// See `bytes_in`.
    pub bytes_out: u64,
    /// The last stage's output before it is framed.
    obuf: Vec<u8>,
    /// An earlier stage's output (the next one's input).
    mid: Vec<u8>,
}

impl Drop for BodyFilter {
    fn drop(&mut self) {
        for stage in &mut self.stages {
            match stage {
                Coder::Gzip { level, bits, z } => {
                    if let Some(z) = z.take() {
                        give_deflate(*level, *bits, z);
                    }
                }
                Coder::GzipSmall { level, z, .. } => {
                    if let Some(z) = z.take() {
                        give_small(*level, z);
                    }
                }
                Coder::Gunzip(_) | Coder::Recode(_) => {}
            }
        }
    }
}

impl BodyFilter {
    /// The body filter for a response the header filters chose `coding`
    /// and `recode` for: ngx_http_gunzip_filter_inflate_start, the
    /// charset filter's ctx, ngx_http_gzip_filter_deflate_start. Output
    /// may wait up to `gzip_buffers` (`gunzip_buffers`; 64k for a
    /// recoding alone). `length`: the body's, when known (a small one is
    /// deflated by miniz_oxide, see [`SMALL_BODY`]).
    pub fn new(
        coding: Coding,
        recode: Option<&Recode>,
        conf: &GzipConf,
        chunked: bool,
        length: Option<u64>,
    ) -> Box<BodyFilter> {
        let mut stages = Vec::with_capacity(2);
        let mut window = RECODE_WINDOW;
        if coding == Coding::Gunzip {
            stages.push(Coder::Gunzip(Box::new(flate2::write::MultiGzDecoder::new(
                Vec::new(),
            ))));
            window = (conf.gunzip_buffers.0 * conf.gunzip_buffers.1) as u64;
        }
        if let Some(r) = recode {
            stages.push(Coder::Recode(r.start()));
        }
        if coding == Coding::Gzip {
            stages.push(if length.is_some_and(|l| l <= SMALL_BODY) {
                Coder::GzipSmall {
                    level: conf.comp_level,
                    z: Some(take_small(conf.comp_level)),
                    crc: flate2::Crc::new(),
                    started: false,
                }
            } else {
                Coder::Gzip {
                    level: conf.comp_level,
                    bits: conf.window_bits,
                    z: Some(take_deflate(conf.comp_level, conf.window_bits)),
                }
            });
            window = (conf.buffers.0 * conf.buffers.1) as u64;
        }
        Box::new(BodyFilter {
            stages,
            raw: OutChain::default(),
            last: false,
            done: false,
            abort: false,
            chunked,
            window,
            bytes_in: 0,
            bytes_out: 0,
            obuf: Vec::new(),
            mid: Vec::new(),
        })
    }

    /// Something is left to code or to finish.
    pub fn has_work(&self) -> bool {
        !self.done && (!self.raw.is_empty() || self.last)
    }

    /// Bytes queued by the handler and not coded yet.
    pub fn pending(&self) -> u64 {
        self.raw.pending()
    }

    /// Mirrors ngx_http_gzip_body_filter() / ngx_http_gunzip_body_filter()
    /// / ngx_http_charset_body_filter(): codes queued input into `out`
    /// until a window of output waits for the client, the input runs out,
    /// or the stream is finished.
    /// Files are read through `file_buf` (the cycle's reused buffer).
    pub fn pump(&mut self, out: &mut OutChain, file_buf: &mut Vec<u8>) -> io::Result<()> {
        while !self.done && out.pending() < self.window {
            let raw = &mut self.raw;
            let next_file_at = raw.files.get(raw.file_idx).map_or(raw.mem.len(), |f| f.at);
            if raw.sent < next_file_at {
                let end = (raw.sent + INPUT_STEP).min(next_file_at);
                let input = std::mem::take(&mut raw.mem);
                let r = self.feed(&input[self.raw.sent..end], false, out);
                self.raw.mem = input;
                self.raw.sent = end;
                r?;
            } else if raw.file_idx < raw.files.len() {
                let f = &mut raw.files[raw.file_idx];
                let want = usize::try_from(f.end - f.pos)
                    .unwrap_or(usize::MAX)
                    .min(INPUT_STEP);
                if file_buf.len() < want {
                    file_buf.resize(INPUT_STEP, 0);
                }
                let n = f.file.read_at(&mut file_buf[..want], f.pos)?;
                if n == 0 {
                    return Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "file was truncated",
                    ));
                }
                f.pos += n as u64;
                if f.pos == f.end {
                    raw.file_idx += 1;
                }
                self.feed(&file_buf[..n], false, out)?;
            } else if self.last && self.abort {
                self.done = true;
            } else if self.last {
                self.feed(&[], true, out)?;
                self.done = true;
                if self.chunked {
                    out.mem.extend_from_slice(b"0\r\n\r\n");
                }
            } else {
                break;
            }
            if self.raw.is_empty() {
                self.raw.reset();
            }
        }
        Ok(())
    }

    /// Codes `input` through every stage (and with `finish`, ends the
    /// streams) and queues the output, as one chunk when chunked.
    fn feed(&mut self, input: &[u8], finish: bool, out: &mut OutChain) -> io::Result<()> {
        // Each stage writes into `next`, which becomes the next one's input.
        let mut data = std::mem::take(&mut self.obuf);
        let mut next = std::mem::take(&mut self.mid);
        data.clear();
        let last = self.stages.len().saturating_sub(1);
        let mut res = Ok(());
        for (i, stage) in self.stages.iter_mut().enumerate() {
            let src: &[u8] = if i == 0 { input } else { &data };
            if i == last {
                self.bytes_in += src.len() as u64;
            }
            next.clear();
            res = stage.code(src, finish, &mut next);
            std::mem::swap(&mut data, &mut next);
            if res.is_err() {
                break;
            }
        }
        self.obuf = data;
        self.mid = next;
        res?;
        if self.obuf.is_empty() {
            return Ok(());
        }
        self.bytes_out += self.obuf.len() as u64;
        out.compact();
        if self.chunked {
            crate::http::chunked::push_chunk_size(&mut out.mem, self.obuf.len());
            out.mem.extend_from_slice(&self.obuf);
            out.mem.extend_from_slice(b"\r\n");
        } else {
            out.mem.extend_from_slice(&self.obuf);
        }
        Ok(())
    }
}

fn inflate_error(e: io::Error) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, format!("inflate() failed: {e}"))
}

/// miniz_oxide's deflate over all of `input`, appended to `obuf`.
fn deflate_small(
    z: &mut miniz_oxide::deflate::core::CompressorOxide,
    input: &[u8],
    finish: bool,
    obuf: &mut Vec<u8>,
) -> io::Result<()> {
    use miniz_oxide::deflate::core::{TDEFLFlush, TDEFLStatus, compress_to_output};
    let flush = if finish {
        TDEFLFlush::Finish
    } else {
        TDEFLFlush::None
    };
    let (st, used) = compress_to_output(z, input, flush, |out| {
        obuf.extend_from_slice(out);
        true
    });
    match st {
        TDEFLStatus::Okay | TDEFLStatus::Done if used == input.len() => Ok(()),
        _ => Err(io::Error::other(format!("deflate() failed: {st:?}"))),
    }
}

/// Runs deflate over all of `input` into `obuf` (growing it as needed).
fn deflate(z: &mut Compress, mut input: &[u8], finish: bool, obuf: &mut Vec<u8>) -> io::Result<()> {
    let flush = if finish {
        FlushCompress::Finish
    } else {
        FlushCompress::None
    };
    loop {
        obuf.reserve((input.len() / 2).max(4096));
        let before = z.total_in();
        let st = z
            .compress_vec(input, obuf, flush)
            .map_err(|e| io::Error::other(format!("deflate() failed: {e}")))?;
        input = &input[(z.total_in() - before) as usize..];
        let room_left = obuf.len() < obuf.capacity();
        match st {
            Status::StreamEnd => return Ok(()),
            _ if finish => {}
            _ if input.is_empty() && room_left => return Ok(()),
            _ => {}
        }
    }
}

/// The queue a content handler puts body bytes in: the body filter's raw
/// chain while one codes the response, else the connection's output.
pub fn body_chain(hc: &mut crate::core::connection::HttpConn) -> &mut OutChain {
    match hc
        .request
        .as_deref_mut()
        .and_then(|r| r.body_filter.as_deref_mut())
    {
        Some(f) => &mut f.raw,
        None => &mut hc.out,
    }
}

/// Bytes the client has still to get for the current response: queued
/// output plus what the body filter has not coded yet.
pub fn out_pending(hc: &crate::core::connection::HttpConn) -> u64 {
    hc.out.pending()
        + hc.request
            .as_deref()
            .and_then(|r| r.body_filter.as_deref())
            .map_or(0, BodyFilter::pending)
}

/// The response headers ngx_http_gzip_ok() looks at for `gzip_proxied`.
#[derive(Debug, Default, Clone, Copy)]
pub struct RespHeaders<'a> {
    /// `Expires`.
    pub expires: Option<&'a [u8]>,
    /// `Date` (the peer's).
    pub date: Option<&'a [u8]>,
    /// `Cache-Control` (all lines joined).
    pub cache_control: Option<&'a [u8]>,
    /// A `Last-Modified` is sent.
    pub last_modified: bool,
    /// An `ETag` is sent.
    pub etag: bool,
}

/// Mirrors ngx_http_gzip_accept_encoding(): `gzip` as a token of
/// Accept-Encoding, with a quality that is not zero.
pub fn accepts_gzip(ae: &[u8]) -> bool {
    if ae.starts_with(b"gzip,") {
        return true;
    }
    accepts_token(ae, b"gzip")
}

/// [`accepts_gzip`] for any coding (`br`): the token, at the start or
/// after `,` or ` `, then `,`, the end, or `;q=` a quality above zero.
pub fn accepts_token(ae: &[u8], token: &[u8]) -> bool {
    let mut from = 0;
    let at = loop {
        let Some(i) = ae.get(from..).and_then(|s| {
            s.windows(token.len())
                .position(|w| w.eq_ignore_ascii_case(token))
        }) else {
            return false;
        };
        let at = from + i;
        if at == 0 || matches!(ae[at - 1], b',' | b' ') {
            break at;
        }
        from = at + token.len();
    };
    let mut p = &ae[at + token.len()..];
    while let Some((&c, rest)) = p.split_first() {
        p = rest;
        match c {
            b',' => return true,
            b' ' => continue,
            b';' => return quality_after_semicolon(p),
            _ => return false,
        }
    }
    true
}

fn quality_after_semicolon(mut p: &[u8]) -> bool {
    while let Some((&c, rest)) = p.split_first() {
        p = rest;
        match c {
            b'q' | b'Q' => {
                let Some(rest) = p.strip_prefix(b"=") else {
                    return false;
                };
                return !rest.is_empty() && quantity(rest) > 0;
            }
            b' ' => continue,
            _ => return false,
        }
    }
    true
}

/// Mirrors ngx_http_gzip_quantity(): `q` × 1000 of `0`, `1`, `0.xyz`;
/// 0 for anything malformed or above 1.
fn quantity(p: &[u8]) -> u32 {
    let mut it = p.iter();
    let q = match it.next() {
        Some(b'0') => 0,
        Some(b'1') => 100,
        _ => return 0,
    };
    match it.next() {
        None | Some(b',') | Some(b' ') => return q,
        Some(b'.') => {}
        _ => return 0,
    }
    let (mut q, mut n) = (q, 0);
    for &c in it {
        match c {
            b',' | b' ' => break,
            b'0'..=b'9' => {
                q += u32::from(c - b'0');
                n += 1;
            }
            _ => return 0,
        }
    }
    if q > 100 || n > 3 { 0 } else { q }
}

/// Which recorded request header (see
/// [`FilterHeaders`](crate::http::headers::FilterHeaders)).
#[derive(Clone, Copy)]
enum In {
    AcceptEncoding,
    UserAgent,
    Via,
    Authorization,
}

/// A request header's value, found where the head parse recorded it.
fn request_header<S>(cy: &Cycle<S>, key: usize, which: In) -> Option<&[u8]> {
    use crate::http::headers::FilterHeaders;
    let c = &cy.conns[key];
    let (r, b) = (c.req()?, c.buf()?);
    let h = &r.filter_headers;
    let pos = match which {
        In::AcceptEncoding => h.accept_encoding,
        In::Via => h.via,
        In::Authorization => h.authorization,
        In::UserAgent => r
            .user_agent
            .and_then(|(o, l)| Some((u32::try_from(o).ok()?, u32::try_from(l).ok()?))),
    };
    FilterHeaders::value(b.data(), pos)
}

/// Mirrors ngx_http_gzip_ok(): the client takes gzip (Accept-Encoding), its
/// HTTP version is at least `gzip_http_version`, `gzip_proxied` allows a
/// request that came through a proxy (Via), and `gzip_disable` does not
/// match its User-Agent. Remembered for the request (`r->gzip_tested`).
pub fn gzip_ok<S: Transport>(cy: &mut Cycle<S>, key: usize, resp: &RespHeaders<'_>) -> bool {
    if let Some(r) = cy.conns[key].req()
        && r.gzip_flags & flags::TESTED != 0
    {
        return r.gzip_flags & flags::OK != 0;
    }
    let ok = test_gzip_ok(cy, key, resp);
    if let Some(r) = cy.conns[key].req_mut() {
        r.gzip_flags |= flags::TESTED | if ok { flags::OK } else { 0 };
    }
    ok
}

fn test_gzip_ok<S: Transport>(cy: &mut Cycle<S>, key: usize, resp: &RespHeaders<'_>) -> bool {
    let Some(r) = cy.conns[key].req() else {
        return false;
    };
    let Some(conf) = r.loc.as_ref().map(|l| l.gzip.clone()) else {
        return false;
    };
    if conf.http11_only && r.version != Version::Http11 {
        return false;
    }
    match request_header(cy, key, In::AcceptEncoding) {
        Some(ae) if ae.len() >= 4 && accepts_gzip(ae) => {}
        _ => return false,
    }
    let ua = request_header(cy, key, In::UserAgent);
    if conf.disable_msie6 && ua.is_some_and(is_msie6) {
        return false;
    }
    if request_header(cy, key, In::Via).is_some() && !proxied_ok(cy, key, &conf, resp) {
        return false;
    }
    if let (Some(list), Some(ua)) = (&conf.disable, ua)
        && list.iter().any(|re| re.0.is_match(ua))
    {
        return false;
    }
    true
}

/// The `gzip_proxied` part of ngx_http_gzip_ok() for a request with Via.
fn proxied_ok<S>(cy: &Cycle<S>, key: usize, conf: &GzipConf, resp: &RespHeaders<'_>) -> bool {
    let p = conf.proxied;
    if p & proxied::OFF != 0 {
        return false;
    }
    if p & proxied::ANY != 0 {
        return true;
    }
    if p & proxied::AUTH != 0 && request_header(cy, key, In::Authorization).is_some() {
        return true;
    }
    if let Some(e) = resp.expires {
        if p & proxied::EXPIRED == 0 {
            return false;
        }
        let Some(expires) = crate::core::time::parse_http_time(e) else {
            return false;
        };
        let date = match resp.date {
            Some(d) => match crate::core::time::parse_http_time(d) {
                Some(d) => d,
                None => return false,
            },
            None => cy.clock.now_ms / 1000,
        };
        return expires < date;
    }
    if let Some(cc) = resp.cache_control {
        let has = |w: &[u8]| {
            cc.split(|&b| b == b',' || b == b';')
                .any(|t| crate::http::parse::trim(t).eq_ignore_ascii_case(w))
        };
        return (p & proxied::NO_CACHE != 0 && has(b"no-cache"))
            || (p & proxied::NO_STORE != 0 && has(b"no-store"))
            || (p & proxied::PRIVATE != 0 && has(b"private"));
    }
    if p & proxied::NO_LM != 0 && resp.last_modified {
        return false;
    }
    if p & proxied::NO_ETAG != 0 && resp.etag {
        return false;
    }
    true
}

/// nginx's msie6 test (ngx_http_process_user_agent): "MSIE " before 7,
/// not "Opera", and not SV1-patched MSIE 6.
fn is_msie6(ua: &[u8]) -> bool {
    let Some(at) = ua.windows(5).position(|w| w == b"MSIE ") else {
        return false;
    };
    let rest = &ua[at + 5..];
    if rest.len() < 2 || ua.windows(5).any(|w| w == b"Opera") {
        return false;
    }
    if rest.get(1) != Some(&b'.') {
        return false;
    }
    match rest[0] {
        b'4' | b'5' => true,
        b'6' => !rest.windows(3).any(|w| w == b"SV1"),
        _ => false,
    }
}

/// What the header filters decided for a response's coding.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Coding {
    /// As it is.
    #[default]
    Identity,
    /// Compressed here: `Content-Encoding: gzip`, no length, no ranges, a
    /// weak ETag.
    Gzip,
    /// A gzip body decompressed here for a client that does not take gzip:
    /// no Content-Encoding, no length, no ranges, a weak ETag.
    Gunzip,
}

/// The parts of a response the header filters look at.
#[derive(Debug, Clone, Copy)]
pub struct HeadInfo<'a> {
    /// Status.
    pub status: u16,
    /// Content-Type.
    pub content_type: Option<&'a [u8]>,
    /// Content-Length.
    pub content_length: Option<u64>,
    /// Content-Encoding (None or empty: none).
    pub content_encoding: Option<&'a [u8]>,
    /// For `gzip_proxied`.
    pub resp: RespHeaders<'a>,
    /// The charset filter recodes the body (it runs between gunzip and
    /// gzip: a recoding to or from UTF-8 leaves gzip no length).
    pub recode: Option<&'a Recode>,
}

/// Mirrors ngx_http_gunzip_header_filter() then ngx_http_gzip_header_filter(),
/// in nginx's filter order: decides the response's coding and, for a
/// response with a body, gives the request its [`BodyFilter`]. Sets the
/// request's vary flag as nginx does. `header_only`: HEAD (the headers
/// change, no body filter is made).
pub fn header_filter<S: Transport>(cy: &mut Cycle<S>, key: usize, h: &HeadInfo<'_>) -> Coding {
    let Some(r) = cy.conns[key].req() else {
        return Coding::Identity;
    };
    if r.body_filter.is_some() {
        return r.coding;
    }
    let Some(conf) = r.loc.as_ref().map(|l| l.gzip.clone()) else {
        return Coding::Identity;
    };
    let header_only = r.header_only;
    let http11 = r.version == Version::Http11;
    let status_ok = matches!(h.status, 200 | 403 | 404);
    let encoding = h.content_encoding.filter(|e| !e.is_empty());
    let length = h
        .content_length
        .filter(|_| h.recode.is_none_or(Recode::keeps_length));
    let coding = if conf.gunzip && encoding.is_some_and(|e| e.eq_ignore_ascii_case(b"gzip")) {
        // ngx_http_gunzip_header_filter: gunzip for a client without gzip.
        if let Some(r) = cy.conns[key].req_mut() {
            r.gzip_flags |= flags::VARY;
        }
        if gzip_ok(cy, key, &h.resp) {
            Coding::Identity
        } else {
            Coding::Gunzip
        }
    } else if conf.enable
        && status_ok
        && encoding.is_none()
        && length.is_none_or(|l| l >= conf.min_length)
        && h.content_type.is_some_and(|t| conf.types.matches(t))
    {
        if let Some(r) = cy.conns[key].req_mut() {
            r.gzip_flags |= flags::VARY;
        }
        if gzip_ok(cy, key, &h.resp) {
            Coding::Gzip
        } else {
            Coding::Identity
        }
    } else {
        Coding::Identity
    };
    let Some(r) = cy.conns[key].req_mut() else {
        return Coding::Identity;
    };
    r.coding = coding;
    if (coding != Coding::Identity || h.recode.is_some()) && !header_only {
        r.body_filter = Some(BodyFilter::new(
            coding,
            h.recode,
            &conf,
            http11,
            h.content_length,
        ));
    }
    coding
}

/// The test of ngx_http_gunzip_header_filter(): is a body with this
/// Content-Encoding decompressed for the client? No: it keeps a coding,
/// and the charset filter (which runs after gunzip) leaves it alone.
pub fn still_encoded<S: Transport>(
    cy: &mut Cycle<S>,
    key: usize,
    encoding: Option<&[u8]>,
    resp: &RespHeaders<'_>,
) -> bool {
    let Some(e) = encoding.filter(|e| !e.is_empty()) else {
        return false;
    };
    let gunzip = cy.conns[key]
        .req()
        .and_then(|r| r.loc.as_ref())
        .is_some_and(|l| l.gzip.gunzip);
    !(gunzip && e.eq_ignore_ascii_case(b"gzip") && !gzip_ok(cy, key, resp))
}

/// `$gzip_ratio` (ngx_http_gzip_ratio_variable): bytes in over bytes out,
/// two decimals rounded as nginx; None before or without compression.
pub fn gzip_ratio(f: &BodyFilter) -> Option<String> {
    if !matches!(
        f.stages.last(),
        Some(Coder::Gzip { .. } | Coder::GzipSmall { .. })
    ) || f.bytes_out == 0
        || !f.done
    {
        return None;
    }
    let (zin, zout) = (f.bytes_in, f.bytes_out);
    let mut int = zin / zout;
    let mut frac = (zin * 100 / zout) % 100;
    if (zin * 1000 / zout) % 10 > 4 {
        frac += 1;
        if frac > 99 {
            int += 1;
            frac = 0;
        }
    }
    Some(format!("{int}.{frac:02}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_encoding_as_nginx_reads_it() {
        for yes in [
            &b"gzip"[..],
            b"gzip, deflate",
            b"deflate, gzip",
            b"br,gzip;q=0.5",
            b"gzip;q=1",
            b"gzip; q=0.001",
            b"GZIP",
        ] {
            assert!(accepts_gzip(yes), "{}", String::from_utf8_lossy(yes));
        }
        for no in [
            &b"deflate"[..],
            b"gzip;q=0",
            b"gzip;q=0.000",
            b"xgzip",
            b"gzipx",
            b"gzip;q=1.5",
            b"gzip;q=0.0001",
            b"identity",
        ] {
            assert!(!accepts_gzip(no), "{}", String::from_utf8_lossy(no));
        }
        assert!(accepts_token(b"gzip, deflate, br", b"br"));
        assert!(!accepts_token(b"gzip, brotli", b"br"));
        assert!(!accepts_token(b"br;q=0", b"br"));
    }

    #[test]
    fn msie6_is_recognised() {
        assert!(is_msie6(
            b"Mozilla/4.0 (compatible; MSIE 6.0; Windows NT 5.1)"
        ));
        assert!(!is_msie6(
            b"Mozilla/4.0 (compatible; MSIE 6.0; Windows NT 5.1; SV1)"
        ));
        assert!(!is_msie6(
            b"Mozilla/4.0 (compatible; MSIE 7.0; Windows NT 6.0)"
        ));
    }

    #[test]
    fn small_bodies_are_one_gzip_member_of_their_own() {
        use std::io::Read;
        let conf = GzipConf::default();
        for len in [0usize, 1, 1000, SMALL_BODY as usize] {
            let body: Vec<u8> = (0..len).map(|i| b"holdfast "[i % 9]).collect();
            let mut f = BodyFilter::new(Coding::Gzip, None, &conf, false, Some(len as u64));
            assert!(matches!(f.stages.last(), Some(Coder::GzipSmall { .. })));
            // Queued in two pieces, coded in two feeds.
            f.raw.mem.extend_from_slice(&body[..len / 2]);
            let mut out = OutChain::default();
            let mut fb = Vec::new();
            f.pump(&mut out, &mut fb).unwrap();
            f.raw.mem.extend_from_slice(&body[len / 2..]);
            f.last = true;
            while f.has_work() {
                f.pump(&mut out, &mut fb).unwrap();
            }
            let mut back = Vec::new();
            flate2::read::GzDecoder::new(&out.mem[..])
                .read_to_end(&mut back)
                .unwrap();
            assert_eq!(back, body, "{len}");
        }
    }

    #[test]
    fn deflate_round_trip_through_the_pump() {
        use std::io::Read;
        let conf = GzipConf::default();
        let mut f = BodyFilter::new(Coding::Gzip, None, &conf, false, None);
        let body: Vec<u8> = (0..200_000u32)
            .flat_map(|i| (i % 251).to_le_bytes())
            .collect();
        f.raw.mem.extend_from_slice(&body);
        f.last = true;
        let mut out = OutChain::default();
        let mut fb = Vec::new();
        let mut got = Vec::new();
        while f.has_work() {
            f.pump(&mut out, &mut fb).unwrap();
            got.extend_from_slice(&out.mem[out.sent..]);
            out.sent = out.mem.len();
        }
        let mut d = flate2::read::GzDecoder::new(&got[..]);
        let mut back = Vec::new();
        d.read_to_end(&mut back).unwrap();
        assert_eq!(back, body);
        drop(f);
        assert!(pooled_deflate_states() >= 1);
    }
}
