//! Open file descriptors (and small files) kept between requests: nginx's
//! `core/ngx_open_file_cache.c`, driven by `open_file_cache max=N
//! [inactive=T]`, `open_file_cache_valid`, `open_file_cache_min_uses` and
//! `open_file_cache_errors`.
//!
//! Off (the default, as in nginx), every lookup opens and fstat()s the file
//! and the descriptor is closed with the response. On, an entry is trusted
//! for `valid` and then checked with `stat()`: a changed file (inode, size
//! or mtime) is reopened, a removed one forgotten. A file's descriptor is
//! kept once it was used `min_uses` times within `inactive`; entries unused
//! for `inactive` are dropped, and at `max` entries the least recently used
//! one makes room. With `open_file_cache_errors on`, a failed lookup is
//! remembered too (for `valid`).
//!
//! Differs from nginx: one cache per worker, shared by every location that
//! turns it on (each lookup applies its location's parameters), where nginx
//! keeps one per `open_file_cache` directive; and files up to
//! [`OPEN_FILE_CACHE_CONTENT_MAX`] bytes are kept in memory as well, so a hot
//! small file costs no syscall beyond the response's write.

use std::collections::HashMap;
use std::ffi::OsStr;
use std::fs::File;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileExt, MetadataExt};
use std::path::Path;
use std::rc::Rc;

use crate::conf::OpenFileCacheConf;

/// Files up to this size are kept in memory too (while the cache is on).
pub const OPEN_FILE_CACHE_CONTENT_MAX: u64 = 32 * 1024;
/// Bytes of file content kept in memory at most.
pub const OPEN_FILE_CACHE_CONTENT_TOTAL: usize = 16 * 1024 * 1024;
/// How often entries unused for `inactive` are looked for, at most.
const SWEEP_EVERY_MS: u64 = 1000;

/// What a lookup found.
#[derive(Debug, Clone)]
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
    /// The bytes of a small regular file (only while cached).
    pub content: Option<Rc<[u8]>>,
    dev: u64,
    ino: u64,
}

/// One path's cache entry.
#[derive(Debug)]
struct Entry {
    /// The file, or the error its lookup gave (`open_file_cache_errors`).
    found: Result<CachedFile, io::ErrorKind>,
    /// When it was last checked against the file system (cycle ms).
    checked_ms: u64,
    /// When it was last used.
    used_ms: u64,
    /// Uses since it was created (for `min_uses`).
    uses: u64,
}

/// The cache (one per cycle).
#[derive(Debug, Default)]
pub struct OpenFileCache {
    map: HashMap<Box<[u8]>, Entry>,
    /// Uses (and the last one's time) of files not cached yet (`min_uses`).
    counts: HashMap<Box<[u8]>, (u64, u64)>,
    content_bytes: usize,
    swept_ms: u64,
}

impl OpenFileCache {
    /// Mirrors ngx_open_cached_file(): the file at `path` under the
    /// location's `conf` (None: the cache is off for it).
    pub fn open(
        &mut self,
        path: &[u8],
        now_ms: u64,
        conf: Option<&OpenFileCacheConf>,
    ) -> io::Result<CachedFile> {
        let fs_path = Path::new(OsStr::from_bytes(path));
        let Some(conf) = conf else {
            return load(fs_path, false, 0);
        };
        if now_ms.saturating_sub(self.swept_ms) >= SWEEP_EVERY_MS {
            self.swept_ms = now_ms;
            self.expire(now_ms, conf.inactive_ms);
        }
        if let Some(e) = self.map.get_mut(path) {
            let fresh = now_ms.saturating_sub(e.checked_ms) < conf.valid_ms
                && now_ms.saturating_sub(e.used_ms) < conf.inactive_ms;
            if fresh || unchanged(fs_path, &e.found) {
                e.checked_ms = if fresh { e.checked_ms } else { now_ms };
                e.used_ms = now_ms;
                e.uses += 1;
                return e.found.clone().map_err(io::Error::from);
            }
            self.remove(path);
        }
        let keep_content = self.content_bytes < OPEN_FILE_CACHE_CONTENT_TOTAL;
        let found = load(fs_path, keep_content, self.content_bytes);
        let remember = match &found {
            Ok(_) => conf.min_uses <= 1 || self.count_use(path, now_ms, conf) >= conf.min_uses,
            Err(_) => conf.errors,
        };
        if !remember {
            // Not used min_uses times yet: the descriptor is closed with
            // the response (nginx keeps a bare node for the count).
            return found.map(|mut f| {
                f.content = None;
                f
            });
        }
        self.counts.remove(path);
        if self.map.len() >= conf.max {
            self.evict_lru();
        }
        if let Ok(f) = &found
            && let Some(c) = &f.content
        {
            self.content_bytes += c.len();
        }
        self.map.insert(
            path.into(),
            Entry {
                found: found.as_ref().map(Clone::clone).map_err(io::Error::kind),
                checked_ms: now_ms,
                used_ms: now_ms,
                uses: 1,
            },
        );
        found
    }

