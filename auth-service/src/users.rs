//! The users table. Every function returns [`DbError`].

use crate::domain::{Email, PersonName, Phone};
use chrono::{DateTime, Utc};
use deadpool_postgres::GenericClient;
use serde::Serialize;
use servicekit::auth::{Role, Roles, Verified};
use servicekit::db::DbError;
use tokio_postgres::Row;
use uuid::Uuid;

/// `User` of `docs/api.md`.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct User {
    pub id: Uuid,
    pub name: String,
    pub email: String,
    /// `null` only for an operator account made without one (`admin create`).
    pub phone: Option<String>,
    pub created_at: DateTime<Utc>,
    /// A successful OTP login verified the phone.
    pub phone_verified: bool,
    /// An NID is verified on this account (`POST /api/auth/nid`).
    pub nid_verified: bool,
    /// `passenger` (everyone), plus `conductor` and `admin` as granted; sorted by name.
    #[schema(value_type = Vec<servicekit::auth::Role>)]
    pub roles: Vec<&'static str>,
}

impl User {
    /// What an access token of this user claims.
    pub fn verified(&self) -> Verified {
        Verified {
            phone: self.phone_verified,
            nid: self.nid_verified,
        }
    }
}

/// A user with what login needs.
pub struct Account {
    pub user: User,
    pub password_hash: String,
    /// What its access tokens claim.
    pub roles: Roles,
}

/// The roles of a `roles` column (`text[]`, the roles besides `passenger`).
pub fn stored_roles(row: &Row, index: usize) -> Roles {
    Roles::from_names(row.get::<_, Vec<&str>>(index))
}

const COLUMNS: &str = "id, name, email, phone, created_at, password_hash, roles, \
                       phone_verified, nid_hash IS NOT NULL";

fn account(row: &Row) -> Account {
    let roles = stored_roles(row, 6);
    Account {
        user: User {
            id: row.get(0),
            name: row.get(1),
            email: row.get(2),
            phone: row.get(3),
            created_at: row.get(4),
            phone_verified: row.get(7),
            nid_verified: row.get(8),
            roles: roles.names(),
        },
        password_hash: row.get(5),
        roles,
    }
}

pub struct NewUser<'a> {
    pub name: &'a PersonName,
    pub email: &'a Email,
    pub phone: &'a Phone,
    pub password_hash: &'a str,
}

/// The new user, or `None` when the e-mail address or the phone has an account.
#[tracing::instrument(skip_all)]
pub async fn insert(db: &impl GenericClient, new: NewUser<'_>) -> Result<Option<User>, DbError> {
    let inserted = db
        .query_one(
            "INSERT INTO users (id, name, email, phone, password_hash) VALUES ($1, $2, $3, $4, $5) \
             RETURNING id, name, email, phone, created_at",
            &[
                &Uuid::now_v7(),
                &new.name.as_str(),
                &new.email.as_str(),
                &new.phone.as_str(),
                &new.password_hash,
            ],
        )
        .await
        .map_err(DbError::from);
    let row = match inserted {
        Ok(row) => row,
        Err(e)
            if e.is_unique_violation("users_email_key")
                || e.is_unique_violation("users_phone_key") =>
        {
            return Ok(None);
        }
        Err(e) => return Err(e),
    };
    Ok(Some(User {
        id: row.get(0),
        name: row.get(1),
        email: row.get(2),
        phone: row.get(3),
        created_at: row.get(4),
        phone_verified: false,
        nid_verified: false,
        roles: Roles::PASSENGER.names(),
    }))
}

/// Where a login identifier points.
pub enum Login {
    Email(Email),
    Phone(Phone),
}

pub async fn find_by_login(
    db: &tokio_postgres::Client,
    login: &Login,
) -> Result<Option<Account>, DbError> {
    let (column, value) = match login {
        Login::Email(e) => ("email", e.as_str()),
        Login::Phone(p) => ("phone", p.as_str()),
    };
    let sql = format!("SELECT {COLUMNS} FROM users WHERE {column} = $1");
    Ok(db.query_opt(&sql, &[&value]).await?.as_ref().map(account))
}

pub async fn find_by_id(db: &tokio_postgres::Client, id: Uuid) -> Result<Option<Account>, DbError> {
    let sql = format!("SELECT {COLUMNS} FROM users WHERE id = $1");
    Ok(db.query_opt(&sql, &[&id]).await?.as_ref().map(account))
}

