//! Argument value parsers: plain numbers, sizes (`8k`) and times (`1h30m`).
//!
//! Mirrors ngx_parse.c (`ngx_parse_size`, `ngx_parse_time`) and `ngx_atoi`.
//! The functions report a bare message (`invalid value`); the directive handler
//! that called them adds the directive name, file and line.

use super::ConfError;

/// The largest number of seconds a time may come to (nginx's NGX_MAX_INT32_VALUE).
const MAX_TIME_S: u64 = i32::MAX as u64;

const SECOND_MS: u64 = 1000;
const MINUTE_MS: u64 = 60 * SECOND_MS;
const HOUR_MS: u64 = 60 * MINUTE_MS;
const DAY_MS: u64 = 24 * HOUR_MS;

fn invalid(msg: &str) -> ConfError {
    ConfError {
        msg: msg.to_string(),
        file: None,
        line: 0,
    }
}

/// Mirrors ngx_atoi(): a non-empty run of ASCII digits, no sign, no overflow
/// past `i64::MAX`. Error message: `invalid number`.
pub(super) fn parse_number(s: &str) -> Result<u64, ConfError> {
    if s.is_empty() {
        return Err(invalid("invalid number"));
    }
    let mut n: u64 = 0;
    for b in s.bytes() {
        if !b.is_ascii_digit() {
            return Err(invalid("invalid number"));
        }
        n = n
            .checked_mul(10)
            .and_then(|n| n.checked_add(u64::from(b - b'0')))
            .filter(|n| *n <= i64::MAX as u64)
            .ok_or_else(|| invalid("invalid number"))?;
    }
    Ok(n)
}

/// Mirrors ngx_parse_size(): `N`, `Nk`/`NK` (×1024), `Nm`/`NM` (×1024²),
/// `Ng`/`NG` (×1024³).
///
/// Garbage, an empty string and results past `isize::MAX` are the error
/// `invalid value`.
pub fn parse_size(s: &str) -> Result<usize, ConfError> {
    let (digits, scale): (&str, u64) = match s.as_bytes().last() {
        None => return Err(invalid("invalid value")),
        Some(b'k' | b'K') => (&s[..s.len() - 1], 1 << 10),
        Some(b'm' | b'M') => (&s[..s.len() - 1], 1 << 20),
        Some(b'g' | b'G') => (&s[..s.len() - 1], 1 << 30),
        Some(_) => (s, 1),
    };
    let n = parse_number(digits).map_err(|_| invalid("invalid value"))?;
    n.checked_mul(scale)
        .filter(|v| *v <= isize::MAX as u64)
        .and_then(|v| usize::try_from(v).ok())
        .ok_or_else(|| invalid("invalid value"))
}

/// The unit of one component of a time value, in the order they must appear.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Unit {
    None,
    Year,
    Month,
    Week,
    Day,
    Hour,
    Minute,
    Second,
    Milli,
}

impl Unit {
    fn ms(self) -> u64 {
        match self {
            Unit::None | Unit::Second => SECOND_MS,
            Unit::Year => 365 * DAY_MS,
            Unit::Month => 30 * DAY_MS,
            Unit::Week => 7 * DAY_MS,
            Unit::Day => DAY_MS,
            Unit::Hour => HOUR_MS,
            Unit::Minute => MINUTE_MS,
            Unit::Milli => 1,
        }
    }
}

/// The common part of [`parse_time_ms`] and [`parse_time_s`]: the total in ms.
fn parse_time(s: &str, is_sec: bool) -> Result<u64, ConfError> {
    let b = s.as_bytes();
    let mut total: u64 = 0;
    let mut last = Unit::None;
    let mut i = 0;
    if b.is_empty() {
        return Err(invalid("invalid value"));
    }
    while i < b.len() {
        let start = i;
        let mut value: u64 = 0;
        while let Some(d) = b.get(i).filter(|d| d.is_ascii_digit()) {
            value = value
                .checked_mul(10)
                .and_then(|v| v.checked_add(u64::from(d - b'0')))
                .ok_or_else(|| invalid("invalid value"))?;
            i += 1;
        }
        if i == start {
            // A unit without a number, or garbage.
            return Err(invalid("invalid value"));
        }
        let unit = match b.get(i) {
            Some(b'y') => Unit::Year,
            Some(b'M') => Unit::Month,
            Some(b'w') => Unit::Week,
            Some(b'd') => Unit::Day,
            Some(b'h') => Unit::Hour,
            Some(b'm') if b.get(i + 1) == Some(&b's') => {
                i += 1;
                Unit::Milli
            }
            Some(b'm') => Unit::Minute,
            Some(b's') => Unit::Second,
            // A bare number: seconds, and it must be the last component.
            None | Some(b' ') => Unit::None,
            Some(_) => return Err(invalid("invalid value")),
        };
        match unit {
            Unit::None if last >= Unit::Second => return Err(invalid("invalid value")),
            Unit::None => {}
            Unit::Milli if is_sec => return Err(invalid("invalid value")),
            _ if unit <= last => return Err(invalid("invalid value")),
            _ => {}
        }
        if unit != Unit::None {
            i += 1;
        }
        total = value
            .checked_mul(unit.ms())
            .and_then(|v| v.checked_add(total))
            .filter(|v| *v <= MAX_TIME_S * SECOND_MS)
            .ok_or_else(|| invalid("invalid value"))?;
        while b.get(i) == Some(&b' ') {
            i += 1;
        }
        if unit == Unit::None && i < b.len() {
            return Err(invalid("invalid value"));
        }
        last = unit;
    }
    Ok(total)
}

