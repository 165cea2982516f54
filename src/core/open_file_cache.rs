//! Open file descriptors and small files kept between requests: nginx's
//! `core/ngx_open_file_cache.c`.
//!
//! Differs from nginx: always on, with fixed limits (nginx's cache is off
//! unless `open_file_cache` is set). A cached entry is checked again with
//! `stat()` at most every [`OPEN_FILE_CACHE_VALID_MS`]; a changed file (inode,
//! size or mtime) is reopened, a removed one is forgotten. Files up to
//! [`OPEN_FILE_CACHE_CONTENT_MAX`] bytes are also kept in memory, so a hot small
//! file costs no syscall at all beyond the response's write.

use std::collections::HashMap;
use std::ffi::OsStr;
use std::fs::File;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileExt, MetadataExt};
use std::path::Path;
use std::rc::Rc;

/// Entries kept at most (nginx's `open_file_cache max=`).
pub const OPEN_FILE_CACHE_MAX: usize = 1024;
/// How long an entry is trusted before it is checked again (`open_file_cache_valid`).
pub const OPEN_FILE_CACHE_VALID_MS: u64 = 1000;
/// Files up to this size are kept in memory too.
pub const OPEN_FILE_CACHE_CONTENT_MAX: u64 = 32 * 1024;
/// Bytes of file content kept in memory at most.
pub const OPEN_FILE_CACHE_CONTENT_TOTAL: usize = 16 * 1024 * 1024;

/// What the cache knows of one path.
#[derive(Debug)]
pub struct CachedFile {
    /// The open file (a directory too).
    pub file: Rc<File>,
    /// Size in bytes.
    pub size: u64,
    /// Modification time, seconds since the epoch.
    pub mtime: u64,
    /// A directory.
    pub is_dir: bool,
    /// A regular file.
    pub is_file: bool,
    /// The bytes of a small regular file.
    pub content: Option<Rc<[u8]>>,
    dev: u64,
    ino: u64,
    checked_ms: u64,
}

/// The cache (one per cycle).
#[derive(Debug, Default)]
pub struct OpenFileCache {
    map: HashMap<Box<[u8]>, CachedFile>,
    content_bytes: usize,
}

impl OpenFileCache {
    /// Mirrors ngx_open_cached_file(): the file at `path`, opened (and read,
    /// when small) on first use and checked again at most once per
    /// [`OPEN_FILE_CACHE_VALID_MS`].
    pub fn open(&mut self, path: &[u8], now_ms: u64) -> io::Result<&CachedFile> {
        let fs_path = Path::new(OsStr::from_bytes(path));
        let fresh = match self.map.get(path) {
            Some(e) if now_ms.saturating_sub(e.checked_ms) < OPEN_FILE_CACHE_VALID_MS => true,
            Some(e) => {
                // Revalidate: the same file still at this path?
                match std::fs::metadata(fs_path) {
                    Ok(md)
                        if md.dev() == e.dev
                            && md.ino() == e.ino
                            && md.len() == e.size
                            && md.mtime() as u64 == e.mtime =>
                    {
                        if let Some(e) = self.map.get_mut(path) {
                            e.checked_ms = now_ms;
                        }
                        true
                    }
                    _ => {
                        self.remove(path);
                        false
                    }
                }
            }
            None => false,
        };
        if !fresh {
            let entry = self.load(fs_path, now_ms)?;
            if self.map.len() >= OPEN_FILE_CACHE_MAX
                && let Some(victim) = self.map.keys().next().cloned()
            {
                self.remove(&victim);
            }
            if let Some(c) = &entry.content {
                self.content_bytes += c.len();
            }
            self.map.insert(path.into(), entry);
        }
        self.map
            .get(path)
            .ok_or_else(|| io::Error::from(io::ErrorKind::NotFound))
    }

    fn load(&self, path: &Path, now_ms: u64) -> io::Result<CachedFile> {
        let file = File::open(path)?;
        let md = file.metadata()?;
        let small = md.is_file() && md.len() <= OPEN_FILE_CACHE_CONTENT_MAX;
        let content =
            if small && self.content_bytes + md.len() as usize <= OPEN_FILE_CACHE_CONTENT_TOTAL {
                let mut buf = vec![0u8; md.len() as usize];
                file.read_exact_at(&mut buf, 0)?;
                Some(Rc::from(buf))
            } else {
                None
            };
        Ok(CachedFile {
            size: md.len(),
            mtime: u64::try_from(md.mtime()).unwrap_or(0),
            is_dir: md.is_dir(),
            is_file: md.is_file(),
            content,
            dev: md.dev(),
            ino: md.ino(),
            checked_ms: now_ms,
            file: Rc::new(file),
        })
    }

    fn remove(&mut self, path: &[u8]) {
        if let Some(e) = self.map.remove(path)
            && let Some(c) = e.content
        {
            self.content_bytes -= c.len();
        }
    }

    /// Entries held.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// Nothing held.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caches_reads_small_files_and_notices_changes() {
        let dir = std::env::temp_dir().join(format!("holdfast-ofc-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("a.txt");
        std::fs::write(&p, "one").unwrap();
        let key = p.as_os_str().as_bytes().to_vec();
        let mut cache = OpenFileCache::default();
        let e = cache.open(&key, 0).unwrap();
        assert!(e.is_file && !e.is_dir);
        assert_eq!(e.content.as_deref(), Some(&b"one"[..]));
        // Within the validity period the cached bytes are served as they are.
        std::fs::write(&p, "two!").unwrap();
        assert_eq!(
            cache.open(&key, 500).unwrap().content.as_deref(),
            Some(&b"one"[..])
        );
        // After it, the change (size) is noticed.
        assert_eq!(
            cache.open(&key, 1500).unwrap().content.as_deref(),
            Some(&b"two!"[..])
        );
        // A removed file is forgotten.
        std::fs::remove_file(&p).unwrap();
        assert!(cache.open(&key, 3000).is_err());
        assert!(cache.is_empty());
        let d = dir.as_os_str().as_bytes().to_vec();
        assert!(cache.open(&d, 3000).unwrap().is_dir);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
