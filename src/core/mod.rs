//! The core layer (nginx's `src/core/`).
