//! The accounts service: every change to an account, for the HTTP handlers
//! and the admin commands alike: register, update the profile, set a
//! password (admin), change it (the owner, with the old one), disable,
//! enable, delete. Each rule of such a change lives here once:
//!
//! - every way a password changes (registration, change, admin set, reset
//!   confirm via `reset`) goes through [`Accounts::new_password_hash`],
//!   the one place the password policy is applied and the hash is made;
//! - after a change is committed, this instance forgets what it remembered
//!   of the user's access checks (other instances within
//!   `jwt.revocation_cache_ttl`), so no edge has to remember to;
//! - every change is recorded in the audit log here, with the [`Origin`]
//!   the edge passed (the API's client and request id, or the command's OS
//!   user), so an edge cannot change an account without a record.

mod error;

pub use error::AccountError;

use crate::audit::Audit;
use crate::auth::{AccessCache, HashingPool};
use crate::db::Db;
use crate::domain::PasswordHash;
use crate::domain::{
    self, AuditEvent, Email, EventType, FullName, NewPassword, NewUser, Origin, Password, User,
    UserId, UserRef, UserUpdate,
};
use crate::store::{revoked_reason, UserQuery};

/// Who an account is created for, as the edge parsed it.
#[derive(Debug)]
pub struct Registration {
    pub email: Email,
    pub full_name: FullName,
    /// Checked against the policy by [`Accounts::register`].
    pub password: Password,
    pub is_staff: bool,
    pub is_superuser: bool,
}

#[derive(Clone)]
pub struct Accounts {
    db: Db,
    hashing: HashingPool,
    /// This instance's access checks (a server's); `None` for the CLI,
    /// which has none to forget.
    access: Option<AccessCache>,
    audit: Audit,
}

impl Accounts {
    pub fn new(
        db: Db,
        hashing: HashingPool,
        access: Option<AccessCache>,
        audit: Audit,
    ) -> Accounts {
        Accounts {
            db,
            hashing,
            access,
            audit,
        }
    }

    /// Creates an account; `StoreError::EmailTaken` when the email is in use.
    /// Recorded as `register` from the API, `user_created` from a command.
    pub async fn register(
        &self,
        registration: Registration,
        origin: &Origin,
    ) -> Result<User, AccountError> {
        let password_hash = self
            .new_password_hash(
                registration.password,
                &registration.email,
                &registration.full_name,
            )
            .await?;
        let new_user = NewUser {
            email: registration.email,
            full_name: registration.full_name,
            password_hash,
            is_staff: registration.is_staff,
            is_superuser: registration.is_superuser,
            date_joined: domain::now(),
        };
        let user = self.db.call(move |s| s.create_user(&new_user)).await?;
        let kind = if origin.is_cli() {
            EventType::UserCreated
        } else {
            EventType::Register
        };
        self.audit
            .record(AuditEvent::success(kind, origin).user(&user));
        Ok(user)
    }

    pub async fn find(&self, user: UserRef) -> Result<Option<User>, AccountError> {
        Ok(self.db.call(move |s| s.find_user(&user)).await?)
    }

    pub async fn list(&self, query: UserQuery) -> Result<Vec<User>, AccountError> {
        Ok(self.db.call(move |s| s.list_users(&query)).await?)
    }

    /// Changes the profile fields `update` names (the event's detail
    /// lists them).
    pub async fn update(
        &self,
        id: UserId,
        update: UserUpdate,
        origin: &Origin,
    ) -> Result<User, AccountError> {
        let changed = changed_fields(&update);
        let user = self.db.call(move |s| s.update_user(id, &update)).await?;
        self.forget(id);
        let event = AuditEvent::success(EventType::UserUpdated, origin).user(&user);
        self.audit.record(event.detail(changed));
        Ok(user)
    }

    /// Disables (every token cut off) or enables an account.
    pub async fn set_active(
        &self,
        id: UserId,
        active: bool,
        origin: &Origin,
    ) -> Result<User, AccountError> {
        let user = self
            .db
            .call(move |s| s.set_active(id, active, domain::now()))
            .await?;
        self.forget(id);
        let kind = if active {
            EventType::UserEnabled
        } else {
            EventType::UserDisabled
        };
        self.audit
            .record(AuditEvent::success(kind, origin).user(&user));
        Ok(user)
    }

    pub async fn delete(&self, user: &User, origin: &Origin) -> Result<(), AccountError> {
        let id = user.id;
        self.db.call(move |s| s.delete_user(id)).await?;
        self.forget(id);
        self.audit
            .record(AuditEvent::success(EventType::UserDeleted, origin).user(user));
        Ok(())
    }

    /// An admin sets a password: every token of the account stops working.
    pub async fn set_password(
        &self,
        user: &User,
        password: Password,
        origin: &Origin,
    ) -> Result<(), AccountError> {
        let hash = self.new_password_hash_for(user, password).await?;
        self.store_password(user.id, hash, revoked_reason::ADMIN_PASSWORD_SET)
            .await?;
        self.audit
            .record(AuditEvent::success(EventType::PasswordSet, origin).user(user));
        Ok(())
    }

