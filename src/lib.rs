//! holdfast: a single-threaded, nginx-style HTTP/1.x server.
//!
//! The module tree mirrors nginx's source tree:
//!
//! | module | nginx |
//! |---|---|
//! | [`core::connection`] | `core/ngx_connection.c`: get/free/close connection, reusable queue, draining |
//! | [`core::time`] | `core/ngx_times.c`: cached clock and `Date` string |
//! | [`core::log`] | `core/ngx_log.c`: the error log's line format |
//! | [`event::event_loop`] | `event/ngx_event.c` + `modules/ngx_epoll_module.c` |
//! | [`event::accept`] | `event/ngx_event_accept.c` |
//! | [`event::timer`] | `event/ngx_event_timer.{c,h}` (a hierarchical wheel instead of an rbtree) |
//! | [`event::posted`] | `event/ngx_event_posted.c` |
//! | [`http`] | `http/ngx_http_request.c` and friends |
//! | [`conf`] | `core/ngx_conf_file.c` and the modules' directive tables |
#![deny(rust_2018_idioms)]
#![warn(missing_docs)]
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

pub mod conf;
pub mod core;
pub mod event;
pub mod http;
pub mod os;
