//! A client's first bytes on a TLS port: see `holdfast_fuzz::tls`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    holdfast_fuzz::tls::run(data);
});
