//! Drivers and invariant checks for holdfast's fuzz targets.
//!
//! Each module is also compiled into the main crate's
//! `tests/fuzz_regressions.rs` (with `#[path]`), so a crasher found here is
//! replayed there through exactly the same checks. The modules therefore use
//! only `holdfast` and `std`.

pub mod chunked;
pub mod config;
pub mod http;
pub mod tls;
