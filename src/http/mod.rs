//! The HTTP layer (nginx's `src/http/`).
