//! Pooled Postgres connections that keep their prepared statements.
//!
//! Given SQL text, the driver prepares it anew on every call: a
//! Parse/Describe round trip before the query's own. The statements of the
//! hot paths (the access check, a refresh rotation, a login, a session
//! start) are instead prepared once per connection with
//! [`PgConnection::prepared`] and reused for the connection's life. The
//! cache holds only `&'static str` SQL, so it is bounded by the number of
//! such constants in the code.

use std::collections::HashMap;
use std::ops::{Deref, DerefMut};

use postgres::{Client, NoTls, Statement};
use r2d2::ManageConnection;
use r2d2_postgres::PostgresConnectionManager;

/// r2d2's manager for [`PgConnection`]s: connecting and health checks are
/// r2d2_postgres's, only the statement cache is added.
#[derive(Debug)]
pub struct Manager(PostgresConnectionManager<NoTls>);

impl Manager {
    pub fn new(config: postgres::Config) -> Manager {
        Manager(PostgresConnectionManager::new(config, NoTls))
    }
}

/// A client and the statements prepared on it so far.
pub struct PgConnection {
    client: Client,
    statements: HashMap<&'static str, Statement>,
}

impl PgConnection {
    /// `sql` prepared on this connection (the first call prepares it).
    pub fn prepared(&mut self, sql: &'static str) -> Result<Statement, postgres::Error> {
        if let Some(statement) = self.statements.get(sql) {
            return Ok(statement.clone());
        }
        let statement = self.client.prepare(sql)?;
        self.statements.insert(sql, statement.clone());
        Ok(statement)
    }
}

impl Deref for PgConnection {
    type Target = Client;
    fn deref(&self) -> &Client {
        &self.client
    }
}

impl DerefMut for PgConnection {
    fn deref_mut(&mut self) -> &mut Client {
        &mut self.client
    }
}

impl ManageConnection for Manager {
    type Connection = PgConnection;
    type Error = postgres::Error;

    fn connect(&self) -> Result<PgConnection, postgres::Error> {
        Ok(PgConnection {
            client: self.0.connect()?,
            statements: HashMap::new(),
        })
    }

    fn is_valid(&self, connection: &mut PgConnection) -> Result<(), postgres::Error> {
        self.0.is_valid(&mut connection.client)
    }

    fn has_broken(&self, connection: &mut PgConnection) -> bool {
        self.0.has_broken(&mut connection.client)
    }
}
