//! The core layer (nginx's `src/core/`).

pub mod buf;
pub mod connection;
pub mod cycle;
pub mod file;
#[cfg(debug_assertions)]
pub mod invariants;
pub mod log;
pub mod open_file_cache;
pub mod resolver;
pub mod time;
pub mod x509;
