//! authd: email + password accounts, JWT access/refresh tokens, throttling
//! and password reset, as one library that both halves of the `authd` binary
//! use: `authd serve` (the HTTP daemon) and the admin commands, which act on
//! the same stores directly. A rule (the password policy, how a token is
//! revoked) therefore exists once.
//!
//! Data flows one way: the edges (`http`, `cli`) parse input into `domain`
//! types, call a service (`accounts` for every change to an account,
//! `auth` for tokens, `reset` for password reset), and render the result;
//! services reach the `store` through `db`, which makes the blocking hop.
//! Services record what they did in the `audit` log, with the `Origin`
//! (API client or admin command) the edge handed them.

pub mod accounts;
pub mod allocator;
pub mod app;
pub mod audit;
pub mod auth;
pub mod cli;
pub mod config;
pub mod db;
pub mod domain;
pub mod error_chain;
pub mod heartbeat;
pub mod http;
pub mod import;
pub mod ip_text;
pub mod kv;
pub mod loadtest;
pub mod logging;
pub mod maintenance;
pub mod metrics;
pub mod reset;
pub mod startup;
pub mod store;
pub mod throttle;
