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
//! `disable_symlinks` is applied here too (ngx_open_file_wrapper): with it
//! on, a path is opened one component at a time with openat(2) and
//! `O_NOFOLLOW`, so a symbolic link anywhere in it (past `from=`) fails the
//! lookup with ELOOP (ENOTDIR for a directory link, as `O_PATH|O_DIRECTORY`
//! reports it), and `if_not_owner` follows a link only when the link and
//! what it names have the same owner. A cache entry remembers the policy it
//! was opened under; a lookup under another policy opens the file again (as
//! nginx's retest does), so a location with `disable_symlinks on` never gets
//! a descriptor another location opened through a link.
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
use crate::os::files::{
    FILE_NOFOLLOW, FILE_RDONLY, FILE_SEARCH, fd_owner, file_at_owner, openat_file,
};

/// Files up to this size are kept in memory too (while the cache is on).
pub const OPEN_FILE_CACHE_CONTENT_MAX: u64 = 32 * 1024;
/// Bytes of file content kept in memory at most.
pub const OPEN_FILE_CACHE_CONTENT_TOTAL: usize = 16 * 1024 * 1024;
/// How often entries unused for `inactive` are looked for, at most.
const SWEEP_EVERY_MS: u64 = 1000;

/// `disable_symlinks off | on | if_not_owner` (nginx's
/// NGX_DISABLE_SYMLINKS_*).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DisableSymlinks {
    /// Links are followed (the default).
    #[default]
    Off,
    /// A link anywhere in the path refuses the file.
    On,
    /// A link is followed only when it and its target have the same owner.
    IfNotOwner,
}

/// How one lookup treats symbolic links (nginx's of->disable_symlinks and
/// of->disable_symlinks_from, set by ngx_http_set_disable_symlinks).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Symlinks {
    /// The policy.
    pub mode: DisableSymlinks,
    /// `from=`: the path's first `from` bytes (ending before a `/`) are
    /// opened as usual, links and all, and the check starts after them; 0:
    /// from `/`.
    pub from: usize,
}

/// A failed lookup: the errno and the call that gave it (nginx's of->err
/// and of->failed), for `openat() "PATH" failed (40: Too many levels of
/// symbolic links)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OpenError {
    /// The errno.
    pub errno: i32,
    /// `open()`, `openat()`, `stat()` or `fstat()`.
    pub failed: &'static str,
}

impl OpenError {
    fn new(e: &io::Error, failed: &'static str) -> OpenError {
        OpenError {
            // Only a name with a NUL in it fails without an errno.
            errno: e.raw_os_error().unwrap_or(libc::EINVAL),
            failed,
        }
    }

    /// The error as std knows it.
    pub fn error(&self) -> io::Error {
        io::Error::from_raw_os_error(self.errno)
    }

    /// Its kind.
    pub fn kind(&self) -> io::ErrorKind {
        self.error().kind()
    }
}

impl std::fmt::Display for OpenError {
    /// `40: Too many levels of symbolic links`, as nginx prints an errno.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        crate::os::io::OsErr(&self.error()).fmt(f)
    }
}

