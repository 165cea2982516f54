//! Buffers: nginx's `ngx_buf.c` and the connection pool's buffer reuse.
//!
//! A connection's header buffer (`c->buffer`, `r->header_in`) is a [`Buf`]; its
//! pending output is an [`OutChain`] (nginx's `ngx_chain_t` of memory and file
//! buffers). Both come from, and go back to, the cycle's [`BufPool`], so an idle
//! connection holds no buffer and a busy one allocates nothing in steady state.

use std::fs::File;
use std::rc::Rc;

/// Buffers kept per size class (beyond that they are freed).
pub const POOL_MAX_PER_CLASS: usize = 256;

/// An output vector grown past this is freed rather than pooled.
pub const OUT_KEEP_CAPACITY: usize = 256 * 1024;

/// A fixed-size byte buffer with nginx's `pos` (first unparsed byte) and `last`
/// (end of data) cursors.
#[derive(Debug)]
pub struct Buf {
    /// The memory (`start..end`).
    pub mem: Box<[u8]>,
    /// First byte not yet consumed.
    pub pos: usize,
    /// End of the data read so far.
    pub last: usize,
}

impl Buf {
    /// Wraps memory as an empty buffer.
    pub fn new(mem: Box<[u8]>) -> Self {
        Buf {
            mem,
            pos: 0,
            last: 0,
        }
    }

    /// Capacity (`end - start`).
    pub fn size(&self) -> usize {
        self.mem.len()
    }

    /// Unconsumed bytes (`pos..last`).
    pub fn data(&self) -> &[u8] {
        &self.mem[self.pos..self.last]
    }

    /// Free room after `last`.
    pub fn spare(&mut self) -> &mut [u8] {
        &mut self.mem[self.last..]
    }

    /// Nothing left to consume.
    pub fn is_empty(&self) -> bool {
        self.pos == self.last
    }

    /// Full up to `end`.
    pub fn is_full(&self) -> bool {
        self.last == self.mem.len()
    }

    /// Moves the unconsumed bytes to the start of the buffer.
    pub fn compact(&mut self) {
        if self.pos > 0 {
            self.mem.copy_within(self.pos..self.last, 0);
            self.last -= self.pos;
            self.pos = 0;
        }
    }
}

/// A file region queued for sending.
#[derive(Debug)]
pub struct FileSeg {
    /// Offset in [`OutChain::mem`] where this file's bytes belong.
    pub at: usize,
    /// The open file (shared with the open file cache).
    pub file: Rc<File>,
    /// Next byte to send.
    pub pos: u64,
    /// End of the region.
    pub end: u64,
}

/// Pending output of a connection: response headers and small bodies copied
/// into `mem`, large file bodies as [`FileSeg`]s interleaved by offset.
#[derive(Debug, Default)]
pub struct OutChain {
    /// Header and in-memory body bytes of every queued response, in order.
    pub mem: Vec<u8>,
    /// Bytes of `mem` already sent.
    pub sent: usize,
    /// File bodies, ordered by `at`.
    pub files: Vec<FileSeg>,
    /// Files already fully sent.
    pub file_idx: usize,
}

impl OutChain {
    /// Nothing left to send.
    pub fn is_empty(&self) -> bool {
        self.sent == self.mem.len() && self.file_idx == self.files.len()
    }

    /// Bytes still to send.
    pub fn pending(&self) -> u64 {
        let files: u64 = self.files[self.file_idx..]
            .iter()
            .map(|f| f.end - f.pos)
            .sum();
        (self.mem.len() - self.sent) as u64 + files
    }

    /// Forgets everything sent, keeping the memory.
    pub fn reset(&mut self) {
        self.mem.clear();
        self.sent = 0;
        self.files.clear();
        self.file_idx = 0;
    }