    /// `min_uses` above 1: the file's uses within `inactive`, this one
    /// included.
    fn count_use(&mut self, path: &[u8], now_ms: u64, conf: &OpenFileCacheConf) -> u64 {
        let uses = self
            .counts
            .get(path)
            .filter(|(_, at)| now_ms.saturating_sub(*at) < conf.inactive_ms)
            .map_or(0, |(n, _)| *n)
            + 1;
        if self.counts.len() >= conf.max && !self.counts.contains_key(path) {
            self.counts.clear();
        }
        self.counts.insert(path.into(), (uses, now_ms));
        uses
    }

    /// Drops entries unused for `inactive` (nginx's
    /// ngx_expire_old_cached_files).
    fn expire(&mut self, now_ms: u64, inactive_ms: u64) {
        let old: Vec<Box<[u8]>> = self
            .map
            .iter()
            .filter(|(_, e)| now_ms.saturating_sub(e.used_ms) >= inactive_ms)
            .map(|(k, _)| k.clone())
            .collect();
        for k in old {
            self.remove(&k);
        }
        self.counts
            .retain(|_, (_, at)| now_ms.saturating_sub(*at) < inactive_ms);
    }

    /// At `max`: the least recently used entry goes.
    fn evict_lru(&mut self) {
        if let Some(victim) = self
            .map
            .iter()
            .min_by_key(|(_, e)| e.used_ms)
            .map(|(k, _)| k.clone())
        {
            self.remove(&victim);
        }
    }

