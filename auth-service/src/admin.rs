//! Administrator accounts, for operators (`auth-service admin create|revoke`): unattended,
//! straight on the database, with the same validation and password hashing as registration.
//!
//! [`create`] makes a new account with the admin role, or gives the role to the account that
//! already has the e-mail address (its password stays as it is). A new account is announced
//! with `user.registered` through the outbox like a registered one, so notification-service
//! can reach the administrator too. [`revoke`] takes the role back. A role change shows in
//! the tokens issued from then on (login, refresh); access tokens already issued keep their
//! role until they expire.

use crate::domain::{Email, Password, PersonName, Phone};
use crate::password::hash_now;
use anyhow::Context;
use secrecy::SecretString;
use servicekit::amqp::Envelope;
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
    /// Needed only when no account has the e-mail address (every account has a unique one).
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
    Revoked { id: Uuid, email: String },
    NotAdmin { id: Uuid, email: String },
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
            Self::Revoked { id, email } => write!(
                f,
                "{email} ({id}) is no longer an admin (tokens issued before keep the role until they expire)"
            ),
            Self::NotAdmin { id, email } => {
                write!(f, "{email} ({id}) is not an admin: nothing changed")
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
    let existing = tx
        .query_opt(
            "SELECT id, role FROM users WHERE email = $1 FOR UPDATE",
            &[&email.as_str()],
        )
        .await
        .context("looking the account up")?;
    let email_text = email.as_str().to_owned();
    if let Some(row) = existing {
        let id: Uuid = row.get(0);
        if row.get::<_, &str>(1) == "admin" {
            return Ok(Outcome::AlreadyAdmin {
                id,
                email: email_text,
            });
        }
        tx.execute("UPDATE users SET role = 'admin' WHERE id = $1", &[&id])
            .await
            .context("promoting the account")?;
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
    let phone = phone.ok_or_else(|| missing("phone"))?;
    let secret = password.secret().clone();
    let hash = tokio::task::spawn_blocking(move || hash_now(&secret))
        .await
        .context("hashing the password")??;
    let id = Uuid::now_v7();
    tx.execute(
        "INSERT INTO users (id, name, email, phone, password_hash, role) \
         VALUES ($1, $2, $3, $4, $5, 'admin')",
        &[&id, &name.as_str(), &email.as_str(), &phone.as_str(), &hash],
    )
    .await
    .map_err(|e| {
        let e = DbError::from(e);
        if e.is_unique_violation("users_phone_key") {
            AdminError::Invalid(format!(
                "--phone: another account has the phone number {}",
                phone.as_str()
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
            phone: phone.as_str().to_owned(),
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

/// Takes the admin role from the account with `email`; it stays an ordinary account.
#[tracing::instrument(skip_all)]
pub async fn revoke(pool: &PgPool, email: &str) -> Result<Outcome, AdminError> {
    let email = Email::parse(email).map_err(invalid("email"))?;
    let client = pool.get().await.context("connecting to the database")?;
    let row = client
        .query_opt(
            "WITH old AS (SELECT id, role FROM users WHERE email = $1 FOR UPDATE) \
             UPDATE users SET role = 'user' FROM old WHERE users.id = old.id \
             RETURNING users.id, old.role",
            &[&email.as_str()],
        )
        .await
        .context("revoking the role")?
        .ok_or_else(|| {
            AdminError::Invalid(format!(
                "no account has the e-mail address {}",
                email.as_str()
            ))
        })?;
    let (id, email) = (row.get(0), email.as_str().to_owned());
    if row.get::<_, &str>(1) == "admin" {
        tracing::info!(user = %id, "admin role revoked");
        Ok(Outcome::Revoked { id, email })
    } else {
        Ok(Outcome::NotAdmin { id, email })
    }
}
