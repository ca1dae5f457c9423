//! `authd user ...`: accounts from the shell, on the same store a running
//! server uses, through the same accounts service as the HTTP API: every
//! password set here passes the same policy, and setting one cuts off the
//! account's existing tokens.

use std::sync::Arc;

use clap::{Args, Subcommand};
use serde::Serialize;

use super::confirm::confirm;
use super::output::{self, OutputFormat};
use super::password_input::read_password;
use super::{database, CliError, Context};
use crate::accounts::{AccountError, Accounts, Registration};
use crate::audit::Audit;
use crate::auth::{HashingPool, PasswordHasher};
use crate::db::Db;
use crate::domain::{rfc3339, Email, FullName, Origin, User, UserId, UserRef, UserUpdate};
use crate::store::{Store, StoreError, UserQuery};

#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Create an account. The password comes from --password-stdin or a hidden prompt.
    Create {
        /// The account's email address (its login; compared without regard to case).
        #[arg(long, value_name = "EMAIL")]
        email: String,
        /// The account's display name.
        #[arg(long, value_name = "NAME", default_value = "")]
        full_name: String,
        /// Mark the account as staff.
        #[arg(long)]
        staff: bool,
        /// Mark the account as superuser.
        #[arg(long)]
        superuser: bool,
        /// Read the password from the first line of standard input.
        #[arg(long)]
        password_stdin: bool,
    },
    /// List accounts in id order.
    List {
        /// Only accounts whose email or full name contains this text (any case).
        #[arg(long, value_name = "TEXT")]
        search: Option<String>,
        /// At most this many accounts.
        #[arg(long, value_name = "N", default_value_t = 100, value_parser = clap::value_parser!(u32).range(1..=100_000))]
        limit: u32,
        /// Only accounts with a larger id: pass the last id of the previous
        /// page to read the next one (each page is an index range, however
        /// many accounts there are).
        #[arg(long, value_name = "ID")]
        after: Option<UserId>,
    },
    /// Show one account.
    Show(Target),
    /// Change an account's full name or flags.
    Update {
        #[command(flatten)]
        target: Target,
        /// The new display name ("" clears it).
        #[arg(long, value_name = "NAME")]
        full_name: Option<String>,
        #[command(flatten)]
        flags: FlagChanges,
    },
    /// Disable an account: it can no longer log in, and its sessions and tokens are revoked.
    Disable(Target),
    /// Enable a disabled account (its old tokens stay revoked).
    Enable(Target),
    /// Set a new password; every existing token of the account stops working.
    SetPassword {
        #[command(flatten)]
        target: Target,
        /// Read the password from the first line of standard input.
        #[arg(long)]
        password_stdin: bool,
    },
    /// Delete an account with its sessions and tokens.
    Delete {
        #[command(flatten)]
        target: Target,
        /// Do not ask for confirmation (required when stdin is not a terminal).
        #[arg(long)]
        yes: bool,
    },
}

#[derive(Debug, Args)]
pub struct Target {
    /// The account: its numeric id or its email.
    #[arg(value_name = "ID|EMAIL")]
    user: String,
}

#[derive(Debug, Args)]
pub struct FlagChanges {
    /// Mark the account as staff.
    #[arg(long, conflicts_with = "no_staff")]
    staff: bool,
    /// Take the staff mark away.
    #[arg(long)]
    no_staff: bool,
    /// Mark the account as superuser.
    #[arg(long, conflicts_with = "no_superuser")]
    superuser: bool,
    /// Take the superuser mark away.
    #[arg(long)]
    no_superuser: bool,
}

/// The stable JSON shape of an account (the API's user object plus
/// `is_superuser`).
#[derive(Serialize)]
struct UserJson<'a> {
    id: i64,
    email: &'a str,
    full_name: &'a str,
    is_active: bool,
    is_staff: bool,
    is_superuser: bool,
    date_joined: String,
    last_login: Option<String>,
}

impl<'a> From<&'a User> for UserJson<'a> {
    fn from(user: &'a User) -> UserJson<'a> {
        UserJson {
            id: user.id.get(),
            email: user.email.as_str(),
            full_name: user.full_name.as_str(),
            is_active: user.is_active,
            is_staff: user.is_staff,
            is_superuser: user.is_superuser,
            date_joined: rfc3339(&user.date_joined),
            last_login: user.last_login.as_ref().map(rfc3339),
        }
    }
}

pub fn run(command: UserCommand, context: &Context) -> Result<(), CliError> {
    let store = database::open_current(context)?;
    // One hashing worker: an admin command hashes at most one password.
    let hashing = HashingPool::new(PasswordHasher::from_config(&context.config)?, 1, 1)?;
    let audit = Audit::for_command(&context.config.audit, Arc::clone(&store));
    let accounts = Accounts::new(Db::new(store), hashing, None, audit);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(apply(command, context, &accounts))
}

