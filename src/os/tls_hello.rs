//! The server name a TLS client asks for, read from its ClientHello.

/// The server name (SNI) of a ClientHello at the start of `data`, when the
/// first record holds the whole extension list (rustls's unbuffered server
/// session does not hand the name out; the ClientHello is parsed again
/// here, bounds-checked at every step, and rustls still validates it).
pub fn client_hello_server_name(data: &[u8]) -> Option<&str> {
    /// A cursor that never reads past its slice.
    struct R<'a>(&'a [u8]);
    impl<'a> R<'a> {
        fn take(&mut self, n: usize) -> Option<&'a [u8]> {
            if self.0.len() < n {
                return None;
            }
            let (a, b) = self.0.split_at(n);
            self.0 = b;
            Some(a)
        }
        fn u8(&mut self) -> Option<usize> {
            self.take(1).map(|b| usize::from(b[0]))
        }
        fn u16(&mut self) -> Option<usize> {
            self.take(2)
                .map(|b| usize::from(b[0]) << 8 | usize::from(b[1]))
        }
        fn vec8(&mut self) -> Option<&'a [u8]> {
            let n = self.u8()?;
            self.take(n)
        }
        fn vec16(&mut self) -> Option<&'a [u8]> {
            let n = self.u16()?;
            self.take(n)
        }
    }
    let mut rec = R(data);
    if rec.u8()? != 0x16 {
        return None;
    }
    rec.take(2)?;
    let mut hs = R(rec.vec16()?);
    if hs.u8()? != 1 {
        return None;
    }
    let len = hs.take(3)?;
    let len = usize::from(len[0]) << 16 | usize::from(len[1]) << 8 | usize::from(len[2]);
    let mut hello = R(hs.take(len)?);
    hello.take(2 + 32)?;
    hello.vec8()?;
    hello.vec16()?;
    hello.vec8()?;
    let mut exts = R(hello.vec16()?);
    while !exts.0.is_empty() {
        let kind = exts.u16()?;
        let body = exts.vec16()?;
        if kind != 0 {
            continue;
        }
        let mut list = R(R(body).vec16()?);
        while !list.0.is_empty() {
            let name_type = list.u8()?;
            let name = list.vec16()?;
            if name_type == 0 {
                return std::str::from_utf8(name).ok().filter(|n| !n.is_empty());
            }
        }
    }
    None
}
