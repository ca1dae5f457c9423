//! How an error and its causes read on one line: `outer: cause: root cause`.
//!
//! Errors keep what lies beneath them as their `source` (a store failure
//! holds the driver's account of it) instead of pasting it into their own
//! message; [`Chain`] is the one place that walks the sources, for the log
//! lines that report failures and for the CLI's error line.

use std::error::Error;
use std::fmt;

/// Displays an error followed by each of its sources, `: `-separated. A
/// cause whose words the line already holds is skipped: some drivers
/// (tokio-postgres, hyper) print their cause in their own message and
/// return it as the source as well.
pub struct Chain<'a>(pub &'a (dyn Error + 'static));

impl fmt::Display for Chain<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut line = self.0.to_string();
        let mut source = self.0.source();
        while let Some(cause) = source {
            let words = cause.to_string();
            if !line.contains(&words) {
                line.push_str(": ");
                line.push_str(&words);
            }
            source = cause.source();
        }
        f.write_str(&line)
    }
}

#[cfg(test)]
mod tests {
    use super::Chain;
    use crate::store::{DriverError, StoreError};
    use std::error::Error;

    #[test]
    fn a_store_failure_reads_with_what_the_driver_said() {
        let error = StoreError::Unavailable(DriverError::new("connection refused"));
        assert!(error.source().is_some());
        assert_eq!(
            Chain(&error).to_string(),
            "database unavailable: connection refused"
        );
    }

    #[test]
    fn a_cause_the_message_already_quotes_is_not_repeated() {
        let io = std::io::Error::other("Connection refused");
        #[derive(Debug, thiserror::Error)]
        #[error("error connecting to server: {0}")]
        struct Quoting(#[source] std::io::Error);
        assert_eq!(
            Chain(&Quoting(io)).to_string(),
            "error connecting to server: Connection refused"
        );
    }

    #[test]
    fn wrappers_that_are_transparent_add_no_words() {
        let error = crate::accounts::AccountError::Store(StoreError::Database(DriverError::new(
            "23514: new row violates check constraint",
        )));
        assert_eq!(
            Chain(&error).to_string(),
            "database error: 23514: new row violates check constraint"
        );
    }
}
