//! The cached clock: nginx's `ngx_times.c`.
//!
//! `time_update` runs once per loop iteration, right after the poll returns;
//! handlers read `now_ms` and the preformatted `Date:` value from here and never
//! ask the system for the time themselves.

use std::time::{Instant, SystemTime, UNIX_EPOCH};

/// Length of an IMF-fixdate (`Sun, 06 Nov 1994 08:49:37 GMT`).
pub const HTTP_DATE_LEN: usize = 29;

/// The cached time (ngx_cached_time, ngx_current_msec, ngx_cached_http_time).
#[derive(Debug)]
pub struct Clock {
    base: Instant,
    /// Milliseconds since the clock was created (monotonic; ngx_current_msec).
    pub now_ms: u64,
    /// Seconds since the Unix epoch of the last update.
    pub unix_secs: u64,
    /// The current `Date:` value.
    pub http_date: [u8; HTTP_DATE_LEN],
    /// Milliseconds since the Unix epoch (`$msec`).
    pub unix_ms: u64,
    /// `$time_local`: `22/Nov/2026:11:02:08 +0000` (holdfast logs UTC).
    pub time_local: [u8; TIME_LOCAL_LEN],
    /// `$time_iso8601`: `2026-11-22T11:02:08+00:00`.
    pub time_iso8601: [u8; TIME_ISO8601_LEN],
}

/// Length of `$time_local`.
pub const TIME_LOCAL_LEN: usize = 26;
/// Length of `$time_iso8601`.
pub const TIME_ISO8601_LEN: usize = 25;

impl Default for Clock {
    fn default() -> Self {
        Self::new()
    }
}

impl Clock {
    /// A clock set to now.
    pub fn new() -> Self {
        let mut c = Clock {
            base: Instant::now(),
            now_ms: 0,
            unix_secs: u64::MAX,
            http_date: [b' '; HTTP_DATE_LEN],
            unix_ms: 0,
            time_local: [b' '; TIME_LOCAL_LEN],
            time_iso8601: [b' '; TIME_ISO8601_LEN],
        };
        c.time_update();
        c
    }

    /// Mirrors ngx_time_update(): refreshes the monotonic ms and, when the second
    /// changed, the cached `Date:` string. Milliseconds are rounded up so a
    /// timer compared against them never fires early.
    pub fn time_update(&mut self) {
        let el = self.base.elapsed();
        let ms = el.as_millis() as u64 + u64::from(!el.subsec_nanos().is_multiple_of(1_000_000));
        self.now_ms = self.now_ms.max(ms);
        let wall = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        let secs = wall.as_secs();
        self.unix_ms = wall.as_millis() as u64;
        if secs != self.unix_secs {
            self.unix_secs = secs;
            self.http_date = http_date(secs);
            self.time_local = time_local(secs);
            self.time_iso8601 = time_iso8601(secs);
        }
    }

    /// Moves the monotonic clock forward by hand (tests).
    pub fn advance(&mut self, ms: u64) {
        self.now_ms += ms;
    }
}

/// Days since 1970-01-01 to (year, month 1..=12, day 1..=31), proleptic Gregorian.
pub fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

