//! One client connection through the whole HTTP state machine: see
//! `holdfast_fuzz::http` for the input format and the invariants.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    holdfast_fuzz::http::run(data);
});
