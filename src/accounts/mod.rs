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
//!   `jwt.revocation_cache_ttl`), so no edge has to remember to.

mod error;

pub use error::AccountError;

use crate::auth::{AccessCache, HashingPool};
use crate::db::Db;
use crate::domain::PasswordHash;
use crate::domain::{
    self, Email, FullName, NewPassword, NewUser, Password, User, UserId, UserRef, UserUpdate,
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
}

impl Accounts {
    pub fn new(db: Db, hashing: HashingPool, access: Option<AccessCache>) -> Accounts {
        Accounts {
            db,
            hashing,
            access,
        }
    }

    /// Creates an account; `StoreError::EmailTaken` when the email is in use.
    pub async fn register(&self, registration: Registration) -> Result<User, AccountError> {
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
        Ok(self.db.call(move |s| s.create_user(&new_user)).await?)
    }

    pub async fn find(&self, user: UserRef) -> Result<Option<User>, AccountError> {
        Ok(self.db.call(move |s| s.find_user(&user)).await?)
    }

    pub async fn list(&self, query: UserQuery) -> Result<Vec<User>, AccountError> {
        Ok(self.db.call(move |s| s.list_users(&query)).await?)
    }

    /// Changes the profile fields `update` names.
    pub async fn update(&self, id: UserId, update: UserUpdate) -> Result<User, AccountError> {
        let user = self.db.call(move |s| s.update_user(id, &update)).await?;
        self.forget(id);
        Ok(user)
    }

    /// Disables (every token cut off) or enables an account.
    pub async fn set_active(&self, id: UserId, active: bool) -> Result<User, AccountError> {
        let user = self
            .db
            .call(move |s| s.set_active(id, active, domain::now()))
            .await?;
        self.forget(id);
        Ok(user)
    }

    pub async fn delete(&self, id: UserId) -> Result<(), AccountError> {
        self.db.call(move |s| s.delete_user(id)).await?;
        self.forget(id);
        Ok(())
    }

    /// An admin sets a password: every token of the account stops working.
    pub async fn set_password(&self, user: &User, password: Password) -> Result<(), AccountError> {
        let hash = self.new_password_hash_for(user, password).await?;
        self.store_password(user.id, hash, revoked_reason::ADMIN_PASSWORD_SET)
            .await
    }

    /// The owner changes their password with the old one: every token of
    /// the account stops working (the caller starts a new session).
    pub async fn change_password(
        &self,
        user: &User,
        old: Password,
        new: Password,
    ) -> Result<(), AccountError> {
        let email = user.email.clone();
        let stored = self
            .db
            .call(move |s| s.find_credentials(&email))
            .await?
            .map(|(_, hash)| hash);
        if !self.hashing.verify(old, stored).await?.matched {
            return Err(AccountError::WrongOldPassword);
        }
        let hash = self.new_password_hash_for(user, new).await?;
        self.store_password(user.id, hash, revoked_reason::PASSWORD_CHANGE)
            .await
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
        let registration = |password: &str| Registration {
            email: Email::parse("grace.hopper@example.com").unwrap(),
            full_name: FullName::parse("Grace Hopper").unwrap(),
            password: Password::new(password),
            is_staff: false,
            is_superuser: false,
        };
        let messages = rejected(accounts.register(registration("12345678")).await);
        assert!(messages.contains(&"This password is entirely numeric.".to_string()));
        let user = accounts
            .register(registration("correct horse battery staple"))
            .await
            .unwrap();

        let similar = rejected(
            accounts
                .set_password(&user, Password::new("grace.hopper"))
                .await,
        );
        assert_eq!(similar, ["The password is too similar to the full name."]);
        rejected(
            accounts
                .change_password(
                    &user,
                    Password::new("correct horse battery staple"),
                    Password::new("password"),
                )
                .await,
        );
        assert!(matches!(
            accounts
                .change_password(
                    &user,
                    Password::new("not the password"),
                    Password::new("a much better passphrase"),
                )
                .await,
            Err(AccountError::WrongOldPassword)
        ));
        accounts
            .change_password(
                &user,
                Password::new("correct horse battery staple"),
                Password::new("a much better passphrase"),
            )
            .await
            .unwrap();
    }
}
