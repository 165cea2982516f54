//! Tests of the response-head parser and the body framing.

use super::*;

/// A generous head limit for tests that are not about it.
const MAX: usize = 64 * 1024;

fn parse(data: &[u8]) -> HeadParse {
    ResponseHeadParser::new(MAX).parse(data)
}

fn complete(data: &[u8]) -> ResponseHead {
    match parse(data) {
        HeadParse::Complete(head) => head,
        other => panic!("{:?}: {other:?}", String::from_utf8_lossy(data)),
    }
}

fn invalid(data: &[u8]) -> ResponseError {
    match parse(data) {
        HeadParse::Invalid(e) => e,
        other => panic!("{:?}: {other:?}", String::from_utf8_lossy(data)),
    }
}

/// Decodes `input` as one body; returns the payload and the bytes used.
fn decode_body(framing: Framing, input: &[u8]) -> (Vec<u8>, usize, bool) {
    let mut d = BodyDecoder::new(framing);
    let mut body = Vec::new();
    let n = d
        .decode(input, |b| body.extend_from_slice(b))
        .expect("valid body");
    (body, n, d.is_done())
}

#[test]
fn status_line_forms() {
    // (input, version, status, status_line, reason)
    type Case = (&'static [u8], Version, u16, &'static [u8], &'static [u8]);
    let cases: [Case; 9] = [
        (
            b"HTTP/1.1 200 OK\r\n\r\n",
            Version::Http11,
            200,
            b"200 OK",
            b"OK",
        ),
        (
            b"HTTP/1.0 404 Not Found\r\n\r\n",
            Version::Http10,
            404,
            b"404 Not Found",
            b"Not Found",
        ),
        (b"HTTP/1.1 204\r\n\r\n", Version::Http11, 204, b"204", b""),
        (b"HTTP/1.1 200 \r\n\r\n", Version::Http11, 200, b"200 ", b""),
        (
            b"HTTP/1.1   302   Found it\r\n\r\n",
            Version::Http11,
            302,
            b"302   Found it",
            b"Found it",
        ),
        (
            b"HTTP/1.1 200 \xc3\xa9t\xc3\xa9\r\n\r\n",
            Version::Http11,
            200,
            b"200 \xc3\xa9t\xc3\xa9",
            b"\xc3\xa9t\xc3\xa9",
        ),
        (
            b"HTTP/1.1 599 Custom\tReason\r\n\r\n",
            Version::Http11,
            599,
            b"599 Custom\tReason",
            b"Custom\tReason",
        ),
        (
            b"HTTP/1.1 200 OK\n\n",
            Version::Http11,
            200,
            b"200 OK",
            b"OK",
        ),
        (
            b"HTTP/1.0 100 Continue\r\n\r\n",
            Version::Http10,
            100,
            b"100 Continue",
            b"Continue",
        ),
    ];
    for (input, version, status, line, reason) in cases {
        let h = complete(input);
        assert_eq!(h.version, version, "{input:?}");
        assert_eq!(h.status, status, "{input:?}");
        assert_eq!(span(input, h.status_line), line, "{input:?}");
        assert_eq!(span(input, h.reason), reason, "{input:?}");
        assert_eq!(h.len, input.len(), "{input:?}");
        assert!(h.headers().is_empty());
    }
}

#[test]
fn header_forms_are_kept_as_positions() {
    let input = b"HTTP/1.1 200 OK\r\nServer: x\r\nX-Empty:\r\nX-Ows: \t v a l \t\r\n\
                  set-cookie: a=1\r\nSet-Cookie: b=2\nX-Obs: \xff\xfe\r\n\r\nBODY";
    let h = complete(input);
    assert_eq!(h.len, input.len() - 4);
    let lines: Vec<_> = h.header_lines(input).collect();
    let want: [(&[u8], &[u8]); 6] = [
        (b"Server", b"x"),
        (b"X-Empty", b""),
        (b"X-Ows", b"v a l"),
        (b"set-cookie", b"a=1"),
        (b"Set-Cookie", b"b=2"),
        (b"X-Obs", b"\xff\xfe"),
    ];
    assert_eq!(lines, want);
    assert_eq!(span(input, (input.len() - 4, 4)), b"BODY");
    assert_eq!(span(input, (input.len(), 1)), b"", "out of range is empty");
    assert_eq!(span(input, (usize::MAX, 2)), b"");
}

#[test]
fn framing_facts_are_collected() {
    let h = complete(b"HTTP/1.1 200 OK\r\ncontent-LENGTH:  42 \r\n\r\n");
    assert_eq!((h.content_length, h.chunked), (Some(42), false));
    assert_eq!(h.framing(Method::Get), Framing::Length(42));
    let h = complete(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: Chunked\r\n\r\n");
    assert_eq!((h.content_length, h.chunked), (None, true));
    assert_eq!(h.framing(Method::Post), Framing::Chunked);
    let h = complete(b"HTTP/1.1 200 OK\r\n\r\n");
    assert_eq!(h.framing(Method::Get), Framing::UntilClose);
    let h = complete(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
    assert_eq!(h.framing(Method::Get), Framing::Length(0));
}

#[test]
fn head_1xx_204_304_have_no_body() {
    for status in [b"100", b"101", b"103", b"204", b"304"] {
        let mut input = b"HTTP/1.1 ".to_vec();
        input.extend_from_slice(status);
        input.extend_from_slice(b" X\r\nContent-Length: 10\r\n\r\n");
        let h = complete(&input);
        assert_eq!(h.framing(Method::Get), Framing::None, "{status:?}");
        assert_eq!(h.is_interim(), status[0] == b'1');
    }
    for input in [
        &b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n"[..],
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
        b"HTTP/1.0 200 OK\r\n\r\n",
    ] {
        assert_eq!(complete(input).framing(Method::Head), Framing::None);
    }
    assert!(BodyDecoder::new(Framing::None).is_done());
    assert!(BodyDecoder::new(Framing::Length(0)).is_done());
}

#[test]
fn connection_and_version_decide_keepalive() {
    // (input, connection_close (nginx), is_persistent (RFC 9112 §9.3))
    let cases: [(&[u8], bool, bool); 7] = [
        (b"HTTP/1.1 200 OK\r\n\r\n", false, true),
        (b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n", true, false),
        (
            b"HTTP/1.1 200 OK\r\nConnection: Keep-Alive, CLOSE\r\n\r\n",
            true,
            false,
        ),
        (
            b"HTTP/1.1 200 OK\r\nConnection: closed-captions\r\n\r\n",
            false,
            true,
        ),
        (b"HTTP/1.0 200 OK\r\n\r\n", true, false),
        (
            b"HTTP/1.0 200 OK\r\nConnection: keep-alive\r\n\r\n",
            true,
            true,
        ),
        (
            b"HTTP/1.0 200 OK\r\nConnection: upgrade\r\nConnection: close\r\n\r\n",
            true,
            false,
        ),
    ];
    for (input, close, persistent) in cases {
        let h = complete(input);
        assert_eq!(h.connection_close(), close, "{input:?}");
        assert_eq!(h.is_persistent(), persistent, "{input:?}");
    }
}

#[test]
fn every_prefix_is_partial() {
    let responses: [&[u8]; 4] = [
        b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nConnection: close\r\n\r\n",
        b"HTTP/1.0 304 Not Modified\nETag: \"x\"\n\n",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nX-A: 1\r\nX-B:\r\n\r\n",
        b"HTTP/1.1 204\r\n\r\n",
    ];
    for input in responses {
        let whole = complete(input);
        for cut in 0..input.len() {
            // A fresh parser on the prefix.
            assert_eq!(
                parse(&input[..cut]),
                HeadParse::Partial,
                "{input:?} cut {cut}"
            );
            // One parser fed the prefix, then the whole head and a body byte.
            let mut p = ResponseHeadParser::new(MAX);
            assert_eq!(p.parse(&input[..cut]), HeadParse::Partial);
            let mut more = input.to_vec();
            more.push(b'x');
            assert_eq!(p.parse(&more), HeadParse::Complete(whole.clone()));
        }
        // Byte by byte with one parser.
        let mut p = ResponseHeadParser::new(MAX);
        for cut in 1..input.len() {
            assert_eq!(p.parse(&input[..cut]), HeadParse::Partial);
        }
        assert_eq!(p.parse(input), HeadParse::Complete(whole));
        assert_eq!(
            p.parse(b"HTTP/1.1"),
            HeadParse::Partial,
            "reset after Complete"
        );
    }
}

#[test]
fn bad_status_lines_are_refused() {
    for input in [
        &b"garbage\r\n\r\n"[..],
        b"X",
        b"HTTX",
        b"http/1.1 200 OK\r\n\r\n",
        b"\r\nHTTP/1.1 200 OK\r\n\r\n",
        b" HTTP/1.1 200 OK\r\n\r\n",
        b"HTTP/1.1 20 OK\r\n\r\n",
        b"HTTP/1.1 2000 OK\r\n\r\n",
        b"HTTP/1.1 OK\r\n\r\n",
        b"HTTP/1.1 200 OK\rX\r\n\r\n",
        b"HTTP/2 200 OK\r\n\r\n",
        b"HTTP/1.2 200 OK\r\n\r\n",
        b"HTTP/1.1\r\n\r\n",
        b"HTTP/1.1 200 OK\x01\r\n\r\n",
        b"<html>HTTP/0.9 body</html>",
    ] {
        assert_eq!(invalid(input), ResponseError::StatusLine, "{input:?}");
    }
    // Refused as soon as the bad byte arrives, before the end of the head.
    assert_eq!(invalid(b"HTTP/1.1 2x"), ResponseError::StatusLine);
    assert_eq!(invalid(b"HTTP/1.1 200 OK\rS"), ResponseError::StatusLine);
}

#[test]
fn bad_header_lines_are_refused() {
    for input in [
        &b"HTTP/1.1 200 OK\r\nBad Name: x\r\n\r\n"[..],
        b"HTTP/1.1 200 OK\r\nBad@Name: x\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nName : x\r\n\r\n",
        b"HTTP/1.1 200 OK\r\n: x\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nNoColon\r\n\r\n",
        b"HTTP/1.1 200 OK\r\n Leading: space\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nA: b\r\n folded\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nA: nul\0\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nA: bare\rcr\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nA: b\r\n\rx\r\n\r\n",
    ] {
        assert_eq!(invalid(input), ResponseError::Header, "{input:?}");
    }
    let mut many = b"HTTP/1.1 200 OK\r\n".to_vec();
    for i in 0..=MAX_RESPONSE_HEADERS {
        many.extend_from_slice(format!("X-{i}: v\r\n").as_bytes());
    }
    many.extend_from_slice(b"\r\n");
    assert_eq!(invalid(&many), ResponseError::TooManyHeaders);
    assert_eq!(
        invalid(b"HTTP/1.0 103 Early Hints\r\nLink: </a>\r\n\r\n"),
        ResponseError::EarlyHintsHttp10
    );
}

#[test]
fn conflicting_framing_is_refused() {
    use ResponseError::*;
    let cases: [(&[u8], ResponseError); 12] = [
        (b"Content-Length: x", InvalidContentLength),
        (b"Content-Length: -1", InvalidContentLength),
        (b"Content-Length: +5", InvalidContentLength),
        (b"Content-Length: 1 2", InvalidContentLength),
        (b"Content-Length: 5,5", InvalidContentLength),
        (b"Content-Length:", InvalidContentLength),
        (
            b"Content-Length: 99999999999999999999",
            InvalidContentLength,
        ),
        (
            b"Content-Length: 5\r\nContent-Length: 6",
            DuplicateContentLength,
        ),
        (
            b"Content-Length: 5\r\ncontent-length: 5",
            DuplicateContentLength,
        ),
        (
            b"Content-Length: 5\r\nTransfer-Encoding: chunked",
            LengthAndEncoding,
        ),
        (
            b"Transfer-Encoding: chunked\r\nContent-Length: 5",
            LengthAndEncoding,
        ),
        (
            b"Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked",
            DuplicateTransferEncoding,
        ),
    ];
    for (lines, err) in cases {
        let mut input = b"HTTP/1.1 200 OK\r\n".to_vec();
        input.extend_from_slice(lines);
        input.extend_from_slice(b"\r\n\r\n");
        assert_eq!(invalid(&input), err, "{:?}", String::from_utf8_lossy(lines));
    }
    for te in [
        &b"gzip"[..],
        b"gzip, chunked",
        b"chunked, gzip",
        b"identity",
        b"chunked;q=1",
        b"",
    ] {
        let mut input = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: ".to_vec();
        input.extend_from_slice(te);
        input.extend_from_slice(b"\r\n\r\n");
        assert_eq!(invalid(&input), UnknownTransferEncoding, "{te:?}");
    }
}

#[test]
fn max_head_is_enforced() {
    let head = b"HTTP/1.1 200 OK\r\nServer: x\r\n\r\n";
    let fits = ResponseHeadParser::new(head.len()).parse(head);
    assert!(matches!(fits, HeadParse::Complete(_)));
    let mut p = ResponseHeadParser::new(head.len() - 1);
    assert_eq!(p.parse(&head[..head.len() - 2]), HeadParse::Partial);
    assert_eq!(p.parse(head), HeadParse::Invalid(ResponseError::TooBig));
    // A full buffer without the end of the head.
    let mut p = ResponseHeadParser::new(16);
    assert_eq!(
        p.parse(b"HTTP/1.1 200 OK\r"),
        HeadParse::Invalid(ResponseError::TooBig)
    );
    let mut long = b"HTTP/1.1 200 OK\r\nX: ".to_vec();
    long.resize(MAX, b'a');
    assert_eq!(invalid(&long), ResponseError::TooBig);
    assert_eq!(
        ResponseError::TooBig.to_string(),
        "upstream sent too big header"
    );
}

#[test]
fn length_body_stops_at_its_end() {
    let (body, n, done) = decode_body(Framing::Length(5), b"helloHTTP/1.1");
    assert_eq!((&body[..], n, done), (&b"hello"[..], 5, true));
    let mut d = BodyDecoder::new(Framing::Length(5));
    assert_eq!(d.decode(b"hel", |_| {}), Ok(3));
    assert_eq!(d.min_remaining(), Some(2));
    assert_eq!(d.finish_at_eof(), Err(BodyError::Premature));
    assert_eq!(d.decode(b"loX", |_| {}), Ok(2));
    assert!(d.is_done());
    assert_eq!(d.decode(b"X", |_| {}), Ok(0));
    assert_eq!(d.finish_at_eof(), Ok(()));
}

#[test]
fn chunked_body_with_trailers_split_anywhere() {
    let input = b"3\r\nhel\r\n2;x=y\r\nlo\r\n0\r\nX-T: 1\r\nY: 2\r\n\r\nHTTP/1.1 200 OK\r\n";
    let end = input.len() - b"HTTP/1.1 200 OK\r\n".len();
    let (body, n, done) = decode_body(Framing::Chunked, input);
    assert_eq!((&body[..], n, done), (&b"hello"[..], end, true));
    for cut in 0..end {
        let mut d = BodyDecoder::new(Framing::Chunked);
        let mut body = Vec::new();
        let a = d
            .decode(&input[..cut], |b| body.extend_from_slice(b))
            .unwrap();
        assert_eq!(a, cut);
        assert!(!d.is_done());
        assert!(
            d.min_remaining()
                .is_some_and(|m| m >= 1 && m as usize <= end - cut)
        );
        assert_eq!(d.finish_at_eof(), Err(BodyError::Premature));
        let b = d
            .decode(&input[cut..], |b| body.extend_from_slice(b))
            .unwrap();
        assert_eq!((a + b, &body[..]), (end, &b"hello"[..]), "cut {cut}");
        assert!(d.is_done());
    }
    let mut d = BodyDecoder::new(Framing::Chunked);
    let err = d.decode(b"3\r\nhelXX", |_| {}).unwrap_err();
    assert_eq!(err, BodyError::Chunked(ChunkedError::BadLineEnd));
    assert!(
        err.to_string()
            .starts_with("upstream sent invalid chunked response")
    );
}

#[test]
fn until_close_body_ends_at_eof() {
    let mut d = BodyDecoder::new(Framing::UntilClose);
    let mut body = Vec::new();
    assert_eq!(d.decode(b"abc", |b| body.extend_from_slice(b)), Ok(3));
    assert_eq!(
        d.decode(b"HTTP/1.1 200", |b| body.extend_from_slice(b)),
        Ok(12)
    );
    assert_eq!(body, b"abcHTTP/1.1 200");
    assert!(!d.is_done());
    assert_eq!(d.min_remaining(), None);
    assert_eq!(d.finish_at_eof(), Ok(()));
    assert!(d.is_done());
}

#[test]
fn pipelined_responses_read_back_to_back() {
    let stream = b"HTTP/1.1 100 Continue\r\n\r\n\
                   HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabc\
                   HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nde\r\n0\r\n\r\n\
                   HTTP/1.1 304 Not Modified\r\nContent-Length: 9\r\n\r\n\
                   HTTP/1.0 200 OK\r\n\r\nrest of the stream";
    let mut p = ResponseHeadParser::new(MAX);
    let mut pos = 0;
    let mut seen = Vec::new();
    loop {
        let HeadParse::Complete(head) = p.parse(&stream[pos..]) else {
            panic!("head at {pos}");
        };
        pos += head.len;
        let framing = head.framing(Method::Get);
        let mut d = BodyDecoder::new(framing);
        let mut body = Vec::new();
        pos += d
            .decode(&stream[pos..], |b| body.extend_from_slice(b))
            .unwrap();
        if framing == Framing::UntilClose {
            assert_eq!(d.finish_at_eof(), Ok(()));
        }
        assert!(d.is_done());
        seen.push((head.status, String::from_utf8(body).unwrap()));
        if pos == stream.len() {
            break;
        }
    }
    let want = [
        (100, ""),
        (200, "abc"),
        (200, "de"),
        (304, ""),
        (200, "rest of the stream"),
    ];
    let want: Vec<_> = want.iter().map(|&(s, b)| (s, b.to_string())).collect();
    assert_eq!(seen, want);
}
