//! The chunked decoder, whole and split: see `holdfast_fuzz::chunked`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    holdfast_fuzz::chunked::run(data);
});
