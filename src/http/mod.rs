//! The HTTP edge of `authd serve`: the server (accept loop, shutdown), the
//! per-request edge (request id, host check, CORS, headers, logging), the
//! router, one handler per resource, request parsing, response building and
//! the one error-to-response mapping.

mod access_log;
mod client_ip;
mod conn;
mod csrf;
mod edge;
pub mod error;
mod handlers;
mod host;
pub mod openapi;
mod request;
mod request_id;
pub mod response;
pub mod router;
mod server;
mod site;

pub use request::{bearer_token, parse_json_object, Fields};
pub use server::{shutdown_signal, Server};
