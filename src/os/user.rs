//! `user USER [GROUP]`: nginx's ngx_set_user() (the names, looked up when
//! the configuration is read) and the privilege drop of
//! ngx_worker_process_init() (setgid, initgroups, setuid).
//!
//! Differs from nginx: without a `user` directive holdfast keeps the
//! identity it was started with (nginx's workers fall back to `nobody`);
//! with one, the single process drops privileges too, once its listening
//! sockets are bound and the pid file is written (nginx's single-process
//! mode never drops them).

use std::ffi::CString;

use crate::conf::User;

/// The ids a `user` directive names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ids {
    /// The user's uid.
    pub uid: libc::uid_t,
    /// The group's gid (the user's name as a group when none is given).
    pub gid: libc::gid_t,
}

fn is_root() -> bool {
    // SAFETY: geteuid cannot fail.
    unsafe { libc::geteuid() == 0 }
}

fn lookup(user: &User) -> Result<Ids, String> {
    let at = format!(" in {}:{}", user.file.display(), user.line);
    let name = CString::new(user.user.as_str())
        .map_err(|_| format!("getpwnam(\"{}\") failed{at}", user.user))?;
    // SAFETY: getpwnam reads a NUL-terminated name; the result is only read
    // before the next call (the process is single-threaded).
    let pwd = unsafe { libc::getpwnam(name.as_ptr()) };
    if pwd.is_null() {
        return Err(format!("getpwnam(\"{}\") failed{at}", user.user));
    }
    // SAFETY: non-null result of getpwnam.
    let uid = unsafe { (*pwd).pw_uid };
    let group = user.group.as_deref().unwrap_or(&user.user);
    let gname = CString::new(group).map_err(|_| format!("getgrnam(\"{group}\") failed{at}"))?;
    // SAFETY: as for getpwnam.
    let grp = unsafe { libc::getgrnam(gname.as_ptr()) };
    if grp.is_null() {
        return Err(format!("getgrnam(\"{group}\") failed{at}"));
    }
    // SAFETY: non-null result of getgrnam.
    let gid = unsafe { (*grp).gr_gid };
    Ok(Ids { uid, gid })
}

/// Mirrors ngx_set_user() once the file is read: as root the user and group
/// must exist; otherwise the directive is ignored with nginx's warning.
pub fn check_user(user: Option<&User>) -> Result<Option<Ids>, String> {
    let Some(user) = user else {
        return Ok(None);
    };
    if !is_root() {
        log::warn!(
            "the \"user\" directive makes sense only if the master process runs \
             with super-user privileges, ignored in {}:{}",
            user.file.display(),
            user.line
        );
        return Ok(None);
    }
    lookup(user).map(Some)
}

/// The privilege drop of ngx_worker_process_init(): as root, with a `user`
/// configured, become that user (group first, then the supplementary
/// groups, then the uid). A failure is fatal, as in nginx.
pub fn switch_user(user: Option<&User>) -> Result<(), String> {
    let Some(user) = user else {
        return Ok(());
    };
    if !is_root() {
        return Ok(());
    }
    let ids = lookup(user)?;
    // SAFETY: plain libc calls on this process; results are checked.
    unsafe {
        if libc::setgid(ids.gid) == -1 {
            return Err(format!(
                "setgid({}) failed ({})",
                ids.gid,
                crate::os::io::OsErr(&std::io::Error::last_os_error())
            ));
        }
        let name = CString::new(user.user.as_str()).unwrap_or_default();
        if libc::initgroups(name.as_ptr(), ids.gid) == -1 {
            crate::emerg!(
                "initgroups({}, {}) failed ({})",
                user.user,
                ids.gid,
                crate::os::io::OsErr(&std::io::Error::last_os_error())
            );
        }
        if libc::setuid(ids.uid) == -1 {
            return Err(format!(
                "setuid({}) failed ({})",
                ids.uid,
                crate::os::io::OsErr(&std::io::Error::last_os_error())
            ));
        }
        // Linux clears "dumpable" after setuid; nginx turns it back on.
        libc::prctl(libc::PR_SET_DUMPABLE, 1, 0, 0, 0);
    }
    Ok(())
}
