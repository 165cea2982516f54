//! The event layer (nginx's `src/event/`).

pub mod accept;
pub mod event_loop;
pub mod posted;
pub mod resolver;
pub mod timer;
