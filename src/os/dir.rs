//! Reading directories: the directory part of nginx's `os/unix/ngx_files.c`
//! and `ngx_files.h` (ngx_open_dir, ngx_read_dir, ngx_de_info,
//! ngx_de_link_info, ngx_close_dir), over libc's opendir/readdir.
//!
//! `std::fs::read_dir` would do, but it allocates a name and a shared
//! handle per entry and has no stat relative to the open directory; a
//! listing of 100,000 names reads them here into one reused buffer.

use std::ffi::CStr;
use std::io;
use std::mem::MaybeUninit;
use std::ptr::NonNull;

/// An open directory stream (nginx's ngx_dir_t); closed when dropped.
#[derive(Debug)]
pub struct Dir {
    dir: NonNull<libc::DIR>,
}

/// What ngx_de_info() learns of an entry.
#[derive(Debug, Clone, Copy)]
pub struct DirEntryInfo {
    /// A directory (ngx_de_is_dir).
    pub is_dir: bool,
    /// A regular file (ngx_de_is_file).
    pub is_file: bool,
    /// Modification time, seconds since the epoch (ngx_de_mtime).
    pub mtime: i64,
    /// Size in bytes (ngx_de_size).
    pub size: i64,
}

impl Dir {
    /// Mirrors ngx_open_dir(): opendir(3).
    pub fn open(path: &CStr) -> io::Result<Dir> {
        // SAFETY: `path` is a valid NUL-terminated string.
        let dir = unsafe { libc::opendir(path.as_ptr()) };
        NonNull::new(dir)
            .map(|dir| Dir { dir })
            .ok_or_else(io::Error::last_os_error)
    }

    /// Mirrors ngx_read_dir(): the next entry's name, copied into `name`
    /// with its terminating NUL; false at the end of the directory.
    pub fn read(&mut self, name: &mut Vec<u8>) -> io::Result<bool> {
        // readdir(3) tells an error from the end only by errno, which must
        // be cleared first (ngx_set_errno(0) in the autoindex handler).
        // SAFETY: __errno_location() returns this thread's errno.
        unsafe { *libc::__errno_location() = 0 };
        // SAFETY: `self.dir` is an open stream owned by `self`.
        let de = unsafe { libc::readdir(self.dir.as_ptr()) };
        if de.is_null() {
            let e = io::Error::last_os_error();
            return match e.raw_os_error() {
                Some(0) => Ok(false),
                _ => Err(e),
            };
        }
        // SAFETY: a non-null dirent from readdir holds a NUL-terminated
        // d_name, valid until the next readdir on this stream; it is
        // copied out before `self` can be used again.
        let n = unsafe { CStr::from_ptr((*de).d_name.as_ptr()) };
        name.clear();
        name.extend_from_slice(n.to_bytes_with_nul());
        Ok(true)
    }

    /// Mirrors ngx_de_info() (`follow`: stat(2), through a symbolic link)
    /// and ngx_de_link_info() (lstat(2)), for an entry of this directory:
    /// fstatat(2) relative to it, where nginx stats `DIR/NAME`.
    pub fn info(&self, name: &CStr, follow: bool) -> io::Result<DirEntryInfo> {
        let flags = if follow { 0 } else { libc::AT_SYMLINK_NOFOLLOW };
        let mut st = MaybeUninit::<libc::stat>::uninit();
        // SAFETY: the stream is open, so dirfd() is a valid descriptor;
        // `name` is NUL-terminated and `st` is written by a successful call.
        let rc = unsafe {
            libc::fstatat(
                libc::dirfd(self.dir.as_ptr()),
                name.as_ptr(),
                st.as_mut_ptr(),
                flags,
            )
        };
        if rc != 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: fstatat returned 0, so it filled `st`.
        let st = unsafe { st.assume_init() };
        let kind = st.st_mode & libc::S_IFMT;
        Ok(DirEntryInfo {
            is_dir: kind == libc::S_IFDIR,
            is_file: kind == libc::S_IFREG,
            mtime: st.st_mtime,
            size: st.st_size,
        })
    }

    /// Mirrors ngx_close_dir(): closedir(3), its failure reported.
    pub fn close(self) -> io::Result<()> {
        let dir = self.dir;
        std::mem::forget(self);
        // SAFETY: `dir` is open and, `self` being forgotten, closed once.
        match unsafe { libc::closedir(dir.as_ptr()) } {
            0 => Ok(()),
            _ => Err(io::Error::last_os_error()),
        }
    }
}

impl Drop for Dir {
    fn drop(&mut self) {
        // SAFETY: the stream is open and is not used after this.
        unsafe { libc::closedir(self.dir.as_ptr()) };
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ffi::CString;

    #[test]
    fn reads_every_name_and_stats_through_links() {
        let d = std::env::temp_dir().join(format!("hf-dir-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(d.join("sub")).unwrap();
        std::fs::write(d.join("f"), b"12345").unwrap();
        std::os::unix::fs::symlink(d.join("sub"), d.join("l")).unwrap();
        std::os::unix::fs::symlink(d.join("gone"), d.join("dangling")).unwrap();
        let path = CString::new(d.as_os_str().as_encoded_bytes()).unwrap();
        let mut dir = Dir::open(&path).unwrap();
        let mut name = Vec::new();
        let mut names = Vec::new();
        while dir.read(&mut name).unwrap() {
            names.push(name.clone());
        }
        names.sort();
        let want: Vec<&[u8]> = vec![b".\0", b"..\0", b"dangling\0", b"f\0", b"l\0", b"sub\0"];
        assert_eq!(names, want);
        let c = |s: &str| CString::new(s).unwrap();
        let f = dir.info(&c("f"), true).unwrap();
        assert!(f.is_file && !f.is_dir && f.size == 5);
        assert!(dir.info(&c("l"), true).unwrap().is_dir);
        let link = dir.info(&c("l"), false).unwrap();
        assert!(!link.is_dir && !link.is_file);
        let e = dir.info(&c("dangling"), true).unwrap_err();
        assert_eq!(e.raw_os_error(), Some(libc::ENOENT));
        assert!(dir.info(&c("dangling"), false).is_ok());
        dir.close().unwrap();
        let e = Dir::open(&c("/nonexistent-hf-dir")).unwrap_err();
        assert_eq!(e.raw_os_error(), Some(libc::ENOENT));
        std::fs::remove_dir_all(&d).unwrap();
    }
}
