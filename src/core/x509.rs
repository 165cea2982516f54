//! What nginx's ngx_ssl_get_* (event/ngx_event_openssl.c) read out of a
//! client certificate, from its DER: the serial number, the issuer and
//! subject names (printed as OpenSSL's X509_NAME_print_ex with
//! XN_FLAG_RFC2253 prints them) and the validity period. Only the fields
//! of TBSCertificate up to the subject are walked; anything malformed is
//! None, never a panic (the bytes come from the network).

/// One DER element: (tag, contents, the whole element, what follows).
type Tlv<'a> = (u8, &'a [u8], &'a [u8], &'a [u8]);

/// Reads the DER element `b` starts with.
fn tlv(b: &[u8]) -> Option<Tlv<'_>> {
    let tag = *b.first()?;
    let first = *b.get(1)?;
    let (len, head) = if first < 0x80 {
        (usize::from(first), 2)
    } else {
        let n = usize::from(first & 0x7f);
        if n == 0 || n > 4 {
            return None;
        }
        let mut len = 0usize;
        for &x in b.get(2..2 + n)? {
            len = (len << 8) | usize::from(x);
        }
        (len, 2 + n)
    };
    let end = head.checked_add(len)?;
    Some((tag, b.get(head..end)?, b.get(..end)?, b.get(end..)?))
}

/// The TBSCertificate fields holdfast prints or checks.
#[derive(Debug)]
pub struct Tbs<'a> {
    /// The serial number's INTEGER contents.
    pub serial: &'a [u8],
    /// The issuer Name, whole (SEQUENCE included).
    pub issuer: &'a [u8],
    /// notBefore, seconds since the epoch.
    pub not_before: i64,
    /// notAfter, seconds since the epoch.
    pub not_after: i64,
    /// The subject Name, whole.
    pub subject: &'a [u8],
    /// The SubjectPublicKeyInfo, whole.
    pub spki: &'a [u8],
}

/// Reads a certificate's TBSCertificate up to the subject.
pub fn parse(der: &[u8]) -> Option<Tbs<'_>> {
    let (0x30, cert, _, _) = tlv(der)? else {
        return None;
    };
    let (0x30, tbs, _, _) = tlv(cert)? else {
        return None;
    };
    let (mut tag, mut body, _, mut rest) = tlv(tbs)?;
    if tag == 0xa0 {
        // [0] version
        (tag, body, _, rest) = tlv(rest)?;
    }
    if tag != 0x02 {
        return None;
    }
    let serial = body;
    let (_, _, _, rest) = tlv(rest)?; // signature AlgorithmIdentifier
    let (0x30, _, issuer, rest) = tlv(rest)? else {
        return None;
    };
    let (0x30, validity, _, rest) = tlv(rest)? else {
        return None;
    };
    let (t1, v1, _, after) = tlv(validity)?;
    let (t2, v2, _, _) = tlv(after)?;
    let (0x30, _, subject, rest) = tlv(rest)? else {
        return None;
    };
    let (0x30, _, spki, _) = tlv(rest)? else {
        return None;
    };
    Some(Tbs {
        serial,
        issuer,
        not_before: time(t1, v1)?,
        not_after: time(t2, v2)?,
        subject,
        spki,
    })
}

/// The issuer and subject Names (whole), to tell a self-signed certificate.
pub fn names(der: &[u8]) -> Option<(&[u8], &[u8])> {
    parse(der).map(|t| (t.issuer, t.subject))
}

/// UTCTime (YYMMDDHHMMSSZ) or GeneralizedTime (YYYYMMDDHHMMSSZ) as
/// seconds since the epoch.
fn time(tag: u8, v: &[u8]) -> Option<i64> {
    let v = std::str::from_utf8(v).ok()?.strip_suffix('Z')?;
    let (year, rest) = match tag {
        0x17 if v.len() == 12 => {
            let y: i64 = v[..2].parse().ok()?;
            (if y < 50 { 2000 + y } else { 1900 + y }, &v[2..])
        }
        0x18 if v.len() == 14 => (v[..4].parse().ok()?, &v[4..]),
        _ => return None,
    };
    if !rest.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let n = |i: usize| rest[i..i + 2].parse::<i64>().ok();
    let (month, day, h, m, s) = (n(0)?, n(2)?, n(4)?, n(6)?, n(8)?);
    // Days from 1970-01-01 to the civil date (Howard Hinnant's algorithm).
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some(days * 86_400 + h * 3600 + m * 60 + s)
}

