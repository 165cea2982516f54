//! No heap allocation per request in steady state: the whole HTTP state
//! machine is driven over in-memory streams with a counting global allocator,
//! for keep-alive and pipelined `return` requests and for a small static file
//! (with `open_file_cache` on: off, as by default, each request opens the
//! file and allocates its handle, as nginx allocates from its request pool).

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::path::Path;
use std::rc::Rc;

use holdfast::conf::Config;
use holdfast::core::cycle::Cycle;
use holdfast::event::accept::listening_from_conf;
use holdfast::http::{request, run_read_handler};
use holdfast::os::io::MemStream;

struct Counting;

thread_local! {
    static COUNTING: Cell<bool> = const { Cell::new(false) };
    static ALLOCS: Cell<u64> = const { Cell::new(0) };
}

// SAFETY: forwards to the system allocator; the counters are thread-local
// plain cells that never allocate.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if COUNTING.with(Cell::get) {
            ALLOCS.with(|a| a.set(a.get() + 1));
        }
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as the caller's.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if COUNTING.with(Cell::get) {
            ALLOCS.with(|a| a.set(a.get() + 1));
        }
        // SAFETY: same contract as the caller's.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn cycle(root: &Path) -> Cycle<MemStream> {
    let text = format!(
        "events {{ worker_connections 64; }} http {{ keepalive_requests 100000; open_file_cache max=64; \
         server {{ listen 127.0.0.1:8080; root {}; \
         location = /a {{ return 200 \"Hello, World!\"; }} }} }}",
        root.display()
    );
    let conf = Config::from_str(
        &text,
        Path::new("/tmp/holdfast-alloc.conf"),
        Path::new("/tmp"),
    )
    .unwrap();
    let listening = listening_from_conf(&conf)
        .into_iter()
        .map(|(_, l)| l)
        .collect();
    Cycle::new(Rc::new(conf), listening)
}

/// Delivers `bytes` as one readable event and runs the posted queue; counts
/// the allocations made by the server's code only.
fn feed(cy: &mut Cycle<MemStream>, token: usize, bytes: &[u8]) -> u64 {
    let key = cy.lookup(token).expect("connection alive");
    let c = &mut cy.conns[key];
    c.stream.output.clear();
    c.stream.input.push_back(bytes.to_vec());
    c.read.ready = true;
    ALLOCS.with(|a| a.set(0));
    COUNTING.with(|c| c.set(true));
    run_read_handler(cy, key);
    holdfast::event::posted::process_posted(cy, usize::MAX);
    COUNTING.with(|c| c.set(false));
    ALLOCS.with(Cell::get)
}

fn connect(cy: &mut Cycle<MemStream>) -> usize {
    let mut stream = MemStream::default();
    stream.output.reserve(1 << 20);
    let addr = "127.0.0.1:5555".parse().unwrap();
    let key = holdfast::event::accept::accept_connection(cy, stream, addr, false, 0).unwrap();
    request::init_connection(cy, key);
    cy.conns[key].token(key)
}

fn assert_steady(cy: &mut Cycle<MemStream>, token: usize, req: &[u8], expect: &str) {
    for _ in 0..50 {
        feed(cy, token, req);
    }
    for i in 0..1000 {
        let n = feed(cy, token, req);
        let key = cy.lookup(token).unwrap();
        let out = String::from_utf8_lossy(&cy.conns[key].stream.output);
        assert!(out.contains(expect), "{out}");
        assert_eq!(n, 0, "request {i} allocated {n} times");
    }
}

#[test]
fn keepalive_return_requests_do_not_allocate() {
    let mut cy = cycle(Path::new("/tmp"));
    let t = connect(&mut cy);
    assert_steady(
        &mut cy,
        t,
        b"GET /a HTTP/1.1\r\nHost: x\r\nUser-Agent: bench\r\n\r\n",
        "Hello, World!",
    );
}

#[test]
fn pipelined_return_requests_do_not_allocate() {
    let mut cy = cycle(Path::new("/tmp"));
    let t = connect(&mut cy);
    let batch = "GET /a HTTP/1.1\r\nHost: x\r\n\r\n".repeat(16);
    assert_steady(&mut cy, t, batch.as_bytes(), "Hello, World!");
    let key = cy.lookup(t).unwrap();
    let out = String::from_utf8_lossy(&cy.conns[key].stream.output).into_owned();
    assert_eq!(out.matches("HTTP/1.1 200 OK").count(), 16);
}

#[test]
fn static_file_requests_do_not_allocate() {
    let root = std::env::temp_dir().join(format!("holdfast-alloc-{}", std::process::id()));
    std::fs::create_dir_all(&root).unwrap();
    std::fs::write(root.join("f.txt"), "x".repeat(1024)).unwrap();
    let mut cy = cycle(&root);
    let t = connect(&mut cy);
    assert_steady(
        &mut cy,
        t,
        b"GET /f.txt HTTP/1.1\r\nHost: x\r\n\r\n",
        "Content-Length: 1024",
    );
    let _ = std::fs::remove_dir_all(&root);
}

#[test]
fn new_connections_reuse_pooled_state() {
    let mut cy = cycle(Path::new("/tmp"));
    for _ in 0..20 {
        let t = connect(&mut cy);
        feed(
            &mut cy,
            t,
            b"GET /a HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        );
    }
    for _ in 0..200 {
        let t = connect(&mut cy);
        let n = feed(
            &mut cy,
            t,
            b"GET /a HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        );
        assert!(cy.lookup(t).is_none(), "closed after Connection: close");
        assert_eq!(n, 0, "a short connection's request allocated {n} times");
    }
}

#[test]
fn the_counter_sees_allocations() {
    // The harness itself must be able to fail: a first request on a fresh
    // cycle allocates (pools are empty), and so does an explicit Vec.
    let mut cy = cycle(Path::new("/tmp"));
    let t = connect(&mut cy);
    assert!(feed(&mut cy, t, b"GET /a HTTP/1.1\r\nHost: x\r\n\r\n") > 0);
    ALLOCS.with(|a| a.set(0));
    COUNTING.with(|c| c.set(true));
    let v: Vec<u8> = std::hint::black_box(Vec::with_capacity(10));
    COUNTING.with(|c| c.set(false));
    drop(v);
    assert_eq!(ALLOCS.with(Cell::get), 1);
}
