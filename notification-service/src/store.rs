//! The service's tables: `contacts` (from `user.registered`), `notifications` (the inbox)
//! and `processed_events` (servicekit's idempotency record). Every function returns
//! [`DbError`].

use crate::channel::Message;
use chrono::{DateTime, Utc};
use deadpool_postgres::GenericClient;
use serde::Serialize;
use servicekit::db::{DbError, Prepared};
use servicekit::events::UserRegistered;
use std::collections::{HashMap, HashSet};
use tokio_postgres::Row;
use uuid::Uuid;

/// Where to reach a user.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Contact {
    pub user_id: Uuid,
    pub name: String,
    pub email: String,
    pub phone: String,
}

/// One inbox entry as `docs/api.md` shows it.
#[derive(Clone, Debug, Serialize)]
pub struct Notification {
    pub id: Uuid,
    pub kind: String,
    pub channel: String,
    pub to: String,
    pub subject: String,
    pub body: String,
    pub created_at: DateTime<Utc>,
}

/// A notification as the railway looks it up: the inbox entry, whom it went to and the
/// booking it is about (`null` for one about no booking, such as an OTP).
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct LoggedNotification {
    pub id: Uuid,
    #[schema(example = "ticket")]
    pub kind: String,
    #[schema(example = "email")]
    pub channel: String,
    pub to: String,
    pub subject: String,
    pub body: String,
    pub created_at: DateTime<Utc>,
    pub user_id: Uuid,
    pub booking_id: Option<Uuid>,
}

/// What [`lookup`] finds notifications by.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lookup {
    Booking(Uuid),
    User(Uuid),
}

pub async fn upsert_contact(db: &impl GenericClient, user: &UserRegistered) -> Result<(), DbError> {
    db.execute_prepared(
        "INSERT INTO contacts (user_id, name, email, phone) VALUES ($1, $2, $3, $4) \
         ON CONFLICT (user_id) DO UPDATE SET name = EXCLUDED.name, email = EXCLUDED.email, \
         phone = EXCLUDED.phone, updated_at = now()",
        &[&user.user_id, &user.name, &user.email, &user.phone],
    )
    .await?;
    Ok(())
}

pub async fn contact(db: &impl GenericClient, user_id: Uuid) -> Result<Option<Contact>, DbError> {
    let row = db
        .query_opt_prepared(
            "SELECT user_id, name, email, phone FROM contacts WHERE user_id = $1",
            &[&user_id],
        )
        .await?;
    Ok(row.as_ref().map(contact_of))
}

/// A contact from a row of `user_id, name, email, phone`.
fn contact_of(row: &Row) -> Contact {
    Contact {
        user_id: row.get(0),
        name: row.get(1),
        email: row.get(2),
        phone: row.get(3),
    }
}

/// The contacts of `user_ids` that are known, by user.
pub async fn contacts(
    db: &impl GenericClient,
    user_ids: &[Uuid],
) -> Result<HashMap<Uuid, Contact>, DbError> {
    let rows = db
        .query_prepared(
            "SELECT user_id, name, email, phone FROM contacts WHERE user_id = ANY($1)",
            &[&user_ids],
        )
        .await?;
    Ok(rows.iter().map(|r| (r.get(0), contact_of(r))).collect())
}

/// Which of `event_ids` `consumer` applied already.
pub async fn processed_of(
    db: &impl GenericClient,
    consumer: &str,
    event_ids: &[Uuid],
) -> Result<HashSet<Uuid>, DbError> {
    let rows = db
        .query_prepared(
            "SELECT event_id FROM processed_events WHERE consumer = $1 AND event_id = ANY($2)",
            &[&consumer, &event_ids],
        )
        .await?;
    Ok(rows.iter().map(|r| r.get(0)).collect())
}

/// True when `consumer` already applied `event_id`.
pub async fn already_processed(
    db: &impl GenericClient,
    consumer: &str,
    event_id: Uuid,
) -> Result<bool, DbError> {
    let row = db
        .query_opt_prepared(
            "SELECT 1 FROM processed_events WHERE consumer = $1 AND event_id = $2",
            &[&consumer, &event_id],
        )
        .await?;
    Ok(row.is_some())
}