/// `$ssl_client_serial`: the serial in upper-case hex, as OpenSSL's
/// i2a_ASN1_INTEGER (without DER's leading sign byte).
pub fn serial_hex(serial: &[u8]) -> String {
    let s = match serial {
        [0, rest @ ..] if !rest.is_empty() => rest,
        s => s,
    };
    s.iter().map(|b| format!("{b:02X}")).collect()
}

/// The short names OpenSSL prints for attribute types (XN_FLAG_FN_SN).
fn short_name(oid: &[u8]) -> Option<&'static str> {
    Some(match oid {
        [0x55, 0x04, 3] => "CN",
        [0x55, 0x04, 4] => "SN",
        [0x55, 0x04, 5] => "serialNumber",
        [0x55, 0x04, 6] => "C",
        [0x55, 0x04, 7] => "L",
        [0x55, 0x04, 8] => "ST",
        [0x55, 0x04, 9] => "street",
        [0x55, 0x04, 10] => "O",
        [0x55, 0x04, 11] => "OU",
        [0x55, 0x04, 12] => "title",
        [0x55, 0x04, 13] => "description",
        [0x55, 0x04, 17] => "postalCode",
        [0x55, 0x04, 41] => "name",
        [0x55, 0x04, 42] => "GN",
        [0x55, 0x04, 43] => "initials",
        [0x55, 0x04, 46] => "dnQualifier",
        [0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x09, 0x01] => "emailAddress",
        [0x09, 0x92, 0x26, 0x89, 0x93, 0xf2, 0x2c, 0x64, 0x01, 0x19] => "DC",
        [0x09, 0x92, 0x26, 0x89, 0x93, 0xf2, 0x2c, 0x64, 0x01, 0x01] => "UID",
        _ => return None,
    })
}

/// An OID in dotted form (an attribute type OpenSSL has no name for).
fn dotted(oid: &[u8]) -> String {
    let mut out = String::new();
    let mut v: u64 = 0;
    for (i, &b) in oid.iter().enumerate() {
        v = (v << 7) | u64::from(b & 0x7f);
        if b & 0x80 == 0 {
            if out.is_empty() && i < oid.len() {
                let first = (v / 40).min(2);
                out = format!("{first}.{}", v - first * 40);
            } else {
                out.push_str(&format!(".{v}"));
            }
            v = 0;
        }
    }
    out
}

/// Appends one attribute value as ASN1_STRFLGS_RFC2253 prints it:
/// string types as characters (`,+"\<>;` escaped with a backslash, `#`
/// and space at the start and space at the end too, control characters
/// and others above 0x7f as `\XX`, above 0xff as `\UXXXX`), anything else
/// as `#` and the hex of its DER.
fn push_value(out: &mut String, tag: u8, v: &[u8], whole: &[u8]) {
    let chars: Vec<u32> = match tag {
        // UTF8String
        0x0c => match std::str::from_utf8(v) {
            Ok(s) => s.chars().map(u32::from).collect(),
            Err(_) => v.iter().map(|&b| u32::from(b)).collect(),
        },
        // PrintableString, TeletexString, IA5String, VisibleString
        0x13 | 0x14 | 0x16 | 0x1a => v.iter().map(|&b| u32::from(b)).collect(),
        // BMPString
        0x1e => v
            .chunks(2)
            .map(|c| u32::from(c[0]) << 8 | u32::from(*c.get(1).unwrap_or(&0)))
            .collect(),
        _ => {
            out.push('#');
            for b in whole {
                out.push_str(&format!("{b:02X}"));
            }
            return;
        }
    };
    let last = chars.len().saturating_sub(1);
    for (i, &c) in chars.iter().enumerate() {
        match c {
            0x2c | 0x2b | 0x22 | 0x5c | 0x3c | 0x3e | 0x3b => {
                out.push('\\');
                out.push(char::from_u32(c).unwrap_or('?'));
            }
            0x23 if i == 0 => out.push_str("\\#"),
            0x20 if i == 0 || i == last => out.push_str("\\ "),
            0..=0x1f | 0x7f..=0xff => out.push_str(&format!("\\{c:02X}")),
            0x100.. => out.push_str(&format!("\\U{c:04X}")),
            _ => out.push(char::from_u32(c).unwrap_or('?')),
        }
    }
}

