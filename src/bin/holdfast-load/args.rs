//! The command line: modes, options, the target address (loopback only) and
//! `--help`.

use std::net::{IpAddr, SocketAddr, ToSocketAddrs};
use std::time::Duration;

/// The `--help` text.
pub const HELP: &str = "\
holdfast-load: a single-threaded HTTP/1.x load generator for loopback servers

Usage: holdfast-load [MODE] [OPTIONS] (URL | --addr HOST:PORT)

Modes:
  keepalive     -c persistent connections, each sending its next request as
                soon as the last response is complete (the default)
  short         -c workers, each opening a new connection per request
                (sent with `Connection: close`) and closing it after the response
  pipeline N    like keepalive, but N requests per write; the N responses are
                read back in order before the next write
  parallel      waves of -c simultaneous short connections: all -c connect at
                once, send one request each, and the next wave starts when the
                whole wave is done
  hold          open -c connections one batch at a time (--open-batch), make
                one request on each, keep them idle until the duration ends and
                report how many the server keeps, and when and in what order it
                closes the others

Options:
  -c, --concurrency N   connections (workers, wave size, held connections); default 10
  -n, --requests N      stop after N requests (a time limit of 60 s still applies
                        unless -d is given)
  -d, --duration T      stop starting requests after T (default 10s; forms: 10,
                        2.5s, 500ms, 1m)
      --rate R          open loop: start R requests per second whatever the
                        responses do; latency counts from the intended start, so a
                        slow server is not hidden (keepalive, short, pipeline)
      --timeout T       limit for connecting and for each response (default 5s)
  -m, --method M        request method (default GET)
      --path P          request path (default: the URL's, else /)
  -H, --header 'N: V'   an extra request header (repeatable)
      --host H          the Host header (default: the target as given)
      --body TEXT       a request body (sent with Content-Length)
      --expect-body T   count a response whose body differs from T as bad
      --source-ips A-B  bind each new connection to the next address of
                        127.0.0.2-127.0.0.50 (or a comma list), round robin, to go
                        past one source address's ephemeral ports
      --open-batch K    hold mode: connections being opened at once (default 1)
      --procs N         fork N client processes, each with its share of the
                        connections, requests and rate; their reports are merged
      --addr HOST:PORT  the target (instead of a URL); only 127.0.0.0/8, ::1 and
                        localhost are accepted
      --json            print the report as JSON on stdout
  -q, --quiet           no progress line
      --watch URL       the server's connection_status location (loopback): its
                        state counts and free/reusable/drains go beside each
                        progress line
  -h, --help            this help

Every second a progress line goes to stderr; at the end the report (text or
JSON) goes to stdout: requests/s, connections/s, latency percentiles, status
codes, errors by kind (refused, reset, out of local ports, timeout, unexpected
close, bad response, out of descriptors, other) and TIME_WAIT sockets before
and after (/proc/net/sockstat). The tool raises its RLIMIT_NOFILE to the hard
limit. Exit status: 0 when the run completed (whatever the errors), 1 when it
could not run, 2 for a usage error or a non-loopback target.

Examples:
  holdfast-load keepalive -c 50 -d 5 http://127.0.0.1:8080/
  holdfast-load pipeline 16 -c 4 -n 100000 --addr 127.0.0.1:8080
  holdfast-load short -c 100 -d 10 --source-ips 127.0.0.2-127.0.0.20 http://127.0.0.1:8080/
  holdfast-load hold -c 990 -d 60 http://127.0.0.1:8080/
";

/// What the connections do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// A new connection per request, closed after the response.
    Short,
    /// Persistent connections, one request at a time.
    Keepalive,
    /// Persistent connections, this many requests per write.
    Pipeline(usize),
    /// Waves of simultaneous short connections.
    Parallel,
    /// Connections opened, used once, then held idle.
    Hold,
}

