//! The `*at()` file calls of nginx's `os/unix/ngx_files.h` that std does not
//! offer: openat(2) relative to a directory descriptor (ngx_openat_file) and
//! fstatat(2) with `AT_SYMLINK_NOFOLLOW` (ngx_file_at_info), which the
//! `disable_symlinks` walk of `core/open_file_cache.rs` is made of.

use std::ffi::CString;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

/// A directory opened only to look names up in it (nginx's NGX_FILE_SEARCH
/// on Linux: `O_PATH|O_RDONLY|O_DIRECTORY`), non-blocking.
pub const FILE_SEARCH: libc::c_int =
    libc::O_PATH | libc::O_RDONLY | libc::O_DIRECTORY | libc::O_NONBLOCK;
/// A file opened for reading without hanging on a FIFO (NGX_FILE_RDONLY |
/// NGX_FILE_NONBLOCK).
pub const FILE_RDONLY: libc::c_int = libc::O_RDONLY | libc::O_NONBLOCK;
/// Fail with ELOOP when the last component is a symbolic link.
pub const FILE_NOFOLLOW: libc::c_int = libc::O_NOFOLLOW;

/// A name with a NUL in it cannot be opened (EINVAL, as the kernel would
/// say for a name it could not take).
fn c_name(name: &[u8]) -> io::Result<CString> {
    CString::new(name).map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))
}

/// Mirrors ngx_openat_file(): `name` opened with `flags` relative to the
/// directory `at` (None: the current directory, AT_FDCWD). The descriptor
/// is close-on-exec.
pub fn openat_file(at: Option<&OwnedFd>, name: &[u8], flags: libc::c_int) -> io::Result<OwnedFd> {
    let name = c_name(name)?;
    let dirfd = at.map_or(libc::AT_FDCWD, AsRawFd::as_raw_fd);
    // SAFETY: `name` is NUL-terminated and lives across the call; `dirfd` is
    // an open descriptor borrowed for the call, or AT_FDCWD.
    let fd = unsafe { libc::openat(dirfd, name.as_ptr(), flags | libc::O_CLOEXEC) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: openat returned a new descriptor that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// The owner (uid) of `name` in the directory `at`, the name itself when it
/// is a symbolic link (ngx_file_at_info with AT_SYMLINK_NOFOLLOW).
pub fn file_at_owner(at: Option<&OwnedFd>, name: &[u8]) -> io::Result<libc::uid_t> {
    let name = c_name(name)?;
    let dirfd = at.map_or(libc::AT_FDCWD, AsRawFd::as_raw_fd);
    stat_at(dirfd, &name, libc::AT_SYMLINK_NOFOLLOW)
}

/// The owner (uid) of what `fd` refers to; an `O_PATH` descriptor too
/// (ngx_file_o_path_info: fstatat with AT_EMPTY_PATH, which needs no
/// fallback on the kernels Rust supports).
pub fn fd_owner(fd: &OwnedFd) -> io::Result<libc::uid_t> {
    stat_at(fd.as_raw_fd(), c"", libc::AT_EMPTY_PATH)
}

fn stat_at(dirfd: libc::c_int, name: &std::ffi::CStr, flags: libc::c_int) -> io::Result<u32> {
    let mut st = std::mem::MaybeUninit::<libc::stat>::uninit();
    // SAFETY: `name` is NUL-terminated, `dirfd` is open (or AT_FDCWD) for
    // the call, and `st` is a writable stat buffer of the right size.
    let rc = unsafe { libc::fstatat(dirfd, name.as_ptr(), st.as_mut_ptr(), flags) };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: fstatat returned 0, so it filled the buffer.
    Ok(unsafe { st.assume_init() }.st_uid)
}
