use super::*;

fn entries(list: &[(&[u8], bool, i64)]) -> Entries {
    let mut e = Entries::default();
    for &(name, dir, size) in list {
        let info = DirEntryInfo {
            is_dir: dir,
            is_file: !dir,
            mtime: 784_111_777,
            size,
        };
        assert!(e.push(name, info));
    }
    e.sort();
    e
}

fn render(f: impl FnOnce(&mut Sink<'_>)) -> String {
    let mut s = Sink::new(None);
    f(&mut s);
    match s.finish().unwrap() {
        Listing::Mem(b) => String::from_utf8_lossy(&b).into_owned(),
        Listing::File(_) => unreachable!(),
    }
}

fn line(name: &[u8], dir: bool, conf: &AutoindexConf, utf8: bool) -> String {
    let e = entries(&[(name, dir, 42)]);
    let mut b = Vec::new();
    html_entry(&mut b, e.name(&e.list[0]), &e.list[0], conf, utf8, 0);
    String::from_utf8_lossy(&b).into_owned()
}

#[test]
fn directories_first_then_bytes() {
    let e = entries(&[
        (b"b", false, 1),
        (b"Z", false, 1),
        (b"a", true, 0),
        (b"\xd1\x84", false, 1),
        (b"ab", false, 1),
        (b"c", true, 0),
    ]);
    let names: Vec<&[u8]> = e.list.iter().map(|x| e.name(x)).collect();
    let want: Vec<&[u8]> = vec![b"a", b"c", b"Z", b"ab", b"b", b"\xd1\x84"];
    assert_eq!(names, want);
}

#[test]
fn html_lines_as_nginx_writes_them() {
    let c = AutoindexConf::default();
    assert_eq!(
        line(b"test-file", false, &c, false),
        format!(
            "<a href=\"test-file\">test-file</a>{} 06-Nov-1994 08:49                  42\r\n",
            " ".repeat(41)
        )
    );
    assert_eq!(
        line(b"d", true, &c, false),
        format!(
            "<a href=\"d/\">d/</a>{} 06-Nov-1994 08:49                   -\r\n",
            " ".repeat(48)
        )
    );
    // URI-component escaping of the link, HTML escaping of the text.
    assert_eq!(
        line(b"a <&>\"'%?#", false, &c, false),
        format!(
            "<a href=\"a%20%3C%26%3E%22%27%25%3F%23\">a &lt;&amp;&gt;&quot;'%?#</a>{} 06-Nov-1994 08:49                  42\r\n",
            " ".repeat(40)
        )
    );
}

#[test]
fn long_names_are_cut_with_an_arrow() {
    let c = AutoindexConf::default();
    let name = format!("test-long-{}", "0".repeat(50));
    let l = line(name.as_bytes(), false, &c, false);
    assert!(
        l.contains(&format!(">test-long-{}..&gt;</a> 06-Nov", "0".repeat(37))),
        "{l}"
    );
    let name = format!("test-long-{}", ">".repeat(50));
    let l = line(name.as_bytes(), false, &c, false);
    assert!(
        l.contains(&format!(">test-long-{}..&gt;</a> 06", "&gt;".repeat(37))),
        "{l}"
    );
    // Exactly 50: whole, no padding; a directory gets no slash then.
    let name = "x".repeat(50);
    assert!(line(name.as_bytes(), true, &c, false).contains(&format!(">{name}</a> 06")));
    let name = "x".repeat(49);
    assert!(line(name.as_bytes(), true, &c, false).contains(&format!(">{name}/</a> 06")));
}

#[test]
fn utf8_names_count_characters_only_with_a_utf8_charset() {
    let c = AutoindexConf::default();
    let f = "\u{444}";
    let name = format!("test-utf8-{}", f.repeat(45));
    let utf8 = line(name.as_bytes(), false, &c, true);
    assert!(
        utf8.contains(&format!(">test-utf8-{}..&gt;</a>", f.repeat(37))),
        "{utf8}"
    );
    let short = format!("test-utf8-{}", f.repeat(3));
    let l = line(short.as_bytes(), false, &c, true);
    assert!(
        l.contains(&format!(">{short}</a>{} 06", " ".repeat(37))),
        "{l}"
    );
    let esc = format!("test-utf8-<>&-{}", f.repeat(45));
    let l = line(esc.as_bytes(), false, &c, true);
    assert!(
        l.contains(&format!(">test-utf8-&lt;&gt;&amp;-{}..&gt;", f.repeat(33))),
        "{l}"
    );
    // Without a charset: bytes, cut in the middle of a character as nginx does.
    let bytes = line(name.as_bytes(), false, &c, false);
    let mut want = b">test-utf8-".to_vec();
    want.extend_from_slice(&name.as_bytes()[10..47]);
    want.extend_from_slice(b"..&gt;</a>");
    let e = entries(&[(name.as_bytes(), false, 42)]);
    let mut b = Vec::new();
    html_entry(&mut b, e.name(&e.list[0]), &e.list[0], &c, false, 0);
    assert!(b.windows(want.len()).any(|w| w == want), "{bytes}");
}

#[test]
fn utf8_as_nginx_decodes_it() {
    assert_eq!(utf8_length("a\u{444}\u{20ac}\u{1f600}".as_bytes()), 4);
    // Invalid: the byte length.
    assert_eq!(utf8_length(b"a\xd1"), 2);
    assert_eq!(utf8_length(b"\xc0\x80x"), 3);
    assert_eq!(utf8_length(b"\xf4\x90\x80\x80"), 4);
    assert_eq!(utf8_prefix("\u{444}\u{444}\u{444}".as_bytes(), 2), 4);
    assert_eq!(utf8_prefix(b"ab", 5), 2);
}

#[test]
fn human_sizes() {
    let s = |n| {
        let mut b = Vec::new();
        human_size(&mut b, n);
        String::from_utf8(b).unwrap()
    };
    assert_eq!(s(0), "      0");
    assert_eq!(s(9999), "   9999");
    assert_eq!(s(10_000), "    10K");
    assert_eq!(s(10_751), "    10K");
    assert_eq!(s(10_752), "    11K");
    assert_eq!(s(1024 * 1024 - 1), "  1024K");
    assert_eq!(s(1024 * 1024), "     1M");
    assert_eq!(s(3 * 1024 * 1024 * 1024 / 2), "     2G");
    let off = AutoindexConf {
        exact_size: false,
        ..Default::default()
    };
    assert!(line(b"d", true, &off, false).ends_with("08:49       -\r\n"));
}

#[test]
fn html_page() {
    let e = entries(&[(b"f", false, 1)]);
    let c = AutoindexConf::default();
    let page = render(|s| autoindex_html(s, b"/a<b>/", &e, &c, false, 0));
    assert!(page.starts_with(
        "<html>\r\n<head><title>Index of /a&lt;b&gt;/</title></head>\r\n<body>\r\n\
         <h1>Index of /a&lt;b&gt;/</h1><hr><pre><a href=\"../\">../</a>\r\n<a href=\"f\">f</a>"
    ));
    assert!(page.ends_with("                   1\r\n</pre><hr></body>\r\n</html>\r\n"));
    // autoindex_localtime moves the time by the offset.
    let local = AutoindexConf {
        localtime: true,
        ..Default::default()
    };
    let l = render(|s| autoindex_html(s, b"/", &e, &local, false, 3600));
    assert!(l.contains("06-Nov-1994 09:49"), "{l}");
}

#[test]
fn json_and_jsonp() {
    let e = entries(&[(b"d", true, 0), (b"a\"\\\x01b", false, 42)]);
    assert_eq!(
        render(|s| autoindex_json(s, &e, None)),
        "[\r\n{ \"name\":\"d\", \"type\":\"directory\", \"mtime\":\"Sun, 06 Nov 1994 08:49:37 GMT\" },\
         \r\n{ \"name\":\"a\\\"\\\\\\u0001b\", \"type\":\"file\", \"mtime\":\"Sun, 06 Nov 1994 08:49:37 GMT\", \"size\":42 }\r\n]"
    );
    let none = Entries::default();
    assert_eq!(render(|s| autoindex_json(s, &none, None)), "[\r\n]");
    assert_eq!(
        render(|s| autoindex_json(s, &none, Some(b"cb.x_1"))),
        "/* callback */\r\ncb.x_1([\r\n]);"
    );
    let mut b = Vec::new();
    crate::http::parse::escape_json(b"\x1f\x7f\n", &mut b);
    assert_eq!(b, b"\\u001F\x7f\\n");
}

#[test]
fn xml() {
    let e = entries(&[(b"d", true, 0), (b"<'\"&>", false, 42)]);
    assert_eq!(
        render(|s| autoindex_xml(s, &e)),
        "<?xml version=\"1.0\"?>\r\n<list>\r\n\
         <directory mtime=\"1994-11-06T08:49:37Z\">d</directory>\r\n\
         <file mtime=\"1994-11-06T08:49:37Z\" size=\"42\">&lt;'&quot;&amp;&gt;</file>\r\n\
         </list>\r\n"
    );
}

#[test]
fn a_large_listing_goes_to_an_unlinked_file() {
    let dir = std::env::temp_dir().join(format!("hf-ai-{}", std::process::id()));
    let path = TempPath::new(dir.clone());
    let names: Vec<String> = (0..5000).map(|i| format!("file-{i:05}")).collect();
    let mut e = Entries::default();
    for n in &names {
        let info = DirEntryInfo {
            is_dir: false,
            is_file: true,
            mtime: 0,
            size: 1,
        };
        e.push(n.as_bytes(), info);
    }
    let mut s = Sink::new(Some(&path));
    autoindex_json(&mut s, &e, None);
    let listing = s.finish().unwrap();
    let Listing::File(f) = listing else {
        panic!("expected a file");
    };
    let mut text = Vec::new();
    use std::io::Read;
    (&*f.file).read_to_end(&mut text).unwrap();
    assert_eq!(text.len() as u64, f.len);
    assert!(f.len > AUTOINDEX_MEMORY_MAX as u64);
    assert!(text.starts_with(b"[\r\n{ \"name\":\"file-00000\""));
    assert!(text.ends_with(b"\"size\":1 }\r\n]"));
    assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 0);
    std::fs::remove_dir_all(dir).unwrap();
}
