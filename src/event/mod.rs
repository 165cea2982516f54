//! The event layer (nginx's `src/event/`).

pub mod timer;