/// (year, month 1..=12, day) to days since 1970-01-01 (the inverse of
/// [`civil_from_days`]).
pub fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let mp = i64::from(if m > 2 { m - 3 } else { m + 9 });
    let doy = (153 * mp + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Mirrors ngx_parse_http_time(): an IMF-fixdate (`Sun, 06 Nov 1994
/// 08:49:37 GMT`), an RFC 850 date (`Sunday, 06-Nov-94 08:49:37 GMT`) or
/// an asctime() date (`Sun Nov  6 08:49:37 1994`), as seconds since the
/// epoch; None when it is none of them (nginx: NGX_ERROR).
pub fn parse_http_time(v: &[u8]) -> Option<u64> {
    const MONTHS: [&[u8; 3]; 12] = [
        b"Jan", b"Feb", b"Mar", b"Apr", b"May", b"Jun", b"Jul", b"Aug", b"Sep", b"Oct", b"Nov",
        b"Dec",
    ];
    let s = std::str::from_utf8(v).ok()?.trim();
    let month = |m: &str| {
        MONTHS
            .iter()
            .position(|x| x.eq_ignore_ascii_case(m.as_bytes()))
            .map(|i| i as u32 + 1)
    };
    let hms = |t: &str| -> Option<(u32, u32, u32)> {
        let mut it = t.split(':').map(|p| p.parse::<u32>().ok());
        let (h, mi, se) = (it.next()??, it.next()??, it.next()??);
        (it.next().is_none() && h < 24 && mi < 60 && se < 60).then_some((h, mi, se))
    };
    let (y, mo, d, (h, mi, se)) = if let Some((_, rest)) = s.split_once(", ") {
        let f: Vec<&str> = rest.split_whitespace().collect();
        match f.as_slice() {
            // IMF-fixdate: `06 Nov 1994 08:49:37 GMT`.
            [d, m, y, t, "GMT"] => (y.parse::<i64>().ok()?, month(m)?, d.parse().ok()?, hms(t)?),
            // RFC 850: `06-Nov-94 08:49:37 GMT`.
            [dmy, t, "GMT"] => {
                let mut p = dmy.split('-');
                let (d, m, y) = (p.next()?, p.next()?, p.next()?);
                let y: i64 = y.parse().ok()?;
                let y = if y < 70 {
                    2000 + y
                } else if y < 100 {
                    1900 + y
                } else {
                    y
                };
                (y, month(m)?, d.parse().ok()?, hms(t)?)
            }
            _ => return None,
        }
    } else {
        // asctime: `Sun Nov  6 08:49:37 1994`.
        let f: Vec<&str> = s.split_whitespace().collect();
        match f.as_slice() {
            [_, m, d, t, y] => (y.parse().ok()?, month(m)?, d.parse().ok()?, hms(t)?),
            _ => return None,
        }
    };
    if !(1..=31).contains(&d) || y < 1970 {
        return None;
    }
    let days = days_from_civil(y, mo, d);
    u64::try_from(days * 86_400 + i64::from(h * 3600 + mi * 60 + se)).ok()
}

/// Broken-down UTC time: (year, month, day, hour, minute, second, weekday 0=Sunday).
pub fn utc_parts(secs: u64) -> (i64, u32, u32, u32, u32, u32, u32) {
    let days = (secs / 86_400) as i64;
    let rem = (secs % 86_400) as u32;
    let (y, m, d) = civil_from_days(days);
    let wday = ((days + 4).rem_euclid(7)) as u32;
    (y, m, d, rem / 3600, rem / 60 % 60, rem % 60, wday)
}

fn put2(out: &mut [u8], v: u32) {
    out[0] = b'0' + (v / 10 % 10) as u8;
    out[1] = b'0' + (v % 10) as u8;
}

/// Formats seconds since the epoch as an IMF-fixdate (ngx_http_time()).
pub fn http_date(secs: u64) -> [u8; HTTP_DATE_LEN] {
    const DAYS: [&[u8; 3]; 7] = [b"Sun", b"Mon", b"Tue", b"Wed", b"Thu", b"Fri", b"Sat"];
    const MONTHS: [&[u8; 3]; 12] = [
        b"Jan", b"Feb", b"Mar", b"Apr", b"May", b"Jun", b"Jul", b"Aug", b"Sep", b"Oct", b"Nov",
        b"Dec",
    ];
    let (y, m, d, hh, mm, ss, wd) = utc_parts(secs);
    let mut out = *b"Thu, 01 Jan 1970 00:00:00 GMT";
    out[..3].copy_from_slice(DAYS[wd as usize]);
    put2(&mut out[5..], d);
    out[8..11].copy_from_slice(MONTHS[(m - 1) as usize]);
    let y = y.clamp(0, 9999) as u32;
    put2(&mut out[12..], y / 100);
    put2(&mut out[14..], y % 100);
    put2(&mut out[17..], hh);
    put2(&mut out[20..], mm);
    put2(&mut out[23..], ss);
    out
}

const MONTH_NAMES: [&[u8; 3]; 12] = [
    b"Jan", b"Feb", b"Mar", b"Apr", b"May", b"Jun", b"Jul", b"Aug", b"Sep", b"Oct", b"Nov", b"Dec",
];

/// `$time_local` for seconds since the epoch, in UTC: `22/Nov/2026:11:02:08 +0000`.
pub fn time_local(secs: u64) -> [u8; TIME_LOCAL_LEN] {
    let (y, m, d, hh, mm, ss, _) = utc_parts(secs);
    let mut out = *b"01/Jan/1970:00:00:00 +0000";
    put2(&mut out[0..], d);
    out[3..6].copy_from_slice(MONTH_NAMES[(m - 1) as usize]);
    let y = y.clamp(0, 9999) as u32;
    put2(&mut out[7..], y / 100);
    put2(&mut out[9..], y % 100);
    put2(&mut out[12..], hh);
    put2(&mut out[15..], mm);
    put2(&mut out[18..], ss);
    out
}

/// `$time_iso8601` for seconds since the epoch, in UTC.
pub fn time_iso8601(secs: u64) -> [u8; TIME_ISO8601_LEN] {
    let (y, m, d, hh, mm, ss, _) = utc_parts(secs);
    let mut out = *b"1970-01-01T00:00:00+00:00";
    let y = y.clamp(0, 9999) as u32;
    put2(&mut out[0..], y / 100);
    put2(&mut out[2..], y % 100);
    put2(&mut out[5..], m);
    put2(&mut out[8..], d);
    put2(&mut out[11..], hh);
    put2(&mut out[14..], mm);
    put2(&mut out[17..], ss);
    out
}

/// Formats seconds since the epoch as the error log's `YYYY/MM/DD HH:MM:SS` (UTC).
pub fn log_time(secs: u64) -> String {
    let (y, m, d, hh, mm, ss, _) = utc_parts(secs);
    format!("{y:04}/{m:02}/{d:02} {hh:02}:{mm:02}:{ss:02}")
}

/// The local time zone's offset from UTC at `secs`, in seconds: nginx's
/// cached `gmtoff` (ngx_time_update's ngx_localtime, `tm_gmtoff`), as libc
/// reads `TZ` or `/etc/localtime`. holdfast's own times are UTC; this is
/// for what asks for local time (`autoindex_localtime`).
pub fn local_gmtoff(secs: u64) -> i64 {
    let t = libc::time_t::try_from(secs).unwrap_or(libc::time_t::MAX);
    let mut tm = std::mem::MaybeUninit::<libc::tm>::uninit();
    // SAFETY: both pointers are valid; localtime_r fills `tm` when it
    // returns non-null.
    let done = unsafe { libc::localtime_r(&t, tm.as_mut_ptr()) };
    if done.is_null() {
        return 0;
    }
    // SAFETY: localtime_r succeeded, so `tm` is filled.
    unsafe { tm.assume_init() }.tm_gmtoff
}

#[cfg(test)]
mod tests {
    #[test]
    fn http_times_in_the_three_forms() {
        use super::{http_date, parse_http_time};
        let t = 784_111_777;
        assert_eq!(parse_http_time(b"Sun, 06 Nov 1994 08:49:37 GMT"), Some(t));
        assert_eq!(parse_http_time(b"Sunday, 06-Nov-94 08:49:37 GMT"), Some(t));
        assert_eq!(parse_http_time(b"Sun Nov  6 08:49:37 1994"), Some(t));
        assert_eq!(
            parse_http_time(&http_date(2_147_483_647)),
            Some(2_147_483_647)
        );
        assert_eq!(
            parse_http_time(b"Fri, 25 Feb 2174 09:42:23 GMT"),
            Some(6_442_450_943)
        );
        for bad in [
            &b"yesterday"[..],
            b"Sun, 06 Nov 1994 25:49:37 GMT",
            b"Sun, 06 Foo 1994 08:49:37 GMT",
        ] {
            assert_eq!(parse_http_time(bad), None);
        }
    }

    use super::*;

    #[test]
    fn http_date_matches_rfc_example() {
        assert_eq!(&http_date(784_111_777), b"Sun, 06 Nov 1994 08:49:37 GMT");
        assert_eq!(&http_date(0), b"Thu, 01 Jan 1970 00:00:00 GMT");
        assert_eq!(&http_date(951_782_400), b"Tue, 29 Feb 2000 00:00:00 GMT");
    }

    #[test]
    fn access_log_times() {
        assert_eq!(&time_local(784_111_777), b"06/Nov/1994:08:49:37 +0000");
        assert_eq!(&time_iso8601(784_111_777), b"1994-11-06T08:49:37+00:00");
    }

    #[test]
    fn log_time_format() {
        assert_eq!(log_time(784_111_777), "1994/11/06 08:49:37");
    }

    #[test]
    fn clock_never_goes_back() {
        let mut c = Clock::new();
        let t = c.now_ms;
        c.time_update();
        assert!(c.now_ms >= t);
        c.advance(5);
        let t = c.now_ms;
        c.time_update();
        assert!(c.now_ms >= t);
    }
}
