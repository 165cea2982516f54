//! `--watch URL`: the server's own view beside the progress line. A thread
//! asks the server's `connection_status` location for
//! `?format=json&limit=0` once a second (the state counts without the
//! per-connection list) and keeps a one-line summary the progress line
//! appends: the load tool's progress and the server's states side by side.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Mutex;
use std::time::Duration;

use crate::json::Value;

/// The latest summary ("" until the first answer).
static LATEST: Mutex<String> = Mutex::new(String::new());

/// How long one question may take.
const WATCH_TIMEOUT: Duration = Duration::from_millis(900);

/// Starts the watching thread for `addr` and `path` (the inspector's
/// location, with or without a query).
pub fn start(addr: SocketAddr, host: String, path: String) {
    let sep = if path.contains('?') { '&' } else { '?' };
    let target = format!("{path}{sep}format=json&limit=0");
    std::thread::spawn(move || {
        loop {
            let line = match ask(addr, &host, &target) {
                Ok(v) => summary(&v),
                Err(e) => format!("server: {e}"),
            };
            if let Ok(mut l) = LATEST.lock() {
                *l = line;
            }
            std::thread::sleep(Duration::from_secs(1));
        }
    });
}

/// The latest summary, for the progress line.
pub fn latest() -> String {
    LATEST.lock().map(|l| l.clone()).unwrap_or_default()
}

/// One question over HTTP/1.0 (the answer ends with the close).
fn ask(addr: SocketAddr, host: &str, target: &str) -> Result<Value, String> {
    let mut s = TcpStream::connect_timeout(&addr, WATCH_TIMEOUT).map_err(|e| e.to_string())?;
    s.set_read_timeout(Some(WATCH_TIMEOUT))
        .map_err(|e| e.to_string())?;
    write!(s, "GET {target} HTTP/1.0\r\nHost: {host}\r\n\r\n").map_err(|e| e.to_string())?;
    let mut all = Vec::new();
    s.read_to_end(&mut all).map_err(|e| e.to_string())?;
    let at = all
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or("no response head")?;
    if !all.starts_with(b"HTTP/1.1 200") {
        let line = all.split(|&b| b == b'\r').next().unwrap_or_default();
        return Err(String::from_utf8_lossy(line).into_owned());
    }
    let body = std::str::from_utf8(&all[at + 4..]).map_err(|e| e.to_string())?;
    Value::parse(body)
}

/// `server w0: keepalive 9000, writing 1 | free 100 reusable 9000 drains 0`:
/// the states with connections, then the cycle's figures.
pub fn summary(v: &Value) -> String {
    let mut out = format!(
        "server w{}:",
        v.get("worker").map_or(0, |w| w.u64_at("index"))
    );
    let mut any = false;
    if let Some(Value::Object(states)) = v.get("states") {
        for (name, n) in states {
            let n = n.as_u64().unwrap_or(0);
            if n > 0 {
                out.push_str(if any { ", " } else { " " });
                out.push_str(&format!("{name} {n}"));
                any = true;
            }
        }
    }
    if !any {
        out.push_str(" no connections");
    }
    if let Some(c) = v.get("cycle") {
        out.push_str(&format!(
            " | free {} reusable {} drains {}",
            c.u64_at("free"),
            c.u64_at("reusable"),
            c.u64_at("drains")
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summary_lists_the_states_with_connections() {
        let v = Value::parse(
            r#"{"worker":{"index":1},"cycle":{"free":10,"reusable":3,"drains":2},
                "states":{"wait_request":0,"keepalive":3,"writing":1}}"#,
        )
        .unwrap();
        assert_eq!(
            summary(&v),
            "server w1: keepalive 3, writing 1 | free 10 reusable 3 drains 2"
        );
    }
}