    fn remove(&mut self, path: &[u8]) {
        if let Some(e) = self.map.remove(path)
            && let Ok(f) = e.found
            && let Some(c) = f.content
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

/// Is the file at `path` still what the entry says (same inode, size and
/// mtime; for a remembered error, still failing the same way)?
fn unchanged(path: &Path, found: &Result<CachedFile, io::ErrorKind>) -> bool {
    match (std::fs::metadata(path), found) {
        (Ok(md), Ok(f)) => {
            md.dev() == f.dev
                && md.ino() == f.ino
                && md.len() == f.size
                && u64::try_from(md.mtime()).unwrap_or(0) == f.mtime
        }
        (Err(e), Err(kind)) => e.kind() == *kind,
        _ => false,
    }
}

/// Opens and fstat()s a file (ngx_open_and_stat_file); a small regular one
/// is read into memory when `keep_content` and there is room.
fn load(path: &Path, keep_content: bool, content_bytes: usize) -> io::Result<CachedFile> {
    let file = File::open(path)?;
    let md = file.metadata()?;
    let small = md.is_file() && md.len() <= OPEN_FILE_CACHE_CONTENT_MAX;
    let content = if keep_content
        && small
        && content_bytes + md.len() as usize <= OPEN_FILE_CACHE_CONTENT_TOTAL
    {
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
        file: Rc::new(file),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conf(max: usize, valid_ms: u64, min_uses: u64, errors: bool) -> OpenFileCacheConf {
        OpenFileCacheConf {
            max,
            inactive_ms: 60_000,
            valid_ms,
            min_uses,
            errors,
        }
    }

    fn dir(tag: &str) -> std::path::PathBuf {
        let d = std::env::temp_dir().join(format!("holdfast-ofc-{}-{tag}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    fn key(p: &Path) -> Vec<u8> {
        p.as_os_str().as_bytes().to_vec()
    }

    #[test]
    fn off_opens_every_time_and_keeps_nothing() {
        let d = dir("off");
        let p = d.join("a.txt");
        std::fs::write(&p, "one").unwrap();
        let mut cache = OpenFileCache::default();
        let e = cache.open(&key(&p), 0, None).unwrap();
        assert!(e.is_file && e.content.is_none());
        std::fs::write(&p, "two!").unwrap();
        assert_eq!(cache.open(&key(&p), 1, None).unwrap().size, 4);
        assert!(cache.is_empty());
        let _ = std::fs::remove_dir_all(&d);
    }

    #[test]
    fn on_caches_for_valid_then_notices_changes() {
        let d = dir("on");
        let p = d.join("a.txt");
        std::fs::write(&p, "one").unwrap();
        let c = conf(10, 1000, 1, false);
        let mut cache = OpenFileCache::default();
        let e = cache.open(&key(&p), 0, Some(&c)).unwrap();
        assert_eq!(e.content.as_deref(), Some(&b"one"[..]));
        std::fs::write(&p, "two!").unwrap();
        // Within open_file_cache_valid the entry is served as it is.
        assert_eq!(
            cache
                .open(&key(&p), 500, Some(&c))
                .unwrap()
                .content
                .as_deref(),
            Some(&b"one"[..])
        );
        assert_eq!(
            cache
                .open(&key(&p), 1500, Some(&c))
                .unwrap()
                .content
                .as_deref(),
            Some(&b"two!"[..])
        );
        std::fs::remove_file(&p).unwrap();
        assert!(cache.open(&key(&p), 3000, Some(&c)).is_err());
        // Errors are not remembered unless open_file_cache_errors is on.
        assert!(cache.is_empty());
        let _ = std::fs::remove_dir_all(&d);
    }

    #[test]
    fn max_evicts_the_least_recently_used_and_errors_are_remembered() {
        let d = dir("max");
        for n in ["a", "b", "c"] {
            std::fs::write(d.join(n), n).unwrap();
        }
        let c = conf(2, 60_000, 1, true);
        let mut cache = OpenFileCache::default();
        cache.open(&key(&d.join("a")), 0, Some(&c)).unwrap();
        cache.open(&key(&d.join("b")), 1, Some(&c)).unwrap();
        cache.open(&key(&d.join("a")), 2, Some(&c)).unwrap();
        cache.open(&key(&d.join("c")), 3, Some(&c)).unwrap();
        assert_eq!(cache.len(), 2);
        assert!(cache.map.contains_key(key(&d.join("a")).as_slice()));
        assert!(!cache.map.contains_key(key(&d.join("b")).as_slice()));
        let missing = key(&d.join("nope"));
        assert!(cache.open(&missing, 4, Some(&c)).is_err());
        assert!(cache.map.contains_key(missing.as_slice()));
        // A remembered error stands for `valid` even if the file appears.
        std::fs::write(d.join("nope"), "now").unwrap();
        assert!(cache.open(&missing, 5, Some(&c)).is_err());
        let _ = std::fs::remove_dir_all(&d);
    }

    #[test]
    fn min_uses_counts_before_keeping() {
        let d = dir("min");
        let p = d.join("a");
        std::fs::write(&p, "a").unwrap();
        let c = conf(10, 60_000, 3, false);
        let mut cache = OpenFileCache::default();
        for t in 0..2 {
            assert!(cache.open(&key(&p), t, Some(&c)).unwrap().content.is_none());
            assert!(cache.is_empty());
        }
        let e = cache.open(&key(&p), 2, Some(&c)).unwrap();
        assert_eq!(e.content.as_deref(), Some(&b"a"[..]));
        assert_eq!(cache.len(), 1);
        let _ = std::fs::remove_dir_all(&d);
    }
}
