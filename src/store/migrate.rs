//! Schema migrations: the embedded scripts, and the rules that decide what
//! to run.
//!
//! Each backend applies one step at a time inside one exclusive transaction
//! (SQLite `BEGIN IMMEDIATE`, a Postgres advisory lock): it reads the
//! applied versions, asks [`next_up`] or [`next_down`] what to do, runs the
//! script and records it, and commits. So two processes migrating at once
//! never run a script twice, and a failed script leaves nothing behind.
//! Applied migrations are recorded with the sha256 of their up script; a
//! database whose applied scripts differ from the embedded ones, or that has
//! versions this binary does not know (it is newer), is refused.

use sha2::{Digest, Sha256};

use super::{Store, StoreError};
use crate::domain::Timestamp;

/// One embedded migration.
#[derive(Debug)]
pub struct Migration {
    pub version: u32,
    pub name: &'static str,
    pub up: &'static str,
    pub down: &'static str,
}

include!(concat!(env!("OUT_DIR"), "/migrations.rs"));

impl Migration {
    /// sha256 of the up script, hex.
    pub fn checksum(&self) -> String {
        hex::encode(Sha256::digest(self.up.as_bytes()))
    }

    /// `0001_initial`.
    pub fn label(&self) -> String {
        format!("{:04}_{}", self.version, self.name)
    }
}

/// A row of the schema-migrations table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppliedMigration {
    pub version: u32,
    pub name: String,
    pub checksum: String,
    pub applied_at: Timestamp,
}

