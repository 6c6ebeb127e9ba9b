//! Administrator accounts and roles, for operators (`auth-service admin create|grant|revoke`):
//! unattended, straight on the database, with the same validation and password hashing as
//! registration.
//!
//! [`create`] makes a new account with the admin role, or gives the role to the account that
//! already has the e-mail address (its password stays as it is). A new account is announced
//! with `user.registered` through the outbox like a registered one, so notification-service
//! can reach the administrator too. [`grant`] gives an existing account a role (`conductor`,
//! `admin`), [`revoke`] takes one back; unlike `PUT /api/auth/users/{id}/roles`, the command
//! may take the admin role from the last admin (the operator can always make another). A
//! role change shows in the tokens issued from then on (login, refresh); access tokens
//! already issued keep their roles until they expire.

use crate::domain::{Email, Password, PersonName, Phone};
use crate::password::hash_now;
use anyhow::Context;
use secrecy::SecretString;
use servicekit::amqp::Envelope;
use servicekit::auth::{Role, Roles};
use servicekit::db::{DbError, PgPool};
use servicekit::events::{self, UserRegistered};
use servicekit::outbox;
use std::fmt;
use uuid::Uuid;

/// What the operator asked for.
pub struct NewAdmin {
    pub email: String,
    /// Needed only when no account has the e-mail address.
    pub password: Option<SecretString>,
    pub name: String,
    /// A new account's phone (each account has its own); without one the account signs in
    /// by e-mail and password only.
    pub phone: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    /// The operator's input: a value registration would refuse, or what creating needs.
    #[error("{0}")]
    Invalid(String),
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

/// What a command did, in the words it prints.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    Created { id: Uuid, email: String },
    Promoted { id: Uuid, email: String },
    AlreadyAdmin { id: Uuid, email: String },
    Granted { id: Uuid, email: String, role: Role },
    AlreadyHeld { id: Uuid, email: String, role: Role },
    Revoked { id: Uuid, email: String, role: Role },
    NotHeld { id: Uuid, email: String, role: Role },
}

/// "an admin", "a conductor", "a passenger".
fn a(role: Role) -> String {
    match role {
        Role::Admin => format!("an {role}"),
        Role::Conductor | Role::Passenger => format!("a {role}"),
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Created { id, email } => write!(f, "created the admin account {email} ({id})"),
            Self::Promoted { id, email } => write!(
                f,
                "{email} ({id}) already had an account: it is an admin now, its password is unchanged"
            ),
            Self::AlreadyAdmin { id, email } => write!(
                f,
                "{email} ({id}) is already an admin: nothing changed, its password is unchanged"
            ),
            Self::Granted { id, email, role } => write!(
                f,
                "{email} ({id}) is {} now (from its next sign-in or token refresh)",
                a(*role)
            ),
            Self::AlreadyHeld { id, email, role } => {
                write!(f, "{email} ({id}) is already {}: nothing changed", a(*role))
            }
            Self::Revoked { id, email, role } => write!(
                f,
                "{email} ({id}) is no longer {} (tokens issued before keep the role until they expire)",
                a(*role)
            ),
            Self::NotHeld { id, email, role } => {
                write!(f, "{email} ({id}) is not {}: nothing changed", a(*role))
            }
        }
    }
}

fn invalid(field: &str) -> impl Fn(String) -> AdminError + '_ {
    move |message| AdminError::Invalid(format!("--{field}: {message}"))
}