async fn apply(
    command: UserCommand,
    context: &Context,
    accounts: &Accounts,
) -> Result<(), CliError> {
    let origin = Origin::cli();
    match command {
        UserCommand::Create {
            email,
            full_name,
            staff,
            superuser,
            password_stdin,
        } => {
            let email = Email::parse(&email)?;
            let registration = Registration {
                email: email.clone(),
                full_name: FullName::parse(&full_name)?,
                password: read_password(password_stdin)?,
                is_staff: staff,
                is_superuser: superuser,
            };
            let user = accounts
                .register(registration, &origin)
                .await
                .map_err(|e| match e {
                    AccountError::Store(StoreError::EmailTaken) => {
                        CliError::Failed(format!("a user with email {email} already exists"))
                    }
                    other => other.into(),
                })?;
            show(context.output, &user)
        }
        UserCommand::List {
            search,
            limit,
            after,
        } => {
            let users = accounts
                .list(UserQuery {
                    search,
                    limit,
                    after,
                })
                .await?;
            match context.output {
                OutputFormat::Json => {
                    output::print_json(&users.iter().map(UserJson::from).collect::<Vec<_>>())
                }
                OutputFormat::Table => {
                    let mut table = output::table(&[
                        "id",
                        "email",
                        "full name",
                        "active",
                        "staff",
                        "superuser",
                        "joined",
                        "last login",
                    ]);
                    for user in &users {
                        table.add_row([
                            user.id.to_string(),
                            user.email.to_string(),
                            user.full_name.as_str().to_string(),
                            yes_no(user.is_active),
                            yes_no(user.is_staff),
                            yes_no(user.is_superuser),
                            rfc3339(&user.date_joined),
                            user.last_login
                                .as_ref()
                                .map(rfc3339)
                                .unwrap_or_else(|| "never".into()),
                        ]);
                    }
                    output::print(table)
                }
            }
        }
        UserCommand::Show(target) => show(context.output, &find(accounts, &target).await?),
        UserCommand::Update {
            target,
            full_name,
            flags,
        } => {
            let update = UserUpdate {
                full_name: full_name.as_deref().map(FullName::parse).transpose()?,
                is_staff: choice(flags.staff, flags.no_staff),
                is_superuser: choice(flags.superuser, flags.no_superuser),
            };
            if update.full_name.is_none()
                && update.is_staff.is_none()
                && update.is_superuser.is_none()
            {
                return Err(CliError::Usage(
                    "nothing to change: give --full-name, --staff/--no-staff or --superuser/--no-superuser".into(),
                ));
            }
            let user = find(accounts, &target).await?;
            show(
                context.output,
                &accounts.update(user.id, update, &origin).await?,
            )
        }
        UserCommand::Disable(target) => {
            let user = find(accounts, &target).await?;
            show(
                context.output,
                &accounts.set_active(user.id, false, &origin).await?,
            )
        }
        UserCommand::Enable(target) => {
            let user = find(accounts, &target).await?;
            show(
                context.output,
                &accounts.set_active(user.id, true, &origin).await?,
            )
        }
        UserCommand::SetPassword {
            target,
            password_stdin,
        } => {
            let user = find(accounts, &target).await?;
            accounts
                .set_password(&user, read_password(password_stdin)?, &origin)
                .await?;
            show(context.output, &find(accounts, &target).await?)
        }
        UserCommand::Delete { target, yes } => {
            let user = find(accounts, &target).await?;
            if !yes {
                confirm(
                    &format!(
                        "Delete user {} <{}> with all their sessions and tokens?",
                        user.id, user.email
                    ),
                    "delete",
                    "not deleted",
                )?;
            }
            accounts.delete(&user, &origin).await?;
            match context.output {
                OutputFormat::Json => output::print_json(&UserJson::from(&user)),
                OutputFormat::Table => {
                    output::print(format!("Deleted user {} <{}>.", user.id, user.email))
                }
            }
        }
    }
}

async fn find(accounts: &Accounts, target: &Target) -> Result<User, CliError> {
    let user_ref = parse_user_ref(&target.user)?;
    accounts
        .find(user_ref.clone())
        .await?
        .ok_or_else(|| CliError::Failed(format!("no such user: {user_ref}")))
}

fn parse_user_ref(id_or_email: &str) -> Result<UserRef, CliError> {
    UserRef::parse(id_or_email)
        .map_err(|_| CliError::Usage(format!("{id_or_email:?} is neither a user id nor an email")))
}

/// The account an `ID|EMAIL` argument names.
pub(super) fn find_user(store: &dyn Store, id_or_email: &str) -> Result<User, CliError> {
    let user_ref = parse_user_ref(id_or_email)?;
    store
        .find_user(&user_ref)?
        .ok_or_else(|| CliError::Failed(format!("no such user: {user_ref}")))
}

fn show(format: OutputFormat, user: &User) -> Result<(), CliError> {
    match format {
        OutputFormat::Json => output::print_json(&UserJson::from(user)),
        OutputFormat::Table => output::print(output::record(&[
            ("id", user.id.to_string()),
            ("email", user.email.to_string()),
            ("full name", user.full_name.as_str().to_string()),
            ("active", yes_no(user.is_active)),
            ("staff", yes_no(user.is_staff)),
            ("superuser", yes_no(user.is_superuser)),
            ("joined", rfc3339(&user.date_joined)),
            (
                "last login",
                user.last_login
                    .as_ref()
                    .map(rfc3339)
                    .unwrap_or_else(|| "never".into()),
            ),
        ])),
    }
}

fn yes_no(value: bool) -> String {
    if value { "yes" } else { "no" }.to_string()
}

fn choice(on: bool, off: bool) -> Option<bool> {
    match (on, off) {
        (true, _) => Some(true),
        (_, true) => Some(false),
        _ => None,
    }
}
