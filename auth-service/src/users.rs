//! The users table. Every function returns [`DbError`].

use crate::domain::{Email, PersonName, Phone};
use chrono::{DateTime, Utc};
use deadpool_postgres::GenericClient;
use serde::Serialize;
use servicekit::auth::Role;
use servicekit::db::DbError;
use tokio_postgres::Row;
use uuid::Uuid;

/// `User` of `docs/api.md`.
#[derive(Clone, Debug, Serialize)]
pub struct User {
    pub id: Uuid,
    pub name: String,
    pub email: String,
    pub phone: String,
    pub created_at: DateTime<Utc>,
}

/// A user with what login needs.
pub struct Account {
    pub user: User,
    pub password_hash: String,
    pub role: Role,
}

const COLUMNS: &str = "id, name, email, phone, created_at, password_hash, role";

fn account(row: &Row) -> Account {
    Account {
        user: User {
            id: row.get(0),
            name: row.get(1),
            email: row.get(2),
            phone: row.get(3),
            created_at: row.get(4),
        },
        password_hash: row.get(5),
        role: if row.get::<_, &str>(6) == "admin" {
            Role::Admin
        } else {
            Role::User
        },
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
