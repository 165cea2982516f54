//! `listen` as nginx resolves it: the standard `listen 80; listen [::]:80;`
//! pair (IPv6 bound ipv6only), a wildcard plus specific addresses on one
//! port (the wildcard's socket accepts for addresses without `bind`, each
//! answered by its own servers), `bind`, unix-domain sockets, and the
//! socket options (seen with getsockopt on the server's own descriptors
//! through /proc).

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::os::unix::net::UnixStream;
use std::time::Duration;

use common::{Prefix, Server, conf, free_port};

fn ask(addr: SocketAddr, host: &str) -> String {
    let mut s = TcpStream::connect(addr).unwrap_or_else(|e| panic!("connect {addr}: {e}"));
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    write!(s, "GET / HTTP/1.0\r\nHost: {host}\r\n\r\n").unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    out.split("\r\n\r\n").nth(1).unwrap_or_default().to_string()
}

#[test]
fn ipv4_and_ipv6_wildcards_on_one_port_both_bind() {
    let port = free_port();
    let s = Server::start(&format!(
        "server {{ listen {port}; listen [::]:{port}; \
         location / {{ return 200 \"$server_addr\"; }} }}"
    ));
    assert_eq!(
        ask(format!("127.0.0.1:{port}").parse().unwrap(), "x"),
        "127.0.0.1"
    );
    assert_eq!(ask(format!("[::1]:{port}").parse().unwrap(), "x"), "::1");
    drop(s);
    // ipv6only=off on its own gets IPv4 through the IPv6 socket.
    let port = free_port();
    let _s = Server::start(&format!(
        "server {{ listen [::]:{port} ipv6only=off; \
         location / {{ return 200 \"$remote_addr\"; }} }}"
    ));
    assert_eq!(
        ask(format!("127.0.0.1:{port}").parse().unwrap(), "x"),
        "::ffff:127.0.0.1"
    );
}

#[test]
fn a_wildcard_accepts_for_specific_addresses_without_bind() {
    // `0` asks the kernel for a port; the specific address is served by
    // the wildcard's socket, so it shares that port.
    let s = Server::start(
        "server { listen 0; location / { return 200 wildcard; } }\n\
         server { listen 127.0.0.2:0; location / { return 200 two; } }\n\
         server { listen 127.0.0.3:0; server_name three; location / { return 200 three; } }",
    );
    // One socket: the wildcard's (all "listening on" lines come before
    // "started").
    assert!(s.log_contains("started", Duration::from_secs(2)));
    let lines: Vec<String> = s
        .log_lines()
        .into_iter()
        .filter(|l| l.contains("listening on "))
        .collect();
    assert_eq!(lines.len(), 1, "{lines:?}");
    let port = s.addr().port();
    let at = |ip: &str| -> SocketAddr { format!("{ip}:{port}").parse().unwrap() };
    assert_eq!(ask(at("127.0.0.1"), "x"), "wildcard");
    assert_eq!(ask(at("127.0.0.2"), "x"), "two");
    assert_eq!(ask(at("127.0.0.3"), "three"), "three");
    assert_eq!(ask(at("127.0.0.4"), "three"), "wildcard");
}

#[test]
fn bind_gives_a_specific_address_its_own_socket() {
    // Linux refuses a listening wildcard and a specific address on one port
    // (98: Address already in use), for nginx too; with SO_REUSEPORT on
    // both it allows them, and each socket answers for its own servers.
    let port = free_port();
    let p = Prefix::new("listen-bind");
    let file = p.write_conf(&conf(
        16,
        &format!(
            "server {{ listen {port}; location / {{ return 200 wildcard; }} }}\n\
             server {{ listen 127.0.0.2:{port} bind; location / {{ return 200 bound; }} }}"
        ),
    ));
    let out = common::run_holdfast(
        [
            "-p".as_ref(),
            p.path().as_os_str(),
            "-c".as_ref(),
            file.as_os_str(),
        ],
        Duration::from_secs(10),
    );
    assert_eq!(out.code, Some(1));
    assert!(
        out.stderr.contains(&format!(
            "[emerg] bind() to 127.0.0.2:{port} failed (98: Address already in use)"
        )),
        "{}",
        out.stderr
    );
    let s = Server::start(&format!(
        "server {{ listen {port} reuseport; location / {{ return 200 wildcard; }} }}\n\
         server {{ listen 127.0.0.2:{port} reuseport; location / {{ return 200 bound; }} }}"
    ));
    assert!(s.wait_log_count("listening on ", 2, Duration::from_secs(2)));
    assert!(s.log_contains("started", Duration::from_secs(2)));
    assert_eq!(s.log_count("listening on "), 2);
    let at = |ip: &str| -> SocketAddr { format!("{ip}:{port}").parse().unwrap() };
    assert_eq!(ask(at("127.0.0.2"), "x"), "bound");
    assert_eq!(ask(at("127.0.0.1"), "x"), "wildcard");
}

