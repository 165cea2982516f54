//! Temporary files (nginx's `ngx_file.c`): the paths of
//! `client_body_temp_path` / `proxy_temp_path` with their hashed levels,
//! and ngx_create_temp_file() for request bodies past
//! `client_body_buffer_size` and responses past `proxy_buffers`.
//!
//! Where holdfast differs: a temp file that nobody needs by name (a
//! buffered response) is unlinked as soon as it is open, so a crash or a
//! `kill -9` leaves nothing behind; a request body file keeps its name
//! while the request runs (`$request_body_file`) and is removed when the
//! request ends, unless `client_body_in_file_only on` keeps it.

use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::sync::atomic::{AtomicU32, Ordering};

/// A temp directory and its levels (`proxy_temp_path /x 1 2` → files
/// `/x/7/45/0000000457`), as ngx_conf_set_path_slot() keeps them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TempPath {
    /// The directory (absolute, resolved against the prefix).
    pub path: PathBuf,
    /// The length of each level's directory name (1 or 2), at most three.
    pub levels: Vec<usize>,
}

impl TempPath {
    /// A path without levels.
    pub fn new(path: PathBuf) -> TempPath {
        TempPath {
            path,
            levels: Vec::new(),
        }
    }

    /// Mirrors ngx_create_hashed_filename(): the file name for `number`,
    /// the levels taken from the end of the ten-digit name.
    pub fn file_name(&self, number: u32) -> PathBuf {
        let name = format!("{number:010}");
        let mut p = self.path.clone();
        let mut end = name.len();
        for &l in &self.levels {
            let start = end.saturating_sub(l);
            p.push(&name[start..end]);
            end = start;
        }
        p.push(name);
        p
    }
}

/// The next temp file number (nginx's ngx_temp_number, stepped by one per
/// file and past names already taken).
static TEMP_NUMBER: AtomicU32 = AtomicU32::new(0);

/// nginx's ngx_next_temp_number(): the next number of the process's
/// sequence (temp file names, multipart boundaries).
pub fn next_temp_number() -> u32 {
    if TEMP_NUMBER.load(Ordering::Relaxed) == 0 {
        // Workers of one master start apart, as nginx seeds by pid.
        let seed = (std::process::id() % 10_000) * 100_000 + 1;
        let _ = TEMP_NUMBER.compare_exchange(0, seed, Ordering::Relaxed, Ordering::Relaxed);
    }
    TEMP_NUMBER.fetch_add(1, Ordering::Relaxed)
}

/// An open temp file: removed when dropped unless `keep`.
#[derive(Debug)]
pub struct TempFile {
    /// The open file (shared with the output chain that sends from it).
    pub file: Rc<File>,
    /// Its name (gone already when the file was unlinked at once).
    pub name: PathBuf,
    /// Bytes written so far.
    pub len: u64,
    /// Leave the file on disk (`client_body_in_file_only on`).
    pub keep: bool,
    /// The name was unlinked when the file was opened.
    unlinked: bool,
}

impl TempFile {
    /// Appends `data` (nginx's ngx_write_chain_to_temp_file; synchronous,
    /// as nginx without aio).
    pub fn write(&mut self, data: &[u8]) -> io::Result<()> {
        use std::os::unix::fs::FileExt;
        self.file.write_all_at(data, self.len)?;
        self.len += data.len() as u64;
        Ok(())
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        if !self.keep && !self.unlinked {
            // ngx_pool_delete_file: the request is over.
            if let Err(e) = std::fs::remove_file(&self.name) {
                log::error!(
                    "unlink() \"{}\" failed ({})",
                    self.name.display(),
                    crate::os::io::OsErr(&e)
                );
            }
        }
    }
}

/// Mirrors ngx_create_temp_file(): a new file under `path` (its level
/// directories made on demand, as ngx_create_full_path after ENOENT),
/// mode 0600; `unlink`: nobody needs the name, remove it at once.
pub fn create_temp_file(path: &TempPath, unlink: bool) -> io::Result<TempFile> {
    use std::os::unix::fs::OpenOptionsExt;
    let mut tries = 0;
    let mut name = next_temp_number();
    let mut made_dirs = false;
    loop {
        let full = path.file_name(name);
        let opened = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&full);
        match opened {
            Ok(file) => {
                log::debug!("hashed path: {}", full.display());
                if unlink {
                    let _ = std::fs::remove_file(&full);
                }
                return Ok(TempFile {
                    file: Rc::new(file),
                    name: full,
                    len: 0,
                    keep: false,
                    unlinked: unlink,
                });
            }
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists && tries < 100 => {
                tries += 1;
                name = next_temp_number();
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound && !made_dirs => {
                // The same name again once its directories exist.
                made_dirs = true;
                create_full_path(&full)?;
            }
            Err(e) => return Err(with_name(e, &full)),
        }
    }
}

/// The directories above `file`, made with mode 0700 (ngx_create_full_path).
fn create_full_path(file: &Path) -> io::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    let Some(dir) = file.parent() else {
        return Ok(());
    };
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|e| with_name(e, dir))
}

/// An error that says which name it was about, for nginx's
/// `open() "NAME" failed (13: Permission denied)` lines.
fn with_name(e: io::Error, name: &Path) -> io::Error {
    io::Error::new(
        e.kind(),
        format!(
            "open() \"{}\" failed ({})",
            name.display(),
            crate::os::io::OsErr(&e)
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashed_names_take_levels_from_the_end() {
        let mut p = TempPath::new(PathBuf::from("/t"));
        assert_eq!(p.file_name(457), PathBuf::from("/t/0000000457"));
        p.levels = vec![1, 2];
        assert_eq!(p.file_name(457), PathBuf::from("/t/7/45/0000000457"));
    }

    #[test]
    fn temp_files_are_made_written_and_removed() {
        let dir = std::env::temp_dir().join(format!("hf-temp-{}", std::process::id()));
        let path = TempPath {
            path: dir.clone(),
            levels: vec![2],
        };
        let mut f = create_temp_file(&path, false).unwrap();
        f.write(b"abc").unwrap();
        f.write(b"de").unwrap();
        assert_eq!(std::fs::read(&f.name).unwrap(), b"abcde");
        let name = f.name.clone();
        drop(f);
        assert!(!name.exists());
        let g = create_temp_file(&path, true).unwrap();
        assert!(!g.name.exists());
        let mut k = create_temp_file(&path, false).unwrap();
        k.keep = true;
        let kept = k.name.clone();
        drop(k);
        assert!(kept.exists());
        std::fs::remove_dir_all(dir).unwrap();
    }
}