    /// The owner changes their password with the old one: every token of
    /// the account stops working (the caller starts a new session).
    pub async fn change_password(
        &self,
        user: &User,
        old: Password,
        new: Password,
        origin: &Origin,
    ) -> Result<(), AccountError> {
        let email = user.email.clone();
        let stored = self
            .db
            .call(move |s| s.find_credentials(&email))
            .await?
            .map(|(_, hash)| hash);
        if !self.hashing.verify(old, stored).await?.matched {
            self.audit.record(
                AuditEvent::failure(EventType::PasswordChanged, "wrong_old_password", origin)
                    .user(user),
            );
            return Err(AccountError::WrongOldPassword);
        }
        let hash = self.new_password_hash_for(user, new).await?;
        self.store_password(user.id, hash, revoked_reason::PASSWORD_CHANGE)
            .await?;
        self.audit
            .record(AuditEvent::success(EventType::PasswordChanged, origin).user(user));
        Ok(())
    }

    /// The hash of `password` for the account `user`, once it passes the
    /// policy (see [`Accounts::new_password_hash`]).
    pub async fn new_password_hash_for(
        &self,
        user: &User,
        password: Password,
    ) -> Result<PasswordHash, AccountError> {
        self.new_password_hash(password, &user.email, &user.full_name)
            .await
    }

    /// Every new password of every account passes here: the password
    /// policy (which needs the email and name, to refuse passwords too
    /// similar to them), then the hash, on the bounded hashing pool.
    pub async fn new_password_hash(
        &self,
        password: Password,
        email: &Email,
        full_name: &FullName,
    ) -> Result<PasswordHash, AccountError> {
        let password = NewPassword::parse(password, email, full_name)
            .map_err(AccountError::PasswordRejected)?;
        Ok(self.hashing.hash(password).await?)
    }

    async fn store_password(
        &self,
        id: UserId,
        hash: PasswordHash,
        reason: &'static str,
    ) -> Result<(), AccountError> {
        self.db
            .call(move |s| s.set_password(id, &hash, domain::now(), reason))
            .await?;
        self.forget(id);
        Ok(())
    }

    /// After a committed change to `user` (here or through another service,
    /// such as a reset confirm): this instance asks the store again.
    pub(crate) fn forget(&self, user: UserId) {
        if let Some(access) = &self.access {
            access.forget_user(user);
        }
    }
}

/// The fields an update sets, for its audit event (names, never values).
fn changed_fields(update: &UserUpdate) -> String {
    [
        ("full_name", update.full_name.is_some()),
        ("is_staff", update.is_staff.is_some()),
        ("is_superuser", update.is_superuser.is_some()),
    ]
    .into_iter()
    .filter(|(_, set)| *set)
    .map(|(name, _)| name)
    .collect::<Vec<_>>()
    .join(",")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::PasswordHasher;
    use crate::config::{Config, ConnectionUrl};
    use crate::domain::HashParams;

    fn accounts(dir: &std::path::Path) -> Accounts {
        let mut config = Config::default();
        config.database.url =
            ConnectionUrl::new(format!("sqlite://{}", dir.join("authd.db").display()));
        let store = crate::store::open(&config).unwrap();
        crate::store::migrate::migrate_up(store.as_ref()).unwrap();
        let hasher = PasswordHasher::new(HashParams {
            memory_kib: 1024,
            iterations: 1,
            parallelism: 1,
        })
        .unwrap();
        Accounts::new(
            Db::new(store),
            HashingPool::new(hasher, 1, 4).unwrap(),
            None,
            Audit::log_only(),
        )
    }

    fn rejected(result: Result<impl std::fmt::Debug, AccountError>) -> Vec<String> {
        match result {
            Err(AccountError::PasswordRejected(rejected)) => rejected.messages,
            other => panic!("expected the policy to refuse, got {other:?}"),
        }
    }

    /// Registration, an admin's set, the owner's change: one policy, with
    /// the account's own email and name to compare against.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn every_way_a_password_changes_applies_the_policy() {
        let dir = tempfile::tempdir().unwrap();
        let accounts = accounts(dir.path());
        let origin = Origin::cli();
        let registration = |password: &str| Registration {
            email: Email::parse("grace.hopper@example.com").unwrap(),
            full_name: FullName::parse("Grace Hopper").unwrap(),
            password: Password::new(password),
            is_staff: false,
            is_superuser: false,
        };
        let messages = rejected(accounts.register(registration("12345678"), &origin).await);
        assert!(messages.contains(&"This password is entirely numeric.".to_string()));
        let user = accounts
            .register(registration("correct horse battery staple"), &origin)
            .await
            .unwrap();

        let similar = rejected(
            accounts
                .set_password(&user, Password::new("grace.hopper"), &origin)
                .await,
        );
        assert_eq!(similar, ["The password is too similar to the full name."]);
        rejected(
            accounts
                .change_password(
                    &user,
                    Password::new("correct horse battery staple"),
                    Password::new("password"),
                    &origin,
                )
                .await,
        );
        assert!(matches!(
            accounts
                .change_password(
                    &user,
                    Password::new("not the password"),
                    Password::new("a much better passphrase"),
                    &origin,
                )
                .await,
            Err(AccountError::WrongOldPassword)
        ));
        accounts
            .change_password(
                &user,
                Password::new("correct horse battery staple"),
                Password::new("a much better passphrase"),
                &origin,
            )
            .await
            .unwrap();
    }
}
