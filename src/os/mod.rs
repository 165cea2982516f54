//! The operating-system layer (nginx's `src/os/unix/`).

pub mod io;
pub mod signals;
