//! The configuration parser on arbitrary text: see `holdfast_fuzz::config`.
#![no_main]

use libfuzzer_sys::fuzz_target;

// `listen some.host` must not send DNS queries from a fuzzer.
holdfast_fuzz::no_resolver!();

fuzz_target!(|data: &[u8]| {
    holdfast_fuzz::config::run(data);
});
