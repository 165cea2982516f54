//! The operating-system layer (nginx's `src/os/unix/`).

pub mod dir;
pub mod files;
pub mod io;
pub mod net;
pub mod process_cycle;
pub mod signals;
pub mod socket;
pub mod tls;
pub mod tls_buf;
pub mod tls_client;
pub mod tls_hello;
pub mod user;