impl Mode {
    /// The mode's name as on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Mode::Short => "short",
            Mode::Keepalive => "keepalive",
            Mode::Pipeline(_) => "pipeline",
            Mode::Parallel => "parallel",
            Mode::Hold => "hold",
        }
    }

    /// Requests written together on one connection.
    pub fn depth(self) -> usize {
        match self {
            Mode::Pipeline(n) => n,
            _ => 1,
        }
    }

    /// Does a connection carry exactly one request and then close?
    pub fn one_shot(self) -> bool {
        matches!(self, Mode::Short | Mode::Parallel)
    }
}

/// The parsed command line.
#[derive(Clone, Debug)]
pub struct Config {
    /// The mode.
    pub mode: Mode,
    /// Connections (workers, wave size, connections to hold).
    pub concurrency: usize,
    /// Requests to make at most (None: until the time limit).
    pub requests: Option<u64>,
    /// When to stop starting requests.
    pub duration: Duration,
    /// Open-loop requests per second.
    pub rate: Option<f64>,
    /// Limit for connecting and for each response.
    pub timeout: Duration,
    /// The target.
    pub addr: SocketAddr,
    /// Source addresses to bind to, round robin (empty: the kernel picks).
    pub source_ips: Vec<IpAddr>,
    /// Request method.
    pub method: String,
    /// Request target.
    pub path: String,
    /// Extra header lines, `Name: value`.
    pub headers: Vec<String>,
    /// The Host header value.
    pub host: String,
    /// Request body.
    pub body: Option<String>,
    /// The body every response must have.
    pub expect_body: Option<String>,
    /// Hold mode: connections being opened at once.
    pub open_batch: usize,
    /// Client processes.
    pub procs: usize,
    /// Print JSON.
    pub json: bool,
    /// No progress lines.
    pub quiet: bool,
    /// `--watch URL`: the inspector's address, Host and path.
    pub watch: Option<(SocketAddr, String, String)>,
}

impl Config {
    /// The request as written on the wire (one copy).
    pub fn request_bytes(&self) -> Vec<u8> {
        let mut r = format!(
            "{} {} HTTP/1.1\r\nHost: {}\r\n",
            self.method, self.path, self.host
        );
        for h in &self.headers {
            r.push_str(h);
            r.push_str("\r\n");
        }
        if self.mode.one_shot() {
            r.push_str("Connection: close\r\n");
        }
        if let Some(b) = &self.body {
            r.push_str(&format!("Content-Length: {}\r\n\r\n{b}", b.len()));
        } else {
            r.push_str("\r\n");
        }
        r.into_bytes()
    }

    /// Is the method HEAD (responses carry no body)?
    pub fn is_head(&self) -> bool {
        self.method.eq_ignore_ascii_case("HEAD")
    }
}

/// What the command line asks for.
pub enum Command {
    /// Run the load.
    Run(Box<Config>),
    /// Print the help.
    Help,
}

/// Parses a duration: `10`, `2.5s`, `500ms`, `1m`.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let (num, mult) = if let Some(n) = s.strip_suffix("ms") {
        (n, 0.001)
    } else if let Some(n) = s.strip_suffix('s') {
        (n, 1.0)
    } else if let Some(n) = s.strip_suffix('m') {
        (n, 60.0)
    } else if let Some(n) = s.strip_suffix('h') {
        (n, 3600.0)
    } else {
        (s, 1.0)
    };
    match num.parse::<f64>() {
        Ok(v) if v.is_finite() && v > 0.0 && v * mult <= 7.0 * 86400.0 => {
            Ok(Duration::from_secs_f64(v * mult))
        }
        _ => Err(format!("invalid duration {s:?}")),
    }
}

fn parse_count(opt: &str, s: &str) -> Result<u64, String> {
    match s.parse::<u64>() {
        Ok(n) if n > 0 => Ok(n),
        _ => Err(format!("{opt} needs a positive whole number, not {s:?}")),
    }
}

