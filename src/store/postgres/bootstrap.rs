//! A store's first connection: the one made directly before the pool, so
//! a failure says why (refused, auth, TLS, every slot taken) and which
//! server, where the pool would only report "timed out"; and the schema
//! authd's tables go in, checked to exist.

use postgres::error::SqlState;

use super::{connection, db_error};
use crate::error_chain::Chain;
use crate::store::{DriverError, StoreError};

/// The first connection of a store. A database with every slot taken
/// (`too many clients`) or still starting is tried again, with backoff,
/// until `wait` has passed: an admin command run while servers hold the
/// slots waits for one to be given back instead of failing at once.
pub(super) fn first_connection(
    config: &postgres::Config,
    tls: &tokio_postgres_rustls::MakeRustlsConnect,
    wait: std::time::Duration,
) -> Result<postgres::Client, StoreError> {
    let deadline = std::time::Instant::now() + wait;
    let mut pause = std::time::Duration::from_millis(100);
    loop {
        let error = match config.connect(tls.clone()) {
            Ok(client) => return Ok(client),
            Err(error) => error,
        };
        let busy = matches!(
            error.code(),
            Some(&SqlState::TOO_MANY_CONNECTIONS) | Some(&SqlState::CANNOT_CONNECT_NOW)
        );
        if !busy || std::time::Instant::now() + pause > deadline {
            // "Connection refused" alone does not say which server refused.
            return Err(StoreError::Unavailable(DriverError::new(format!(
                "cannot connect to {}: {}",
                targets(config),
                Chain(&error)
            ))));
        }
        std::thread::sleep(pause);
        pause = (pause * 2).min(connection::BACKOFF_CAP);
    }
}

/// The servers a configuration names, as `host:port` (or a socket
/// directory), for error messages.
fn targets(config: &postgres::Config) -> String {
    let ports = config.get_ports();
    config
        .get_hosts()
        .iter()
        .enumerate()
        .map(|(i, host)| {
            // libpq: one port for every host, or one port per host.
            let port = ports.get(i).or(ports.first()).copied().unwrap_or(5432);
            match host {
                postgres::config::Host::Tcp(name) if name.contains(':') => {
                    format!("[{name}]:{port}")
                }
                postgres::config::Host::Tcp(name) => format!("{name}:{port}"),
                postgres::config::Host::Unix(dir) => format!("{} (port {port})", dir.display()),
            }
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// The schema authd's tables go in: the first existing one of the
/// connection's `search_path`. None existing is refused here, with the
/// search path, rather than later as "3F000: no schema has been selected".
pub(super) fn current_schema(client: &mut postgres::Client) -> Result<String, StoreError> {
    let row = client
        .query_one(
            "SELECT current_schema(), current_setting('search_path'), current_database()",
            &[],
        )
        .map_err(db_error)?;
    let schema: Option<String> = row.try_get(0).map_err(db_error)?;
    let search_path: String = row.try_get(1).map_err(db_error)?;
    let database: String = row.try_get(2).map_err(db_error)?;
    schema.ok_or_else(|| {
        StoreError::Unavailable(DriverError::new(format!(
            "no schema of the search_path ({search_path}) exists in database {database}: create it (CREATE SCHEMA ...) or fix options=-csearch_path in the database URL"
        )))
    })
}
