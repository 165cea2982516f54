//! The deflate measurements behind src/http/gzip_filter.rs's choices: the
//! zlib-rs backend of flate2 at levels 1 and 2 (what `gzip_comp_level 1`
//! runs) against miniz_oxide (the small-body path, bodies ≤ 4 KiB), on text,
//! at 1 KiB, 4 KiB, 8 KiB, 16 KiB and 1 MiB, each stream's reset included
//! (that reset is the fixed cost the small-body path avoids).
//!
//! Run with `cargo bench --bench deflate`. Every row is the median of RUNS
//! runs (min and max shown) and the compressed size. The system zlib figures
//! of docs/static-bench.md came from a scratch crate with flate2's `zlib`
//! feature, which holdfast does not build.

use std::hint::black_box;
use std::time::Instant;

use flate2::{Compress, Compression, FlushCompress};
use miniz_oxide::deflate::core::{
    CompressorOxide, TDEFLFlush, compress_to_output, create_comp_flags_from_zip_params,
};

const RUNS: usize = 5;

/// Text that compresses like HTML prose: words from a small vocabulary.
fn text(len: usize) -> Vec<u8> {
    let words = [
        "the ",
        "server ",
        "keeps ",
        "<p>",
        "</p>\n",
        "connection ",
        "alive ",
        "nginx ",
        "holdfast ",
        "request ",
        "response ",
        "a ",
        "of ",
        "and ",
        "<a href=\"/x\">",
        "</a> ",
    ];
    let mut out = Vec::with_capacity(len + 32);
    let mut x = 2_463_534_242u32;
    while out.len() < len {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        out.extend_from_slice(words[x as usize % words.len()].as_bytes());
    }
    out.truncate(len);
    out
}

fn zlib_rs(level: u32, data: &[u8], iters: usize) -> (f64, usize) {
    let mut z = Compress::new(Compression::new(level), false);
    let mut out = Vec::with_capacity(data.len() + 1024);
    let t = Instant::now();
    for _ in 0..iters {
        z.reset();
        out.clear();
        let mut input = data;
        loop {
            out.reserve(4096);
            let before = z.total_in();
            let st = z
                .compress_vec(input, &mut out, FlushCompress::Finish)
                .unwrap();
            input = &input[(z.total_in() - before) as usize..];
            if st == flate2::Status::StreamEnd {
                break;
            }
        }
        black_box(&out);
    }
    (t.elapsed().as_secs_f64() * 1e6 / iters as f64, out.len())
}

fn miniz(level: u32, data: &[u8], iters: usize) -> (f64, usize) {
    let mut c = CompressorOxide::new(create_comp_flags_from_zip_params(level as i32, -15, 0));
    let mut out = Vec::with_capacity(data.len() + 1024);
    let t = Instant::now();
    for _ in 0..iters {
        c.reset();
        out.clear();
        compress_to_output(&mut c, data, TDEFLFlush::Finish, |b| {
            out.extend_from_slice(b);
            true
        });
        black_box(&out);
    }
    (t.elapsed().as_secs_f64() * 1e6 / iters as f64, out.len())
}

fn row(name: &str, f: impl Fn() -> (f64, usize)) {
    let mut times = Vec::with_capacity(RUNS);
    let mut size = 0;
    for _ in 0..RUNS {
        let (us, n) = f();
        times.push(us);
        size = n;
    }
    times.sort_by(f64::total_cmp);
    println!(
        "{name:<28} {:>9.2} µs (min {:.2}, max {:.2})  {size} bytes",
        times[RUNS / 2],
        times[0],
        times[RUNS - 1]
    );
}

fn main() {
    for len in [1024usize, 4096, 8192, 16384, 1 << 20] {
        let data = text(len);
        let iters = (20_000_000 / (len + 20_000)).max(20);
        println!("-- {len} bytes of text, {iters} streams per run");
        row("zlib-rs level 1 (quick)", || zlib_rs(1, &data, iters));
        row("zlib-rs level 2 (fast)", || zlib_rs(2, &data, iters));
        row("miniz_oxide level 1", || miniz(1, &data, iters));
    }
}