/// Is `ip` a loopback address (127.0.0.0/8 or ::1)?
pub fn is_loopback(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => v4.octets()[0] == 127,
        IpAddr::V6(v6) => v6.is_loopback(),
    }
}

/// Parses `127.0.0.2-127.0.0.50`, `127.0.0.2,127.0.0.3` or one address.
pub fn parse_source_ips(s: &str) -> Result<Vec<IpAddr>, String> {
    let mut out = Vec::new();
    for part in s.split(',') {
        let part = part.trim();
        if let Some((a, b)) = part.split_once('-') {
            let parse = |x: &str| {
                x.trim()
                    .parse::<std::net::Ipv4Addr>()
                    .map_err(|_| format!("invalid address {x:?} in --source-ips"))
            };
            let (a, b) = (u32::from(parse(a)?), u32::from(parse(b)?));
            if a > b || b - a >= 1 << 20 {
                return Err(format!("invalid range {part:?} in --source-ips"));
            }
            out.extend((a..=b).map(|n| IpAddr::V4(n.into())));
        } else {
            out.push(
                part.parse::<IpAddr>()
                    .map_err(|_| format!("invalid address {part:?} in --source-ips"))?,
            );
        }
    }
    if let Some(bad) = out.iter().find(|ip| !is_loopback(**ip)) {
        return Err(format!(
            "refusing source address {bad}: only loopback addresses (127.0.0.0/8, ::1) are allowed"
        ));
    }
    Ok(out)
}

/// A target given as a URL or `HOST:PORT`: the authority (as given, for the
/// Host header), the resolved loopback address and the URL's path.
fn parse_target(s: &str) -> Result<(String, SocketAddr, Option<String>), String> {
    let rest = if let Some(r) = s.strip_prefix("http://") {
        r
    } else if s.starts_with("https://") {
        return Err("https is not supported".into());
    } else if s.contains("://") {
        return Err(format!("unsupported URL {s:?}"));
    } else {
        s
    };
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], Some(rest[i..].to_string())),
        None => (rest, None),
    };
    if authority.is_empty() {
        return Err(format!("no host in {s:?}"));
    }
    // Add the default port unless one is given (`[::1]`, `host` vs `host:80`).
    let has_port = match authority.rfind(']') {
        Some(close) => authority[close..].contains(':'),
        None => authority.contains(':'),
    };
    let with_port = if has_port {
        authority.to_string()
    } else {
        format!("{authority}:80")
    };
    let addrs: Vec<SocketAddr> = with_port
        .to_socket_addrs()
        .map_err(|e| format!("cannot resolve {authority:?}: {e}"))?
        .collect();
    if let Some(bad) = addrs.iter().find(|a| !is_loopback(a.ip())) {
        return Err(format!(
            "refusing target {authority} ({}): load goes to loopback addresses only \
             (127.0.0.0/8, ::1)",
            bad.ip()
        ));
    }
    // Prefer IPv4 when a name resolves to both.
    let addr = addrs
        .iter()
        .find(|a| a.is_ipv4())
        .or(addrs.first())
        .copied()
        .ok_or_else(|| format!("{authority:?} resolves to no address"))?;
    Ok((authority.to_string(), addr, path))
}