/// Mirrors ngx_parse_time(…, 0): a time in milliseconds.
///
/// Components `Ny` (365 d), `NM` (30 d), `Nw`, `Nd`, `Nh`, `Nm`, `Ns`, `Nms` in
/// that order, optionally space-separated (`1h 30m`); a trailing bare number is
/// seconds (`75` = 75 s). Unlike nginx, `y` and `M` are accepted here too; the
/// total may not exceed 2³¹−1 seconds. Anything else is `invalid value`.
pub fn parse_time_ms(s: &str) -> Result<u64, ConfError> {
    parse_time(s, false)
}

/// Mirrors ngx_parse_time(…, 1): a time in whole seconds (`ms` is not allowed).
pub(super) fn parse_time_s(s: &str) -> Result<u64, ConfError> {
    parse_time(s, true).map(|ms| ms / SECOND_MS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers() {
        assert_eq!(parse_number("0").unwrap(), 0);
        assert_eq!(parse_number("0012").unwrap(), 12);
        assert_eq!(
            parse_number("9223372036854775807").unwrap(),
            i64::MAX as u64
        );
        for bad in [
            "",
            "-1",
            "+1",
            "1k",
            " 1",
            "9223372036854775808",
            "99999999999999999999",
        ] {
            assert_eq!(
                parse_number(bad).unwrap_err().msg,
                "invalid number",
                "{bad:?}"
            );
        }
    }

    #[test]
    fn sizes() {
        assert_eq!(parse_size("0").unwrap(), 0);
        assert_eq!(parse_size("1024").unwrap(), 1024);
        assert_eq!(parse_size("1k").unwrap(), 1024);
        assert_eq!(parse_size("1K").unwrap(), 1024);
        assert_eq!(parse_size("8m").unwrap(), 8 << 20);
        assert_eq!(parse_size("8M").unwrap(), 8 << 20);
        assert_eq!(parse_size("1g").unwrap(), 1 << 30);
        assert_eq!(parse_size("2G").unwrap(), 2 << 30);
        for bad in [
            "",
            "k",
            "1.5k",
            "1kb",
            "1t",
            "-1",
            "abc",
            " 1",
            "1 ",
            "9223372036854775807k",
            "99999999999999999999",
        ] {
            let e = parse_size(bad).unwrap_err();
            assert_eq!(e.msg, "invalid value", "{bad:?}");
            assert_eq!(e.file, None);
        }
    }

    #[test]
    fn times_ms() {
        assert_eq!(parse_time_ms("75").unwrap(), 75_000);
        assert_eq!(parse_time_ms("75s").unwrap(), 75_000);
        assert_eq!(parse_time_ms("0").unwrap(), 0);
        assert_eq!(parse_time_ms("500ms").unwrap(), 500);
        assert_eq!(parse_time_ms("1m").unwrap(), 60_000);
        assert_eq!(parse_time_ms("1h30m").unwrap(), 5_400_000);
        assert_eq!(parse_time_ms("1h 30m").unwrap(), 5_400_000);
        assert_eq!(parse_time_ms("1h30").unwrap(), 3_630_000);
        assert_eq!(parse_time_ms("1m30s500ms").unwrap(), 90_500);
        assert_eq!(parse_time_ms("1d").unwrap(), 86_400_000);
        assert_eq!(parse_time_ms("1w").unwrap(), 7 * 86_400_000);
        assert_eq!(parse_time_ms("1M").unwrap(), 30 * 86_400_000);
        assert_eq!(parse_time_ms("1y").unwrap(), 365 * 86_400_000);
        assert_eq!(parse_time_ms("1y1M1w1d1h1m1s1ms").unwrap(), 34_822_861_001);
    }

    #[test]
    fn times_bad() {
        for bad in [
            "",
            "s",
            "ms",
            "1x",
            "1.5s",
            "-1s",
            "1s1m",
            "1m1m",
            "1ms1s",
            "5 1h",
            "1s 5",
            "1ms5",
            " 1s",
            "1S",
            "1H",
            "69y",
            "2147483648",
            "99999999999999999999999s",
        ] {
            let e = parse_time_ms(bad).unwrap_err();
            assert_eq!(e.msg, "invalid value", "{bad:?}");
        }
        // The upper bound itself is fine.
        assert_eq!(parse_time_ms("2147483647").unwrap(), 2_147_483_647_000);
    }

    #[test]
    fn times_seconds() {
        assert_eq!(parse_time_s("60").unwrap(), 60);
        assert_eq!(parse_time_s("1m").unwrap(), 60);
        assert_eq!(parse_time_s("1h1s").unwrap(), 3601);
        assert!(parse_time_s("500ms").is_err());
        assert!(parse_time_s("1s500ms").is_err());
    }
}