    /// Drops the memory already sent (and the file regions sent), so a
    /// queue that is refilled before it empties does not keep growing;
    /// only worth it once a good part of `mem` is sent.
    pub fn compact(&mut self) {
        if self.sent < 4096 || self.sent * 2 < self.mem.len() {
            return;
        }
        // Unsent file regions all start at or after `sent`: memory before a
        // region goes out before it.
        self.files.drain(..self.file_idx);
        self.file_idx = 0;
        for f in &mut self.files {
            f.at -= self.sent;
        }
        self.mem.drain(..self.sent);
        self.sent = 0;
    }

    /// Queues a file region after what is queued now.
    pub fn push_file(&mut self, file: Rc<File>, pos: u64, end: u64) {
        self.files.push(FileSeg {
            at: self.mem.len(),
            file,
            pos,
            end,
        });
    }
}

/// Free lists of buffers by size.
#[derive(Debug, Default)]
pub struct BufPool {
    classes: Vec<(usize, Vec<Box<[u8]>>)>,
    /// Buffers handed out and not yet returned (for leak checks and stats).
    pub outstanding: usize,
}

impl BufPool {
    /// A buffer of exactly `size` bytes, reused when one is free.
    pub fn get(&mut self, size: usize) -> Buf {
        self.outstanding += 1;
        if let Some((_, list)) = self.classes.iter_mut().find(|(s, _)| *s == size)
            && let Some(mem) = list.pop()
        {
            return Buf::new(mem);
        }
        Buf::new(vec![0u8; size].into_boxed_slice())
    }

    /// Returns a buffer to its size class.
    pub fn put(&mut self, buf: Buf) {
        self.outstanding = self.outstanding.saturating_sub(1);
        let size = buf.size();
        match self.classes.iter_mut().find(|(s, _)| *s == size) {
            Some((_, list)) => {
                if list.len() < POOL_MAX_PER_CLASS {
                    list.push(buf.mem);
                }
            }
            None => self.classes.push((size, vec![buf.mem])),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pool_reuses_by_size() {
        let mut pool = BufPool::default();
        let mut b = pool.get(1024);
        b.mem[0] = 7;
        let ptr = b.mem.as_ptr();
        pool.put(b);
        let b2 = pool.get(1024);
        assert_eq!(b2.mem.as_ptr(), ptr);
        assert_eq!((b2.pos, b2.last), (0, 0));
        let b3 = pool.get(8192);
        assert_eq!(b3.size(), 8192);
        assert_eq!(pool.outstanding, 2);
    }

    #[test]
    fn out_chain_compacts_around_files() {
        let file = Rc::new(tempfile_with(b"FILE"));
        let mut out = OutChain::default();
        out.mem.extend_from_slice(&[b'a'; 5000]);
        out.push_file(file.clone(), 0, 4);
        out.mem.extend_from_slice(b"tail");
        out.sent = 5000;
        out.compact();
        assert_eq!((out.sent, out.mem.as_slice()), (0, &b"tail"[..]));
        assert_eq!((out.files[0].at, out.file_idx), (0, 0));
        assert_eq!(out.pending(), 8);
        // Too little sent: left as it is.
        out.sent = 2;
        out.compact();
        assert_eq!(out.mem.len(), 4);
    }

    fn tempfile_with(data: &[u8]) -> File {
        use std::io::Write;
        let path = std::env::temp_dir().join(format!("hf-buf-{}", std::process::id()));
        let mut f = File::create(&path).unwrap();
        f.write_all(data).unwrap();
        let f = File::open(&path).unwrap();
        std::fs::remove_file(&path).unwrap();
        f
    }

    #[test]
    fn compact_moves_unconsumed_bytes() {
        let mut b = Buf::new(vec![0u8; 8].into_boxed_slice());
        b.mem[..5].copy_from_slice(b"abcde");
        b.last = 5;
        b.pos = 3;
        b.compact();
        assert_eq!(b.data(), b"de");
        assert_eq!(b.spare().len(), 6);
    }
}