/// `$ssl_client_s_dn` / `$ssl_client_i_dn`: a Name as X509_NAME_print_ex
/// with XN_FLAG_RFC2253 (the last RDN first, `,` between RDNs, `+` inside
/// one).
pub fn dn_rfc2253(name: &[u8]) -> Option<String> {
    let (0x30, mut rdns, _, _) = tlv(name)? else {
        return None;
    };
    let mut parts = Vec::new();
    while !rdns.is_empty() {
        let (0x31, mut set, _, rest) = tlv(rdns)? else {
            return None;
        };
        rdns = rest;
        let mut rdn = String::new();
        while !set.is_empty() {
            let (0x30, atv, _, rest) = tlv(set)? else {
                return None;
            };
            set = rest;
            let (0x06, oid, _, value) = tlv(atv)? else {
                return None;
            };
            let (tag, v, whole, _) = tlv(value)?;
            if !rdn.is_empty() {
                rdn.push('+');
            }
            match short_name(oid) {
                Some(n) => {
                    rdn.push_str(n);
                    rdn.push('=');
                    push_value(&mut rdn, tag, v, whole);
                }
                None => {
                    rdn.push_str(&dotted(oid));
                    rdn.push('=');
                    // XN_FLAG_DUMP_UNKNOWN_FIELDS
                    push_value(&mut rdn, 0, v, whole);
                }
            }
        }
        parts.push(rdn);
    }
    parts.reverse();
    Some(parts.join(","))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_seconds_since_the_epoch() {
        assert_eq!(time(0x17, b"700101000000Z"), Some(0));
        assert_eq!(time(0x17, b"260314123456Z"), Some(1_773_491_696));
        assert_eq!(time(0x18, b"20500101000000Z"), Some(2_524_608_000));
        assert_eq!(time(0x17, b"2603141234Z"), None);
        assert_eq!(time(0x17, b"26031412345xZ"), None);
    }

    #[test]
    fn names_print_as_rfc2253() {
        // SEQUENCE { SET { CN=a,b } SET { O=x+y (two ATVs: O, OU) } }
        let cn = [
            0x30, 0x0a, 0x06, 0x03, 0x55, 0x04, 0x03, 0x0c, 0x03, b'a', b',', b'b',
        ];
        let o = [0x30, 0x08, 0x06, 0x03, 0x55, 0x04, 0x0a, 0x13, 0x01, b'x'];
        let ou = [0x30, 0x08, 0x06, 0x03, 0x55, 0x04, 0x0b, 0x13, 0x01, b' '];
        let mut set1 = vec![0x31, cn.len() as u8];
        set1.extend_from_slice(&cn);
        let mut set2 = vec![0x31, (o.len() + ou.len()) as u8];
        set2.extend_from_slice(&o);
        set2.extend_from_slice(&ou);
        let mut name = vec![0x30, (set1.len() + set2.len()) as u8];
        name.extend_from_slice(&set1);
        name.extend_from_slice(&set2);
        assert_eq!(dn_rfc2253(&name).as_deref(), Some("O=x+OU=\\ ,CN=a\\,b"));
        assert_eq!(dn_rfc2253(&name[..name.len() - 1]), None);
        assert_eq!(serial_hex(&[0x00, 0x9f, 0x01]), "9F01");
        assert_eq!(serial_hex(&[0x00]), "00");
        assert_eq!(
            dotted(&[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d]),
            "1.2.840.113549"
        );
    }
}