/// Parses the arguments (without the program name).
pub fn parse(args: &[String]) -> Result<Command, String> {
    let mut mode = None;
    let mut target: Option<String> = None;
    let mut concurrency = 10usize;
    let mut requests = None;
    let mut duration = None;
    let mut rate = None;
    let mut timeout = Duration::from_secs(5);
    let mut source_ips = Vec::new();
    let mut method = "GET".to_string();
    let mut path = None;
    let mut headers = Vec::new();
    let mut host = None;
    let mut body = None;
    let mut expect_body = None;
    let mut open_batch = 1usize;
    let mut procs = 1usize;
    let mut json = false;
    let mut quiet = false;
    let mut watch = None;

    let mut i = 0;
    while i < args.len() {
        let arg = &args[i];
        i += 1;
        // `--opt=value` and `--opt value` both work.
        let (name, inline) = match arg.split_once('=') {
            Some((n, v)) if n.starts_with("--") => (n, Some(v.to_string())),
            _ => (arg.as_str(), None),
        };
        let value = |i: &mut usize| -> Result<String, String> {
            if let Some(v) = inline.clone() {
                return Ok(v);
            }
            let v = args
                .get(*i)
                .cloned()
                .ok_or_else(|| format!("option {name} needs a value"))?;
            *i += 1;
            Ok(v)
        };
        match name {
            "-h" | "--help" => return Ok(Command::Help),
            "-c" | "--concurrency" => {
                concurrency = parse_count(name, &value(&mut i)?)?
                    .try_into()
                    .map_err(|_| "concurrency too large".to_string())?
            }
            "-n" | "--requests" => requests = Some(parse_count(name, &value(&mut i)?)?),
            "-d" | "--duration" => duration = Some(parse_duration(&value(&mut i)?)?),
            "--rate" => {
                let v = value(&mut i)?;
                match v.parse::<f64>() {
                    Ok(r) if r.is_finite() && r > 0.0 => rate = Some(r),
                    _ => return Err(format!("--rate needs a positive number, not {v:?}")),
                }
            }
            "--timeout" => timeout = parse_duration(&value(&mut i)?)?,
            "-m" | "--method" => method = value(&mut i)?,
            "--path" => path = Some(value(&mut i)?),
            "-H" | "--header" => headers.push(value(&mut i)?),
            "--host" => host = Some(value(&mut i)?),
            "--body" => body = Some(value(&mut i)?),
            "--expect-body" => expect_body = Some(value(&mut i)?),
            "--source-ips" => source_ips = parse_source_ips(&value(&mut i)?)?,
            "--open-batch" => open_batch = parse_count(name, &value(&mut i)?)? as usize,
            "--procs" => procs = parse_count(name, &value(&mut i)?)? as usize,
            "--addr" => target = Some(value(&mut i)?),
            "--json" => json = true,
            "-q" | "--quiet" => quiet = true,
            "--watch" => {
                let (host, addr, path) = parse_target(&value(&mut i)?)?;
                watch = Some((addr, host, path.unwrap_or_else(|| "/".into())));
            }
            _ if arg.starts_with('-') => return Err(format!("unknown option {arg:?}")),
            "short" | "keepalive" | "pipeline" | "parallel" | "hold" if mode.is_none() => {
                mode = Some(match name {
                    "short" => Mode::Short,
                    "keepalive" => Mode::Keepalive,
                    "parallel" => Mode::Parallel,
                    "hold" => Mode::Hold,
                    _ => {
                        let n = args.get(i).ok_or("pipeline needs a depth: pipeline N")?;
                        i += 1;
                        let n = parse_count("pipeline", n)?;
                        if n > 4096 {
                            return Err("pipeline depth is at most 4096".into());
                        }
                        Mode::Pipeline(n as usize)
                    }
                })
            }
            _ if target.is_none() => target = Some(arg.clone()),
            _ => return Err(format!("unexpected argument {arg:?}")),
        }
    }

    let mode = mode.unwrap_or(Mode::Keepalive);
    let target = target.ok_or("no target: give a URL or --addr HOST:PORT")?;
    let (authority, addr, url_path) = parse_target(&target)?;
    if let Some(ip) = source_ips.first()
        && ip.is_ipv4() != addr.is_ipv4()
    {
        return Err("--source-ips and the target must be the same address family".into());
    }
    let path = path.or(url_path).unwrap_or_else(|| "/".to_string());
    let host = host.unwrap_or(authority);
    check_token("method", &method)?;
    if !(path.starts_with('/') || path == "*") || path.bytes().any(|b| b <= b' ' || b == 0x7f) {
        return Err(format!("invalid path {path:?}"));
    }
    for text in headers.iter().chain(Some(&host)) {
        if text.bytes().any(|b| b == b'\r' || b == b'\n' || b == 0) {
            return Err(format!("invalid header text {text:?}"));
        }
    }
    for h in &headers {
        match h.split_once(':') {
            Some((n, _)) if check_token("header name", n).is_ok() => {}
            _ => return Err(format!("invalid header {h:?}: expected 'Name: value'")),
        }
    }
    if mode == Mode::Hold && requests.is_some() {
        return Err("hold mode makes one request per connection: use -c, not -n".into());
    }
    if rate.is_some() && matches!(mode, Mode::Parallel | Mode::Hold) {
        return Err(format!(
            "--rate works with keepalive, short and pipeline, not {}",
            mode.name()
        ));
    }
    if procs > concurrency {
        return Err(format!(
            "--procs {procs} is more than the {concurrency} connections (-c)"
        ));
    }
    if procs > 256 {
        return Err("--procs is at most 256".into());
    }
    if let Some(n) = requests
        && n < procs as u64
    {
        return Err(format!("-n {n} is less than --procs {procs}"));
    }
    // Always bounded in time: -n alone gets a 60 s limit, nothing at all 10 s.
    let duration = duration.unwrap_or(if requests.is_some() {
        Duration::from_secs(60)
    } else {
        Duration::from_secs(10)
    });
    Ok(Command::Run(Box::new(Config {
        mode,
        concurrency,
        requests,
        duration,
        rate,
        timeout,
        addr,
        source_ips,
        method,
        path,
        headers,
        host,
        body,
        expect_body,
        open_batch,
        procs,
        json,
        quiet,
        watch,
    })))
}

