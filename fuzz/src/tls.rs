//! The `tls_handshake` target: the first bytes a client sends to a
//! `listen … ssl` address, through holdfast's TLS entry (the one-byte peek
//! of ngx_http_ssl_handshake, then ngx_ssl_handshake on rustls, the
//! ClientHello's server name, reads after a handshake) over a real socket
//! pair.
//!
//! The first byte of the input chooses how the rest is delivered: bit 0
//! closes the client's side after the bytes (EOF inside the handshake), the
//! other bits the size of the pieces they are written in (1..=128 bytes),
//! each piece followed by a handshake step.
//!
//! Invariants:
//! - no panic, whatever the bytes;
//! - the server name read from the ClientHello, when there is one, is a
//!   prefix-free piece of the input (it is a slice of what was sent);
//! - once the handshake failed it stays failed (every later step is an
//!   error, never a success or a panic), and a read never returns more than
//!   it was given room for;
//! - the stream's buffers can be given back at any point.
//!
//! The server's certificate is made once with the `openssl` command into a
//! temporary directory (no key material is committed); without `openssl`
//! the target does nothing.

#![allow(dead_code)]

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use holdfast::conf::Config;
use holdfast::event::accept::listening_from_conf;
use holdfast::os::io::Transport;
use holdfast::os::socket::Stream;
use holdfast::os::tls::{Handshake, Peek, TlsStream, client_hello_server_name};

/// The rustls configuration of an `ssl` address, built once by holdfast's
/// own configuration path.
fn server_config() -> Option<Arc<rustls::ServerConfig>> {
    static CONFIG: OnceLock<Option<Arc<rustls::ServerConfig>>> = OnceLock::new();
    CONFIG
        .get_or_init(|| {
            let dir =
                std::env::temp_dir().join(format!("holdfast-fuzz-tls-{}", std::process::id()));
            std::fs::create_dir_all(&dir).ok()?;
            let key = dir.join("c.key");
            let crt = dir.join("c.crt");
            let made = std::process::Command::new("openssl")
                .args(["req", "-x509", "-newkey", "ec", "-pkeyopt"])
                .args([
                    "ec_paramgen_curve:P-256",
                    "-nodes",
                    "-subj",
                    "/CN=localhost",
                ])
                .args(["-days", "2", "-keyout"])
                .arg(&key)
                .arg("-out")
                .arg(&crt)
                .stderr(std::process::Stdio::null())
                .status()
                .ok()?;
            if !made.success() {
                return None;
            }
            let text = format!(
                "events {{ worker_connections 8; }}\n\
                 http {{ server {{ listen 127.0.0.1:1 ssl; server_name localhost;\n\
                 ssl_certificate {}; ssl_certificate_key {}; }} }}\n",
                crt.display(),
                key.display()
            );
            let conf = Config::from_str(&text, &dir.join("fuzz.conf"), &dir).ok()?;
            let _ = std::fs::remove_dir_all(&dir);
            listening_from_conf(&conf)
                .into_iter()
                .find_map(|(_, ls)| ls.tls)
        })
        .clone()
}

/// Runs one input; see the module's invariants.
pub fn run(data: &[u8]) {
    let Some((&ctl, bytes)) = data.split_first() else {
        return;
    };
    // The parse alone, on the raw bytes.
    if let Some(name) = client_hello_server_name(bytes) {
        let at = name.as_ptr() as usize - bytes.as_ptr() as usize;
        assert!(at + name.len() <= bytes.len());
    }
    let Some(config) = server_config() else {
        return;
    };
    let Ok((server, mut client)) = UnixStream::pair() else {
        return;
    };
    if server.set_nonblocking(true).is_err() || client.set_nonblocking(true).is_err() {
        return;
    }
    let Ok(mut t) = TlsStream::new(Stream::from_std_unix(server), config) else {
        return;
    };
    let piece = usize::from(ctl >> 1).clamp(1, 128);
    let mut sink = vec![0u8; 1 << 16];
    let mut failed = false;
    let mut done = false;
    let mut peeked = false;
    for chunk in bytes.chunks(piece) {
        if client.write_all(chunk).is_err() {
            break;
        }
        if !peeked {
            match t.peek() {
                Ok(Peek::Tls(_)) => peeked = true,
                Ok(Peek::Plain) => return plain(&mut t, &mut client),
                Ok(Peek::Again | Peek::Eof) | Err(_) => continue,
            }
        }
        step(&mut t, &mut failed, &mut done);
        // What the server said goes nowhere (the socket must not fill).
        let _ = client.read(&mut sink);
        if failed {
            break;
        }
    }
    if ctl & 1 == 1 {
        let _ = client.shutdown(std::net::Shutdown::Write);
        if peeked {
            step(&mut t, &mut failed, &mut done);
        }
    }
    if done {
        let mut buf = [0u8; 512];
        for _ in 0..4 {
            match t.read(&mut buf) {
                Ok(n) => {
                    assert!(n <= buf.len());
                    if n == 0 {
                        break;
                    }
                }
                Err(_) => break,
            }
        }
        let _ = t.writev(&[std::io::IoSlice::new(b"HTTP/1.1 200 OK\r\n\r\n")]);
    }
    t.ssl_shutdown();
    t.free_buffers();
    let _ = server_name_is_sent(&t, bytes);
}

/// One handshake step, keeping the failed-stays-failed invariant.
fn step(t: &mut TlsStream, failed: &mut bool, done: &mut bool) {
    match t.handshake() {
        Ok(Handshake::Done) => {
            assert!(!*failed, "a failed handshake succeeded later");
            *done = true;
        }
        Ok(_) => assert!(!*failed, "a failed handshake went on"),
        Err(_) => *failed = true,
    }
    if *failed {
        assert!(t.handshake().is_err(), "a failed handshake recovered");
    }
}

/// A plain HTTP client on the TLS port: its bytes pass through untouched.
fn plain(t: &mut TlsStream, client: &mut UnixStream) {
    let _ = client.shutdown(std::net::Shutdown::Write);
    let mut buf = [0u8; 256];
    for _ in 0..64 {
        match t.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => assert!(n <= buf.len()),
        }
    }
}

/// The name the session reports came from the bytes sent.
fn server_name_is_sent(t: &TlsStream, bytes: &[u8]) -> bool {
    match t.server_name() {
        None => true,
        Some(name) => {
            let found = bytes
                .windows(name.len().max(1))
                .any(|w| w == name.as_bytes());
            assert!(found, "server name {name:?} not in the input");
            found
        }
    }
}

/// Where the seeds live, for the regression test.
pub fn corpus(root: &Path) -> PathBuf {
    root.join("tls_handshake")
}