/// What one exclusive transaction does.
#[derive(Debug, Clone, Copy)]
pub enum Step {
    Apply(&'static Migration),
    Revert(&'static Migration),
}

impl Step {
    pub fn migration(&self) -> &'static Migration {
        match self {
            Step::Apply(m) | Step::Revert(m) => m,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MigrationError {
    #[error("migration {label} was changed after it was applied (its checksum differs); restore the original script")]
    Modified { label: String },
    #[error("the database has migration {version} applied, which this authd does not know: the database is newer than this binary (it knows versions up to {latest})")]
    Unknown { version: u32, latest: u32 },
    #[error("the database schema is at version {current}, this authd needs version {latest}: run `authd migrate`")]
    Pending { current: u32, latest: u32 },
    #[error("cannot migrate down to version {target}: the database is at version {current}")]
    BadTarget { target: u32, current: u32 },
    #[error("migration {label} failed: {message}")]
    Failed { label: String, message: String },
}

/// The state of one version, for `authd migrate status`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MigrationState {
    pub version: u32,
    pub name: String,
    pub applied_at: Option<Timestamp>,
    pub state: &'static str,
}

/// Refuses applied migrations that were modified or are unknown.
pub fn check(
    applied: &[AppliedMigration],
    known: &'static [Migration],
) -> Result<(), MigrationError> {
    let latest = known.last().map_or(0, |m| m.version);
    for row in applied {
        match known.iter().find(|m| m.version == row.version) {
            None => {
                return Err(MigrationError::Unknown {
                    version: row.version,
                    latest,
                })
            }
            Some(m) if m.checksum() != row.checksum => {
                return Err(MigrationError::Modified { label: m.label() })
            }
            Some(_) => {}
        }
    }
    Ok(())
}

/// The next migration to apply, if any.
pub fn next_up(
    applied: &[AppliedMigration],
    known: &'static [Migration],
) -> Result<Option<Step>, MigrationError> {
    check(applied, known)?;
    Ok(known
        .iter()
        .find(|m| !applied.iter().any(|a| a.version == m.version))
        .map(Step::Apply))
}

/// The next migration to revert on the way down to `target`, if any.
pub fn next_down(
    applied: &[AppliedMigration],
    known: &'static [Migration],
    target: u32,
) -> Result<Option<Step>, MigrationError> {
    check(applied, known)?;
    let current = applied.iter().map(|a| a.version).max().unwrap_or(0);
    if target > current {
        return Err(MigrationError::BadTarget { target, current });
    }
    Ok(known
        .iter()
        .rev()
        .find(|m| m.version > target && applied.iter().any(|a| a.version == m.version))
        .map(Step::Revert))
}

/// Every known and every applied version with its state.
pub fn status(applied: &[AppliedMigration], known: &'static [Migration]) -> Vec<MigrationState> {
    let mut states: Vec<MigrationState> = known
        .iter()
        .map(|m| {
            let row = applied.iter().find(|a| a.version == m.version);
            MigrationState {
                version: m.version,
                name: m.name.to_string(),
                applied_at: row.map(|r| r.applied_at),
                state: match row {
                    None => "pending",
                    Some(r) if r.checksum != m.checksum() => "modified",
                    Some(_) => "applied",
                },
            }
        })
        .collect();
    for row in applied
        .iter()
        .filter(|a| !known.iter().any(|m| m.version == a.version))
    {
        states.push(MigrationState {
            version: row.version,
            name: row.name.clone(),
            applied_at: Some(row.applied_at),
            state: "unknown (newer than this binary)",
        });
    }
    states
}

/// Applies every pending migration; returns what ran.
pub fn migrate_up(store: &dyn Store) -> Result<Vec<&'static Migration>, StoreError> {
    let known = store.migrations();
    let mut done = Vec::new();
    while let Some(step) = store.migration_step(&mut |applied| next_up(applied, known))? {
        done.push(step.migration());
    }
    rekey_emails(store)?;
    Ok(done)
}

/// Rewrites email keys that still hold a non-ASCII domain (written before
/// keys took the IDNA form, migration 0004) into the current form. A key
/// another account already holds is left as it is and logged: two accounts
/// for one mailbox are for an admin to resolve, not for a migration to merge.
fn rekey_emails(store: &dyn Store) -> Result<(), StoreError> {
    let mut after = 0;
    loop {
        let batch = store.non_ascii_email_keys(after, 500)?;
        let Some((last, _)) = batch.last() else {
            return Ok(());
        };
        after = last.get();
        for (id, email) in batch {
            let Ok(email) = crate::domain::Email::parse(&email) else {
                continue;
            };
            let key = email.lowered();
            if !store.set_email_key(id, &key)? {
                tracing::warn!(user_id = %id, "an email key was left in its old form: another account has the same email in IDNA form");
            }
        }
    }
}

/// Reverts applied migrations above `target`, newest first; returns what ran.
pub fn migrate_down(store: &dyn Store, target: u32) -> Result<Vec<&'static Migration>, StoreError> {
    let known = store.migrations();
    let mut done = Vec::new();
    while let Some(step) = store.migration_step(&mut |applied| next_down(applied, known, target))? {
        done.push(step.migration());
    }
    Ok(done)
}

/// Succeeds when the schema is exactly what this binary expects.
pub fn ensure_current(store: &dyn Store) -> Result<(), StoreError> {
    let known = store.migrations();
    let applied = store.applied_migrations()?;
    check(&applied, known)?;
    let latest = known.last().map_or(0, |m| m.version);
    let current = applied.iter().map(|a| a.version).max().unwrap_or(0);
    if applied.len() < known.len() {
        return Err(MigrationError::Pending { current, latest }.into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn applied(m: &Migration) -> AppliedMigration {
        AppliedMigration {
            version: m.version,
            name: m.name.into(),
            checksum: m.checksum(),
            applied_at: crate::domain::now(),
        }
    }

    #[test]
    fn both_backends_embed_the_same_versions() {
        let versions =
            |list: &[Migration]| list.iter().map(|m| (m.version, m.name)).collect::<Vec<_>>();
        assert_eq!(versions(SQLITE), versions(POSTGRES));
        assert!(!SQLITE.is_empty());
    }

    #[test]
    fn plans_up_and_down_in_order() {
        let first = next_up(&[], SQLITE).unwrap().unwrap();
        assert_eq!(first.migration().version, 1);
        let all: Vec<_> = SQLITE.iter().map(applied).collect();
        assert!(next_up(&all, SQLITE).unwrap().is_none());
        let down = next_down(&all, SQLITE, 0).unwrap().unwrap();
        assert_eq!(down.migration().version, SQLITE.last().unwrap().version);
        assert!(next_down(&[], SQLITE, 0).unwrap().is_none());
        assert!(matches!(
            next_down(&[], SQLITE, 1),
            Err(MigrationError::BadTarget { .. })
        ));
    }

    #[test]
    fn refuses_modified_and_unknown_migrations() {
        let mut row = applied(&SQLITE[0]);
        row.checksum = "0".repeat(64);
        assert!(matches!(
            next_up(&[row.clone()], SQLITE),
            Err(MigrationError::Modified { .. })
        ));
        assert_eq!(status(&[row], SQLITE)[0].state, "modified");
        let mut future = applied(&SQLITE[0]);
        future.version = 9999;
        assert!(matches!(
            check(&[future], SQLITE),
            Err(MigrationError::Unknown { version: 9999, .. })
        ));
    }
}
