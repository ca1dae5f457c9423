//! authd: email + password accounts, JWT access/refresh tokens, throttling
//! and password reset, as one library that both halves of the `authd` binary
//! use: `authd serve` (the HTTP daemon) and the admin commands, which act on
//! the same stores directly. A rule (the password policy, how a token is
//! revoked) therefore exists once.
//!
//! Data flows one way: the edge (`cli`) parses input into `domain` types,
//! calls a service (`auth`) or the `store`, and renders the result.

pub mod allocator;
pub mod app;
pub mod auth;
pub mod cli;
pub mod config;
pub mod domain;
pub mod heartbeat;
pub mod http;
pub mod import;
pub mod kv;
pub mod loadtest;
pub mod logging;
pub mod maintenance;
pub mod metrics;
pub mod reset;
pub mod store;
pub mod throttle;