/// Puts a delivered message in its user's inbox; false when the event's message of this kind
/// is already there.
pub async fn insert_notification(
    db: &impl GenericClient,
    message: &Message,
) -> Result<bool, DbError> {
    let inserted = db
        .execute_prepared(
            "INSERT INTO notifications \
             (id, user_id, kind, channel, recipient, subject, body, event_id, booking_id) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT (event_id, kind) DO NOTHING",
            &[
                &message.id,
                &message.user_id,
                &message.kind.as_str(),
                &message.medium.as_str(),
                &message.to,
                &message.subject,
                &message.body,
                &message.event_id,
                &message.booking_id,
            ],
        )
        .await?;
    Ok(inserted == 1)
}

/// [`insert_notification`] for many, in one statement; returns how many were new.
pub async fn insert_notifications(
    db: &impl GenericClient,
    messages: &[&Message],
) -> Result<u64, DbError> {
    let ids: Vec<Uuid> = messages.iter().map(|m| m.id).collect();
    let users: Vec<Uuid> = messages.iter().map(|m| m.user_id).collect();
    let kinds: Vec<&str> = messages.iter().map(|m| m.kind.as_str()).collect();
    let channels: Vec<&str> = messages.iter().map(|m| m.medium.as_str()).collect();
    let recipients: Vec<&str> = messages.iter().map(|m| m.to.as_str()).collect();
    let subjects: Vec<&str> = messages.iter().map(|m| m.subject.as_str()).collect();
    let bodies: Vec<&str> = messages.iter().map(|m| m.body.as_str()).collect();
    let events: Vec<Uuid> = messages.iter().map(|m| m.event_id).collect();
    let bookings: Vec<Option<Uuid>> = messages.iter().map(|m| m.booking_id).collect();
    Ok(db
        .execute_prepared(
            "INSERT INTO notifications \
             (id, user_id, kind, channel, recipient, subject, body, event_id, booking_id) \
             SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::text[], $4::text[], $5::text[], \
               $6::text[], $7::text[], $8::uuid[], $9::uuid[]) \
             ON CONFLICT (event_id, kind) DO NOTHING",
            &[
                &ids,
                &users,
                &kinds,
                &channels,
                &recipients,
                &subjects,
                &bodies,
                &events,
                &bookings,
            ],
        )
        .await?)
}

/// The newest `limit` entries of `user_id`'s inbox, newest first.
pub async fn inbox(
    db: &impl GenericClient,
    user_id: Uuid,
    limit: i64,
) -> Result<Vec<Notification>, DbError> {
    let rows = db
        .query_prepared(
            "SELECT id, kind, channel, recipient, subject, body, created_at FROM notifications \
             WHERE user_id = $1 ORDER BY created_at DESC, id DESC LIMIT $2",
            &[&user_id, &limit],
        )
        .await?;
    Ok(rows
        .iter()
        .map(|r| Notification {
            id: r.get(0),
            kind: r.get(1),
            channel: r.get(2),
            to: r.get(3),
            subject: r.get(4),
            body: r.get(5),
            created_at: r.get(6),
        })
        .collect())
}

/// The newest `limit` notifications about a booking or sent to a user, newest first.
pub async fn lookup(
    db: &impl GenericClient,
    by: Lookup,
    limit: i64,
) -> Result<Vec<LoggedNotification>, DbError> {
    let (column, id) = match by {
        Lookup::Booking(id) => ("booking_id", id),
        Lookup::User(id) => ("user_id", id),
    };
    let sql = format!(
        "SELECT id, kind, channel, recipient, subject, body, created_at, user_id, booking_id \
         FROM notifications WHERE {column} = $1 ORDER BY created_at DESC, id DESC LIMIT $2"
    );
    let rows = db.query(&sql, &[&id, &limit]).await?;
    Ok(rows
        .iter()
        .map(|r| LoggedNotification {
            id: r.get(0),
            kind: r.get(1),
            channel: r.get(2),
            to: r.get(3),
            subject: r.get(4),
            body: r.get(5),
            created_at: r.get(6),
            user_id: r.get(7),
            booking_id: r.get(8),
        })
        .collect())
}