#[test]
fn unix_domain_sockets() {
    let p = Prefix::new("listen-unix");
    let path = p.path().join("h.sock");
    let text = conf(
        16,
        &format!(
            "server {{ listen 127.0.0.1:0; listen unix:{}; \
             location / {{ return 200 \"$remote_addr|$server_addr|$server_port\"; }} }}",
            path.display()
        ),
    );
    let mut s = Server::start_conf(p, &text);
    assert!(s.log_contains(
        &format!("listening on unix:{}", path.display()),
        Duration::from_secs(2)
    ));
    let mode = std::fs::metadata(&path)
        .map(|m| std::os::unix::fs::PermissionsExt::mode(&m.permissions()) & 0o777);
    assert_eq!(mode.unwrap(), 0o666);
    let mut c = UnixStream::connect(&path).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    // Keep-alive works as on TCP (no TCP_NODELAY to set, nothing logged).
    for _ in 0..2 {
        c.write_all(b"GET / HTTP/1.1\r\nHost: u\r\n\r\n").unwrap();
        let mut buf = [0u8; 1024];
        let n = c.read(&mut buf).unwrap();
        let text = String::from_utf8_lossy(&buf[..n]);
        assert!(text.starts_with("HTTP/1.1 200 OK\r\n"), "{text}");
        assert!(text.contains("Connection: keep-alive"), "{text}");
        assert!(
            text.ends_with(&format!("unix:|unix:{}|", path.display())),
            "{text}"
        );
    }
    s.signal(libc::SIGQUIT);
    s.assert_exits(Duration::from_secs(5));
    assert!(!path.exists(), "the socket file is removed at exit");
}

/// An int socket option of the server's listening socket on `port`, read
/// through /proc/PID/fd with getsockopt on a duplicate (pidfd_getfd needs
/// more privilege than a test has, so the test opens the same socket
/// through /proc instead).
fn server_sockopt(pid: u32, port: u16, level: i32, opt: i32) -> Option<i32> {
    for entry in std::fs::read_dir(format!("/proc/{pid}/fd")).ok()? {
        let entry = entry.ok()?;
        let link = std::fs::read_link(entry.path()).ok()?;
        if !link.to_string_lossy().starts_with("socket:") {
            continue;
        }
        // SAFETY: pidfd_open/pidfd_getfd are plain syscalls; results checked.
        let fd: i32 = entry.file_name().to_string_lossy().parse().ok()?;
        let pidfd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid as i32, 0) } as i32;
        if pidfd < 0 {
            return None;
        }
        let dup = unsafe { libc::syscall(libc::SYS_pidfd_getfd, pidfd, fd, 0) } as i32;
        unsafe { libc::close(pidfd) };
        if dup < 0 {
            return None;
        }
        let mut addr: libc::sockaddr_in = unsafe { std::mem::zeroed() };
        let mut len = std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t;
        let ok = unsafe {
            libc::getsockname(dup, (&mut addr as *mut libc::sockaddr_in).cast(), &mut len)
        } == 0;
        let mut v: libc::c_int = 0;
        let mut vlen = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
        let got = ok
            && u16::from_be(addr.sin_port) == port
            && unsafe {
                libc::getsockopt(
                    dup,
                    level,
                    opt,
                    (&mut v as *mut libc::c_int).cast(),
                    &mut vlen,
                )
            } == 0;
        unsafe { libc::close(dup) };
        if got {
            return Some(v);
        }
    }
    None
}

#[test]
fn socket_options_reach_the_socket() {
    let s = Server::start(
        "server { listen 127.0.0.1:0 rcvbuf=96k sndbuf=64k so_keepalive=1m:20:4 fastopen=8 \
         backlog=77; location / { return 200 ok; } }",
    );
    let port = s.addr().port();
    let Some(keepalive) = server_sockopt(s.pid(), port, libc::SOL_SOCKET, libc::SO_KEEPALIVE)
    else {
        eprintln!("skipped: pidfd_getfd not permitted here");
        return;
    };
    assert_eq!(keepalive, 1);
    let get = |level, opt| server_sockopt(s.pid(), port, level, opt).unwrap();
    assert_eq!(get(libc::IPPROTO_TCP, libc::TCP_KEEPIDLE), 60);
    assert_eq!(get(libc::IPPROTO_TCP, libc::TCP_KEEPINTVL), 20);
    assert_eq!(get(libc::IPPROTO_TCP, libc::TCP_KEEPCNT), 4);
    // Linux doubles the buffer sizes it is given.
    assert_eq!(get(libc::SOL_SOCKET, libc::SO_RCVBUF), 2 * 96 * 1024);
    assert_eq!(get(libc::SOL_SOCKET, libc::SO_SNDBUF), 2 * 64 * 1024);
    assert_eq!(get(libc::IPPROTO_TCP, libc::TCP_FASTOPEN), 8);
    // And the server still answers.
    assert_eq!(ask(s.addr(), "x"), "ok");
}