impl From<OpenError> for io::Error {
    fn from(e: OpenError) -> io::Error {
        e.error()
    }
}

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
    found: Result<CachedFile, OpenError>,
    /// The `disable_symlinks` it was looked up under.
    symlinks: Symlinks,
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
    /// location's `conf` (None: the cache is off for it) and
    /// `disable_symlinks`.
    pub fn open(
        &mut self,
        path: &[u8],
        now_ms: u64,
        conf: Option<&OpenFileCacheConf>,
        of: Symlinks,
    ) -> Result<CachedFile, OpenError> {
        let Some(conf) = conf else {
            return load(path, of, false, 0);
        };
        if now_ms.saturating_sub(self.swept_ms) >= SWEEP_EVERY_MS {
            self.swept_ms = now_ms;
            self.expire(now_ms, conf.inactive_ms);
        }
        if let Some(e) = self.map.get_mut(path) {
            // Another policy: looked up again (nginx's retest).
            let same = e.symlinks == of;
            let fresh = same
                && now_ms.saturating_sub(e.checked_ms) < conf.valid_ms
                && now_ms.saturating_sub(e.used_ms) < conf.inactive_ms;
            if fresh || (same && unchanged(path, of, &e.found)) {
                e.checked_ms = if fresh { e.checked_ms } else { now_ms };
                e.used_ms = now_ms;
                e.uses += 1;
                return e.found.clone();
            }
            self.remove(path);
        }
        let keep_content = self.content_bytes < OPEN_FILE_CACHE_CONTENT_TOTAL;
        let found = load(path, of, keep_content, self.content_bytes);
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
                found: found.clone(),
                symlinks: of,
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
/// mtime; for a remembered error, still failing the same way), looked at
/// under the same `disable_symlinks`?
fn unchanged(path: &[u8], of: Symlinks, found: &Result<CachedFile, OpenError>) -> bool {
    match (file_info_wrapper(path, of), found) {
        (Ok(md), Ok(f)) => {
            md.dev() == f.dev
                && md.ino() == f.ino
                && md.len() == f.size
                && u64::try_from(md.mtime()).unwrap_or(0) == f.mtime
        }
        (Err(e), Err(was)) => e.errno == was.errno,
        _ => false,
    }
}

/// Opens and fstat()s a file (ngx_open_and_stat_file); a small regular one
/// is read into memory when `keep_content` and there is room.
fn load(
    path: &[u8],
    of: Symlinks,
    keep_content: bool,
    content_bytes: usize,
) -> Result<CachedFile, OpenError> {
    let file = open_file_wrapper(path, of)?;
    let md = file.metadata().map_err(|e| OpenError::new(&e, "fstat()"))?;
    let small = md.is_file() && md.len() <= OPEN_FILE_CACHE_CONTENT_MAX;
    let content = if keep_content
        && small
        && content_bytes + md.len() as usize <= OPEN_FILE_CACHE_CONTENT_TOTAL
    {
        let mut buf = vec![0u8; md.len() as usize];
        file.read_exact_at(&mut buf, 0)
            .map_err(|e| OpenError::new(&e, "pread()"))?;
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

/// Mirrors ngx_open_file_wrapper(): `path` opened for reading. With
/// `disable_symlinks` off, one open(2). Otherwise the directory before
/// `from` (or `/`) is opened as usual and each later component with
/// openat(2): directories for search (`O_PATH|O_DIRECTORY`), the last one
/// for reading, all with `O_NOFOLLOW` (`on`), or following a link and then
/// comparing the owners of the link and what was opened (`if_not_owner`,
/// ELOOP when they differ). A path ending in `/` opens its last directory
/// as `.`.
pub fn open_file_wrapper(path: &[u8], of: Symlinks) -> Result<File, OpenError> {
    if of.mode == DisableSymlinks::Off {
        return File::open(Path::new(OsStr::from_bytes(path)))
            .map_err(|e| OpenError::new(&e, "open()"));
    }
    let openat = |e: io::Error| OpenError::new(&e, "openat()");
    let (mut at, mut p) = if of.from > 0 && of.from < path.len() {
        let dir = openat_file(None, &path[..of.from], FILE_SEARCH)
            .map_err(|e| OpenError::new(&e, "open()"))?;
        (Some(dir), of.from + 1)
    } else if path.starts_with(b"/") {
        (
            Some(openat_file(None, b"/", FILE_SEARCH).map_err(openat)?),
            1,
        )
    } else {
        (None, 0)
    };
    while let Some(slash) = path[p..].iter().position(|&b| b == b'/') {
        if slash > 0 {
            let name = &path[p..p + slash];
            let fd = if of.mode == DisableSymlinks::IfNotOwner {
                openat_file_owner(at.as_ref(), name, FILE_SEARCH)
            } else {
                openat_file(at.as_ref(), name, FILE_SEARCH | FILE_NOFOLLOW)
            };
            at = Some(fd.map_err(openat)?);
        }
        p += slash + 1;
    }
    let fd = if p == path.len() {
        openat_file(at.as_ref(), b".", FILE_RDONLY)
    } else if of.mode == DisableSymlinks::IfNotOwner {
        openat_file_owner(at.as_ref(), &path[p..], FILE_RDONLY)
    } else {
        openat_file(at.as_ref(), &path[p..], FILE_RDONLY | FILE_NOFOLLOW)
    };
    fd.map(File::from).map_err(openat)
}

/// Mirrors ngx_openat_file_owner(): `name` opened following a link, then
/// refused (ELOOP) unless the name itself (fstatat without following) and
/// what was opened have the same owner. The owners are compared even when
/// the name is no link now: it may have been one when it was opened.
fn openat_file_owner(
    at: Option<&std::os::fd::OwnedFd>,
    name: &[u8],
    flags: libc::c_int,
) -> io::Result<std::os::fd::OwnedFd> {
    let fd = openat_file(at, name, flags)?;
    let link_owner = file_at_owner(at, name)?;
    if fd_owner(&fd)? != link_owner {
        return Err(io::Error::from_raw_os_error(libc::ELOOP));
    }
    Ok(fd)
}

/// Mirrors ngx_file_info_wrapper(): what `path` is, for the tests that
/// need no descriptor (try_files, `if (-f …)`, an index). Off: stat(2);
/// otherwise the file is opened as [`open_file_wrapper`] does and fstat()ed.
pub fn file_info_wrapper(path: &[u8], of: Symlinks) -> Result<std::fs::Metadata, OpenError> {
    if of.mode == DisableSymlinks::Off {
        return std::fs::metadata(Path::new(OsStr::from_bytes(path)))
            .map_err(|e| OpenError::new(&e, "stat()"));
    }
    open_file_wrapper(path, of)?
        .metadata()
        .map_err(|e| OpenError::new(&e, "fstat()"))
}

#[cfg(test)]
mod tests {
    use super::*;

    const OFF: Symlinks = Symlinks {
        mode: DisableSymlinks::Off,
        from: 0,
    };

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
        let e = cache.open(&key(&p), 0, None, OFF).unwrap();
        assert!(e.is_file && e.content.is_none());
        std::fs::write(&p, "two!").unwrap();
        assert_eq!(cache.open(&key(&p), 1, None, OFF).unwrap().size, 4);
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
        let e = cache.open(&key(&p), 0, Some(&c), OFF).unwrap();
        assert_eq!(e.content.as_deref(), Some(&b"one"[..]));
        std::fs::write(&p, "two!").unwrap();
        // Within open_file_cache_valid the entry is served as it is.
        assert_eq!(
            cache
                .open(&key(&p), 500, Some(&c), OFF)
                .unwrap()
                .content
                .as_deref(),
            Some(&b"one"[..])
        );
        assert_eq!(
            cache
                .open(&key(&p), 1500, Some(&c), OFF)
                .unwrap()
                .content
                .as_deref(),
            Some(&b"two!"[..])
        );
        std::fs::remove_file(&p).unwrap();
        assert!(cache.open(&key(&p), 3000, Some(&c), OFF).is_err());
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
        cache.open(&key(&d.join("a")), 0, Some(&c), OFF).unwrap();
        cache.open(&key(&d.join("b")), 1, Some(&c), OFF).unwrap();
        cache.open(&key(&d.join("a")), 2, Some(&c), OFF).unwrap();
        cache.open(&key(&d.join("c")), 3, Some(&c), OFF).unwrap();
        assert_eq!(cache.len(), 2);
        assert!(cache.map.contains_key(key(&d.join("a")).as_slice()));
        assert!(!cache.map.contains_key(key(&d.join("b")).as_slice()));
        let missing = key(&d.join("nope"));
        assert!(cache.open(&missing, 4, Some(&c), OFF).is_err());
        assert!(cache.map.contains_key(missing.as_slice()));
        // A remembered error stands for `valid` even if the file appears.
        std::fs::write(d.join("nope"), "now").unwrap();
        assert!(cache.open(&missing, 5, Some(&c), OFF).is_err());
        let _ = std::fs::remove_dir_all(&d);
    }

    fn policy(mode: DisableSymlinks, from: usize) -> Symlinks {
        Symlinks { mode, from }
    }

    #[test]
    fn disable_symlinks_walks_the_path() {
        use std::os::unix::fs::symlink;
        let d = dir("links");
        std::fs::create_dir_all(d.join("real")).unwrap();
        std::fs::write(d.join("real/f"), "f").unwrap();
        symlink("f", d.join("real/lf")).unwrap();
        symlink("real", d.join("ld")).unwrap();
        let p = |rel: &str| key(&d.join(rel));
        let on = policy(DisableSymlinks::On, 0);
        let owner = policy(DisableSymlinks::IfNotOwner, 0);
        for of in [OFF, on, owner] {
            assert!(open_file_wrapper(&p("real/f"), of).is_ok());
        }
        // A file link: ELOOP from the O_NOFOLLOW open.
        let e = open_file_wrapper(&p("real/lf"), on).unwrap_err();
        assert_eq!((e.errno, e.failed), (libc::ELOOP, "openat()"));
        // A directory link in the middle: O_PATH|O_DIRECTORY|O_NOFOLLOW
        // says ENOTDIR.
        let e = open_file_wrapper(&p("ld/f"), on).unwrap_err();
        assert_eq!(e.errno, libc::ENOTDIR);
        // The same owner: if_not_owner follows both.
        assert!(open_file_wrapper(&p("real/lf"), owner).is_ok());
        assert!(open_file_wrapper(&p("ld/f"), owner).is_ok());
        // from= past the link: it is opened as usual.
        let ld = p("ld");
        assert!(open_file_wrapper(&p("ld/f"), policy(DisableSymlinks::On, ld.len())).is_ok());
        // A trailing slash opens the directory itself.
        assert!(file_info_wrapper(&p("real/"), on).unwrap().is_dir());
        let e = file_info_wrapper(&p("real/f/"), on).unwrap_err();
        assert_eq!(e.errno, libc::ENOTDIR);
        // Off: stat() follows everything.
        assert!(file_info_wrapper(&p("ld/lf"), OFF).unwrap().is_file());
        assert_eq!(
            file_info_wrapper(&p("nope"), OFF).unwrap_err().failed,
            "stat()"
        );
        let _ = std::fs::remove_dir_all(&d);
    }

    #[test]
    fn a_cached_entry_is_not_reused_under_another_policy() {
        let d = dir("policy");
        std::fs::write(d.join("f"), "f").unwrap();
        std::os::unix::fs::symlink("f", d.join("l")).unwrap();
        let c = conf(10, 60_000, 1, true);
        let on = policy(DisableSymlinks::On, 0);
        let mut cache = OpenFileCache::default();
        let l = key(&d.join("l"));
        assert!(cache.open(&l, 0, Some(&c), OFF).is_ok());
        assert_eq!(
            cache.open(&l, 1, Some(&c), on).unwrap_err().errno,
            libc::ELOOP
        );
        // Neither the file nor the error is served to the other policy.
        assert!(cache.open(&l, 2, Some(&c), OFF).is_ok());
        assert!(cache.open(&l, 3, Some(&c), on).is_err());
        assert_eq!(cache.len(), 1);
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
            assert!(
                cache
                    .open(&key(&p), t, Some(&c), OFF)
                    .unwrap()
                    .content
                    .is_none()
            );
            assert!(cache.is_empty());
        }
        let e = cache.open(&key(&p), 2, Some(&c), OFF).unwrap();
        assert_eq!(e.content.as_deref(), Some(&b"a"[..]));
        assert_eq!(cache.len(), 1);
        let _ = std::fs::remove_dir_all(&d);
    }
}
