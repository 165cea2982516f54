//! The HTTP layer: nginx's `src/http/`.
//!
//! | module | nginx |
//! |---|---|
//! | [`request`] | `ngx_http_request.c`: init_connection → wait_request_handler → process_request_line → process_request_headers → process_request, finalize, close |
//! | [`keepalive`] | `ngx_http_request.c`: finalize_connection → set_keepalive → keepalive_handler |
//! | [`lingering`] | `ngx_http_request.c`: set_lingering_close → lingering_close_handler |
//! | [`body`] | `ngx_http_request_body.c`: discarding request bodies |
//! | [`response`] | `ngx_http_header_filter_module.c`, `ngx_http_write_filter_module.c`, ngx_http_writer |
//! | [`special`] | `ngx_http_special_response.c`: error pages |
//! | [`static_module`] | `ngx_http_static_module.c` + `ngx_http_index_module.c` |
//! | [`parse`] | `ngx_http_parse.c` (with httparse) |
//!
//! [`run_read_handler`] and [`run_write_handler`] are the `ev->handler(ev)`
//! calls: one `match` on the connection's handler enum.

pub mod body;
pub mod keepalive;
pub mod lingering;
pub mod parse;
pub mod request;
pub mod response;
pub mod special;
pub mod static_module;

use crate::core::connection::{ReadHandler, WriteHandler};
use crate::core::cycle::Cycle;
use crate::os::io::Transport;

/// Calls the connection's read handler (`c->read->handler(c->read)`).
pub fn run_read_handler<S: Transport>(cy: &mut Cycle<S>, key: usize) {
    match cy.conns[key].read.handler {
        ReadHandler::WaitRequest => request::wait_request_handler(cy, key),
        ReadHandler::ProcessRequestLine => request::process_request_line(cy, key),
        ReadHandler::ProcessRequestHeaders => request::process_request_headers(cy, key),
        ReadHandler::BlockReading => request::block_reading(cy, key),
        ReadHandler::DiscardBody => body::discarded_request_body_handler(cy, key),
        ReadHandler::Keepalive => keepalive::keepalive_handler(cy, key),
        ReadHandler::LingeringClose => lingering::lingering_close_handler(cy, key),
    }
}

/// Calls the connection's write handler (`c->write->handler(c->write)`).
pub fn run_write_handler<S: Transport>(cy: &mut Cycle<S>, key: usize) {
    match cy.conns[key].write.handler {
        WriteHandler::Empty => {}
        WriteHandler::Writer => response::writer(cy, key),
        WriteHandler::Flush => response::flush_handler(cy, key),
    }
}
