//! `payment_attempts`: one row per charge attempt, opened before the gateway is called and
//! closed with its answer (which also settles the payment).

use super::{FAILED, Result, SUCCEEDED};
use deadpool_postgres::GenericClient;
use servicekit::db::Prepared;
use uuid::Uuid;

/// An attempt of a payment: its number and, once the gateway answered, its outcome.
#[derive(Clone, Debug)]
pub struct Attempt {
    pub attempt: i32,
    pub idempotency_key: String,
    pub outcome: Option<String>,
}

/// The attempt made under `key`, if any.
pub async fn attempt_with_key(
    db: &impl GenericClient,
    payment_id: Uuid,
    key: &str,
) -> Result<Option<Attempt>> {
    let row = db
        .query_opt_prepared(
            "SELECT attempt, idempotency_key, outcome FROM payment_attempts \
             WHERE payment_id = $1 AND idempotency_key = $2",
            &[&payment_id, &key],
        )
        .await?;
    Ok(row.map(|r| Attempt {
        attempt: r.get(0),
        idempotency_key: r.get(1),
        outcome: r.get(2),
    }))
}

/// Whether an attempt of the payment still waits for the gateway's answer.
pub async fn has_open_attempt(db: &impl GenericClient, payment_id: Uuid) -> Result<bool> {
    let row = db
        .query_one_prepared(
            "SELECT EXISTS (SELECT 1 FROM payment_attempts WHERE payment_id = $1 AND outcome IS NULL)",
            &[&payment_id],
        )
        .await?;
    Ok(row.get(0))
}

/// Opens the next attempt under `key`; returns its number.
pub async fn open_attempt(db: &impl GenericClient, payment_id: Uuid, key: &str) -> Result<i32> {
    let row = db
        .query_one_prepared(
            "UPDATE payments SET attempts = attempts + 1, updated_at = now() \
             WHERE payment_id = $1 RETURNING attempts",
            &[&payment_id],
        )
        .await?;
    let attempt: i32 = row.get(0);
    db.execute_prepared(
        "INSERT INTO payment_attempts (payment_id, attempt, idempotency_key) VALUES ($1, $2, $3)",
        &[&payment_id, &attempt, &key],
    )
    .await?;
    Ok(attempt)
}

/// What the gateway answered to an attempt.
#[derive(Clone, Debug)]
pub enum ChargeResult {
    Succeeded { charge_id: String },
    Failed { code: String },
}

/// Records the gateway's answer on the attempt and the payment (which must be pending).
pub async fn close_attempt(
    db: &impl GenericClient,
    payment_id: Uuid,
    attempt: i32,
    result: &ChargeResult,
    gateway_ms: i32,
) -> Result<()> {
    let (status, outcome, charge_id, failure) = match result {
        ChargeResult::Succeeded { charge_id } => (SUCCEEDED, SUCCEEDED, Some(charge_id), None),
        ChargeResult::Failed { code } => (FAILED, code.as_str(), None, Some(code)),
    };
    db.execute_prepared(
        "UPDATE payment_attempts SET outcome = $3, failure = $4, gateway_ms = $5, \
         completed_at = now() WHERE payment_id = $1 AND attempt = $2",
        &[&payment_id, &attempt, &outcome, &failure, &gateway_ms],
    )
    .await?;
    db.execute_prepared(
        "UPDATE payments SET status = $2, charge_id = $3, failure = $4, updated_at = now() \
         WHERE payment_id = $1 AND status = 'pending'",
        &[&payment_id, &status, &charge_id, &failure],
    )
    .await?;
    Ok(())
}
