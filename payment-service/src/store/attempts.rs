//! `payment_attempts`: one row per charge attempt, opened before the gateway is called and
//! closed with its answer (which also settles the payment).

use super::{FAILED, Result, SUCCEEDED};
use deadpool_postgres::GenericClient;
use servicekit::db::Prepared;
use tokio_postgres::types::ToSql;
use uuid::Uuid;

/// An attempt of a payment: its number and, once the gateway answered, its outcome.
#[derive(Clone, Debug)]
pub struct Attempt {
    pub attempt: i32,
    pub idempotency_key: String,
    pub outcome: Option<String>,
}

/// Opens the next attempt under `key`; returns its number.
pub async fn open_attempt(db: &impl GenericClient, payment_id: Uuid, key: &str) -> Result<i32> {
    let row = db
        .query_one_prepared(
            "WITH p AS (UPDATE payments SET attempts = attempts + 1, updated_at = now() \
                        WHERE payment_id = $1 RETURNING attempts) \
             INSERT INTO payment_attempts (payment_id, attempt, idempotency_key) \
             SELECT $1, attempts, $2 FROM p RETURNING attempt",
            &[&payment_id, &key],
        )
        .await?;
    Ok(row.get(0))
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
    let attempt_params: [&(dyn ToSql + Sync); 5] =
        [&payment_id, &attempt, &outcome, &failure, &gateway_ms];
    let payment_params: [&(dyn ToSql + Sync); 4] = [&payment_id, &status, &charge_id, &failure];
    // Sent together (pipelined): neither depends on the other.
    tokio::try_join!(
        db.execute_prepared(
            "UPDATE payment_attempts SET outcome = $3, failure = $4, gateway_ms = $5, \
             completed_at = now() WHERE payment_id = $1 AND attempt = $2",
            &attempt_params,
        ),
        db.execute_prepared(
            "UPDATE payments SET status = $2, charge_id = $3, failure = $4, updated_at = now() \
             WHERE payment_id = $1 AND status = 'pending'",
            &payment_params,
        ),
    )?;
    Ok(())
}