/// Marks the phone of `id` verified (a successful OTP login proved it); the account after.
pub async fn mark_phone_verified(
    db: &tokio_postgres::Client,
    id: Uuid,
) -> Result<Option<Account>, DbError> {
    let sql = format!("UPDATE users SET phone_verified = true WHERE id = $1 RETURNING {COLUMNS}");
    Ok(db.query_opt(&sql, &[&id]).await?.as_ref().map(account))
}

/// What storing an NID found.
pub enum NidClaim {
    /// Stored (or this account held it already).
    Stored(Account),
    /// Another account holds this NID.
    HeldByAnother,
    /// This account holds a different NID.
    OtherNidHeld,
    /// No such account.
    NoAccount,
}

/// Stores the keyed hash and masked form of a verified NID on `id`. The unique index on
/// `nid_hash` decides parallel claims of one NID: exactly one account gets it.
pub async fn claim_nid(
    db: &tokio_postgres::Client,
    id: Uuid,
    nid_hash: &str,
    nid_masked: &str,
) -> Result<NidClaim, DbError> {
    let sql = format!(
        "UPDATE users SET nid_hash = $2, nid_masked = $3, nid_verified_at = COALESCE(nid_verified_at, now()) \
         WHERE id = $1 AND (nid_hash IS NULL OR nid_hash = $2) RETURNING {COLUMNS}"
    );
    match db.query_opt(&sql, &[&id, &nid_hash, &nid_masked]).await {
        Ok(Some(row)) => return Ok(NidClaim::Stored(account(&row))),
        Ok(None) => {}
        Err(e) => {
            let e = DbError::from(e);
            if e.is_unique_violation("users_nid_hash_key") {
                return Ok(NidClaim::HeldByAnother);
            }
            return Err(e);
        }
    }
    // Not updated: the account is gone or holds another NID.
    let held = db
        .query_opt("SELECT 1 FROM users WHERE id = $1", &[&id])
        .await?;
    Ok(if held.is_some() {
        NidClaim::OtherNidHeld
    } else {
        NidClaim::NoAccount
    })
}

/// The roles `id` has now (`None`: no such account).
pub async fn current_roles(
    db: &tokio_postgres::Client,
    id: Uuid,
) -> Result<Option<Roles>, DbError> {
    let row = db
        .query_opt("SELECT roles FROM users WHERE id = $1", &[&id])
        .await?;
    Ok(row.map(|row| stored_roles(&row, 0)))
}

/// What setting an account's roles found.
pub enum RolesChange {
    /// Set; the account after, and its roles before.
    Set { account: Account, before: Roles },
    /// No such account.
    NoAccount,
    /// The change would take the admin role from the only admin.
    LastAdmin,
}

/// Sets the roles of `id` to `roles`, unless that leaves no admin. Changes that take the
/// admin role away run one at a time (a transaction-scoped advisory lock), so two admins
/// demoting each other at once cannot leave none.
#[tracing::instrument(skip_all)]
pub async fn set_roles(
    db: &mut deadpool_postgres::Object,
    id: Uuid,
    roles: Roles,
) -> Result<RolesChange, DbError> {
    let tx = db.transaction().await?;
    let Some(row) = tx
        .query_opt("SELECT roles FROM users WHERE id = $1 FOR UPDATE", &[&id])
        .await?
    else {
        return Ok(RolesChange::NoAccount);
    };
    let before = stored_roles(&row, 0);
    if before.contains(Role::Admin) && !roles.contains(Role::Admin) {
        tx.execute(
            "SELECT pg_advisory_xact_lock(hashtext('railrush.auth.admins'))",
            &[],
        )
        .await?;
        let others: i64 = tx
            .query_one(
                "SELECT count(*) FROM users WHERE 'admin' = ANY (roles) AND id <> $1",
                &[&id],
            )
            .await?
            .get(0);
        if others == 0 {
            return Ok(RolesChange::LastAdmin);
        }
    }
    let sql = format!("UPDATE users SET roles = $2 WHERE id = $1 RETURNING {COLUMNS}");
    let row = tx.query_one(&sql, &[&id, &roles.granted()]).await?;
    tx.commit().await?;
    Ok(RolesChange::Set {
        account: account(&row),
        before,
    })
}
