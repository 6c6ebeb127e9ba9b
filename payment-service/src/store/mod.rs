//! The `payments` and `payment_attempts` tables. Functions take any client, so the callers
//! decide the transaction; `lock_*` functions take the row lock (`FOR UPDATE`) that
//! serialises the charge worker, the refund worker and the retry endpoint on one payment.
//! Every function returns [`DbError`].

use chrono::{DateTime, Utc};
use deadpool_postgres::GenericClient;
use serde::Serialize;
use servicekit::db::{DbError, Prepared};
use std::sync::LazyLock;
use tokio_postgres::Row;
use uuid::Uuid;

pub const PENDING: &str = "pending";
pub const SUCCEEDED: &str = "succeeded";
pub const FAILED: &str = "failed";
pub const REFUNDED: &str = "refunded";

/// A payment as stored. The token is the current payment token (never card data) and is
/// never serialised.
#[derive(Clone, Debug, Serialize)]
pub struct Payment {
    pub payment_id: Uuid,
    pub booking_id: Uuid,
    #[serde(skip)]
    pub user_id: Uuid,
    pub status: String,
    pub amount: i64,
    pub currency: String,
    pub attempts: i32,
    pub failure: Option<String>,
    #[serde(skip)]
    pub token: String,
    #[serde(skip)]
    pub charge_id: Option<String>,
    #[serde(skip)]
    pub refund_key: Option<Uuid>,
    pub payment_due_at: DateTime<Utc>,
    #[serde(skip)]
    pub closed_at: Option<DateTime<Utc>>,
    pub updated_at: DateTime<Utc>,
}

const COLUMNS: &str = "payment_id, booking_id, user_id, status, amount, currency, attempts, \
     failure, token, charge_id, refund_key, payment_due_at, closed_at, updated_at";

impl Payment {
    fn from_row(row: &Row) -> Self {
        Self {
            payment_id: row.get(0),
            booking_id: row.get(1),
            user_id: row.get(2),
            status: row.get(3),
            amount: row.get(4),
            currency: row.get(5),
            attempts: row.get(6),
            failure: row.get(7),
            token: row.get(8),
            charge_id: row.get(9),
            refund_key: row.get(10),
            payment_due_at: row.get(11),
            closed_at: row.get(12),
            updated_at: row.get(13),
        }
    }
}

mod attempts;
mod charge;
mod history;

pub use attempts::{Attempt, ChargeResult, close_attempt, close_attempts, open_attempt};
pub use charge::{ChargeState, FirstCharge, charge_state, open_first_attempts};
pub use history::{AttemptView, history};

type Result<T> = std::result::Result<T, DbError>;

/// The caller's payment for `booking_id`; `None` for an unknown booking or another user's.
pub async fn find_own(
    db: &impl GenericClient,
    booking_id: Uuid,
    user_id: Uuid,
) -> Result<Option<Payment>> {
    let sql = format!("SELECT {COLUMNS} FROM payments WHERE booking_id = $1 AND user_id = $2");
    let row = db
        .query_opt_prepared(&sql, &[&booking_id, &user_id])
        .await?;
    Ok(row.as_ref().map(Payment::from_row))
}

/// The payment for `booking_id`, whoever owns it (the railway's admin view).
pub async fn find(db: &impl GenericClient, booking_id: Uuid) -> Result<Option<Payment>> {
    let sql = format!("SELECT {COLUMNS} FROM payments WHERE booking_id = $1");
    let row = db.query_opt_prepared(&sql, &[&booking_id]).await?;
    Ok(row.as_ref().map(Payment::from_row))
}

/// Like [`find_own`], holding the row lock until the transaction ends.
pub async fn lock_own(
    db: &impl GenericClient,
    booking_id: Uuid,
    user_id: Uuid,
) -> Result<Option<Payment>> {
    let sql =
        format!("SELECT {COLUMNS} FROM payments WHERE booking_id = $1 AND user_id = $2 FOR UPDATE");
    let row = db
        .query_opt_prepared(&sql, &[&booking_id, &user_id])
        .await?;
    Ok(row.as_ref().map(Payment::from_row))
}

/// The payment of a booking, locked: `lock_by_booking`'s statement.
static LOCK_BY_BOOKING: LazyLock<String> =
    LazyLock::new(|| format!("SELECT {COLUMNS} FROM payments WHERE booking_id = $1 FOR UPDATE"));

pub async fn lock_by_booking(db: &impl GenericClient, booking_id: Uuid) -> Result<Option<Payment>> {
    let row = db
        .query_opt_prepared(&LOCK_BY_BOOKING, &[&booking_id])
        .await?;
    Ok(row.as_ref().map(Payment::from_row))
}

/// Fails a payment without charging (the booking is closed).
pub async fn fail_without_charge(
    db: &impl GenericClient,
    payment_id: Uuid,
    code: &str,
) -> Result<()> {
    db.execute_prepared(
        "UPDATE payments SET status = 'failed', failure = $2, updated_at = now() \
         WHERE payment_id = $1 AND status = 'pending'",
        &[&payment_id, &code],
    )
    .await?;
    Ok(())
}

/// Marks the booking of the payment as no longer payable.
pub async fn close(db: &impl GenericClient, payment_id: Uuid) -> Result<()> {
    db.execute_prepared(
        "UPDATE payments SET closed_at = coalesce(closed_at, now()), updated_at = now() \
         WHERE payment_id = $1",
        &[&payment_id],
    )
    .await?;
    Ok(())
}

/// Makes the event `key` the owner of the payment's refund.
pub async fn claim_refund(db: &impl GenericClient, payment_id: Uuid, key: Uuid) -> Result<()> {
    db.execute_prepared(
        "UPDATE payments SET refund_key = $2, refund_requested_at = now(), updated_at = now() \
         WHERE payment_id = $1",
        &[&payment_id, &key],
    )
    .await?;
    Ok(())
}

pub async fn mark_refunded(
    db: &impl GenericClient,
    payment_id: Uuid,
    refund_id: &str,
) -> Result<u64> {
    db.execute_prepared(
        "UPDATE payments SET status = 'refunded', refund_id = $2, refunded_at = now(), \
         updated_at = now() WHERE payment_id = $1 AND status = 'succeeded'",
        &[&payment_id, &refund_id],
    )
    .await
    .map_err(DbError::from)
}

/// Sets a failed payment pending again with a new token (the retry endpoint).
pub async fn reopen(db: &impl GenericClient, payment_id: Uuid, token: &str) -> Result<()> {
    db.execute_prepared(
        "UPDATE payments SET status = 'pending', token = $2, failure = NULL, updated_at = now() \
         WHERE payment_id = $1",
        &[&payment_id, &token],
    )
    .await?;
    Ok(())
}

/// Whether a consumer already applied an event: `is_processed`'s statement.
const PROCESSED: &str =
    "SELECT EXISTS (SELECT 1 FROM processed_events WHERE consumer = $1 AND event_id = $2)";

/// Whether `consumer` already applied `event_id`.
pub async fn is_processed(db: &impl GenericClient, consumer: &str, event_id: Uuid) -> Result<bool> {
    let row = db
        .query_one_prepared(PROCESSED, &[&consumer, &event_id])
        .await?;
    Ok(row.get(0))
}
