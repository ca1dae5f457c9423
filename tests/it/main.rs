//! authd's black-box suites, linked into one test binary.
//!
//! Each suite is a module named after what it covers (`api_*` the HTTP API
//! in process, `cli_*` the binary as a shell user runs it, `store*` both
//! databases, `infra_*`/`faults_*`/`fleet_*` private servers and outages,
//! `deploy_*` the deployment files). One binary instead of one per suite:
//! every suite used to link the whole crate again, so a one-line change
//! relinked every suite; now it relinks one (see Cargo.toml's `[[test]]`).
//! `cargo test SUITE::` runs one suite, as `--test SUITE` used to.

mod common;

mod api_accounts;
mod api_audit;
mod api_conformance;
mod api_docs;
mod api_edge;
mod api_jwks;
mod api_logout;
mod api_metrics;
mod api_reset;
mod api_sessions;
mod api_throttle;
mod api_tokens;
mod assets;
mod cli_audit;
mod cli_blacklist;
mod cli_config;
mod cli_keys;
mod cli_loadtest;
mod cli_migrate;
mod cli_throttle;
mod cli_tokens;
mod cli_users;
mod connections;
mod deploy_container;
mod deploy_observability;
mod deploy_port_healthcheck;
mod deploy_proxy;
mod deploy_systemd;
mod faults_postgres;
mod faults_redis;
mod faults_sigterm;
mod file_modes;
mod fleet_processes;
mod generated_client;
mod hostile_input;
mod import_django;
mod infra_pools;
mod infra_postgres;
mod infra_readiness;
mod infra_redis;
mod jwks_verifiers;
mod key_rotation;
mod load_held;
mod markdown_links;
mod reset_delivery;
mod security_properties;
mod serve_process;
mod store;
mod store_parity;
mod store_sessions;
mod swagger_browser;
mod throttle_identities;