/// Gives the admin role to the account with `new.email`, creating the account when there
/// is none.
#[tracing::instrument(skip_all)]
pub async fn create(pool: &PgPool, new: NewAdmin) -> Result<Outcome, AdminError> {
    let email = Email::parse(&new.email).map_err(invalid("email"))?;
    let password = new
        .password
        .map(Password::parse)
        .transpose()
        .map_err(invalid("password"))?;
    let name = PersonName::parse(&new.name).map_err(invalid("name"))?;
    let phone = new
        .phone
        .as_deref()
        .map(Phone::parse)
        .transpose()
        .map_err(invalid("phone"))?;

    let mut client = pool.get().await.context("connecting to the database")?;
    let tx = client
        .transaction()
        .await
        .context("starting a transaction")?;
    let existing = locked(&tx, &email).await?;
    let email_text = email.as_str().to_owned();
    if let Some((id, roles)) = existing {
        if roles.contains(Role::Admin) {
            return Ok(Outcome::AlreadyAdmin {
                id,
                email: email_text,
            });
        }
        store_roles(&tx, id, roles.with(Role::Admin)).await?;
        tx.commit().await.context("committing")?;
        tracing::info!(user = %id, "promoted to admin");
        return Ok(Outcome::Promoted {
            id,
            email: email_text,
        });
    }

    let missing = |option: &str| {
        AdminError::Invalid(format!(
            "no account has the e-mail address {email_text}: --{option} is needed to create one"
        ))
    };
    let password = password.ok_or_else(|| missing("password"))?;
    let secret = password.secret().clone();
    let hash = tokio::task::spawn_blocking(move || hash_now(&secret))
        .await
        .context("hashing the password")??;
    let id = Uuid::now_v7();
    tx.execute(
        "INSERT INTO users (id, name, email, phone, password_hash, roles) \
         VALUES ($1, $2, $3, $4, $5, ARRAY['admin'])",
        &[
            &id,
            &name.as_str(),
            &email.as_str(),
            &phone.as_ref().map(Phone::as_str),
            &hash,
        ],
    )
    .await
    .map_err(|e| {
        let e = DbError::from(e);
        if e.is_unique_violation("users_phone_key") {
            AdminError::Invalid(format!(
                "--phone: another account has the phone number {}",
                phone.as_ref().map_or("", Phone::as_str)
            ))
        } else if e.is_unique_violation("users_email_key") {
            AdminError::Invalid(format!(
                "an account with the e-mail address {email_text} was registered meanwhile: run the command again"
            ))
        } else {
            AdminError::Unexpected(anyhow::Error::new(e).context("creating the account"))
        }
    })?;
    let event = Envelope::new(
        events::USER_REGISTERED,
        &UserRegistered {
            user_id: id,
            name: name.as_str().to_owned(),
            email: email_text.clone(),
            phone: phone.as_ref().map_or("", Phone::as_str).to_owned(),
        },
    )
    .context("encoding user.registered")?;
    outbox::enqueue(&tx, &event, None)
        .await
        .context("writing user.registered to the outbox")?;
    tx.commit().await.context("committing")?;
    tracing::info!(user = %id, "admin account created");
    Ok(Outcome::Created {
        id,
        email: email_text,
    })
}

/// The account with `email`, locked for the transaction, and its roles.
async fn locked(
    tx: &tokio_postgres::Transaction<'_>,
    email: &Email,
) -> Result<Option<(Uuid, Roles)>, AdminError> {
    let row = tx
        .query_opt(
            "SELECT id, roles FROM users WHERE email = $1 FOR UPDATE",
            &[&email.as_str()],
        )
        .await
        .context("looking the account up")?;
    Ok(row.map(|row| (row.get(0), crate::users::stored_roles(&row, 1))))
}

async fn store_roles(
    tx: &tokio_postgres::Transaction<'_>,
    id: Uuid,
    roles: Roles,
) -> Result<(), AdminError> {
    tx.execute(
        "UPDATE users SET roles = $2 WHERE id = $1",
        &[&id, &roles.granted()],
    )
    .await
    .context("storing the roles")?;
    Ok(())
}

/// Gives `role` to the account with `email` (`true`) or takes it back (`false`).
async fn change(pool: &PgPool, email: &str, role: Role, give: bool) -> Result<Outcome, AdminError> {
    let email = Email::parse(email).map_err(invalid("email"))?;
    if role == Role::Passenger {
        return Err(AdminError::Invalid(
            "--role: every account is a passenger; the role cannot be given or taken".into(),
        ));
    }
    let mut client = pool.get().await.context("connecting to the database")?;
    let tx = client
        .transaction()
        .await
        .context("starting a transaction")?;
    let (id, roles) = locked(&tx, &email).await?.ok_or_else(|| {
        AdminError::Invalid(format!(
            "no account has the e-mail address {}",
            email.as_str()
        ))
    })?;
    let email = email.as_str().to_owned();
    if roles.contains(role) == give {
        return Ok(if give {
            Outcome::AlreadyHeld { id, email, role }
        } else {
            Outcome::NotHeld { id, email, role }
        });
    }
    let after = if give {
        roles.with(role)
    } else {
        roles.without(role)
    };
    store_roles(&tx, id, after).await?;
    tx.commit().await.context("committing")?;
    tracing::info!(user = %id, %role, give, "role changed");
    Ok(if give {
        Outcome::Granted { id, email, role }
    } else {
        Outcome::Revoked { id, email, role }
    })
}

/// Gives `role` to the existing account with `email`.
#[tracing::instrument(skip_all)]
pub async fn grant(pool: &PgPool, email: &str, role: Role) -> Result<Outcome, AdminError> {
    change(pool, email, role, true).await
}

/// Takes `role` from the account with `email`; it stays an account (a passenger at least).
#[tracing::instrument(skip_all)]
pub async fn revoke(pool: &PgPool, email: &str, role: Role) -> Result<Outcome, AdminError> {
    change(pool, email, role, false).await
}