/// Refuses an empty string or one with characters outside an HTTP token.
fn check_token(what: &str, s: &str) -> Result<(), String> {
    let ok = !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b));
    if ok {
        Ok(())
    } else {
        Err(format!("invalid {what} {s:?}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(args: &[&str]) -> Result<Config, String> {
        let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        match parse(&args)? {
            Command::Run(c) => Ok(*c),
            Command::Help => Err("help".into()),
        }
    }

    #[test]
    fn modes_and_targets() {
        let c = run(&["pipeline", "8", "-n", "100", "http://127.0.0.1:8080/x"]).unwrap();
        assert_eq!(c.mode, Mode::Pipeline(8));
        assert_eq!(c.path, "/x");
        assert_eq!(c.host, "127.0.0.1:8080");
        assert_eq!(c.duration, Duration::from_secs(60));
        let c = run(&["--addr", "[::1]:81", "short"]).unwrap();
        assert_eq!(c.mode, Mode::Short);
        assert_eq!(c.addr, "[::1]:81".parse().unwrap());
        assert_eq!(c.duration, Duration::from_secs(10));
        assert!(
            run(&["--addr", "10.0.0.1:80"])
                .unwrap_err()
                .contains("loopback")
        );
        assert!(
            run(&["http://192.168.1.1/"])
                .unwrap_err()
                .contains("loopback")
        );
        assert!(run(&["hold", "-n", "5", "127.0.0.1:1"]).is_err());
    }

    #[test]
    fn source_ip_ranges() {
        let ips = parse_source_ips("127.0.0.2-127.0.0.5").unwrap();
        assert_eq!(ips.len(), 4);
        assert!(parse_source_ips("10.0.0.1").is_err());
        assert!(parse_source_ips("127.0.0.5-127.0.0.2").is_err());
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("500ms").unwrap(), Duration::from_millis(500));
        assert_eq!(parse_duration("1.5").unwrap(), Duration::from_millis(1500));
        assert_eq!(parse_duration("2m").unwrap(), Duration::from_secs(120));
        assert!(parse_duration("0").is_err());
    }
}
