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
    let (status, outcome, charge_id, failure) = columns(result);
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

/// [`close_attempt`] for many: each `(payment_id, attempt, answer, gateway_ms)` recorded on
/// its attempt and its payment, in two statements sent together.
pub async fn close_attempts(
    db: &impl GenericClient,
    answers: &[(Uuid, i32, &ChargeResult, i32)],
) -> Result<()> {
    let payment_ids: Vec<Uuid> = answers.iter().map(|a| a.0).collect();
    let attempts: Vec<i32> = answers.iter().map(|a| a.1).collect();
    let gateway_ms: Vec<i32> = answers.iter().map(|a| a.3).collect();
    let (mut statuses, mut outcomes, mut charge_ids, mut failures) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for (_, _, result, _) in answers {
        let (status, outcome, charge_id, failure) = columns(result);
        statuses.push(status);
        outcomes.push(outcome);
        charge_ids.push(charge_id);
        failures.push(failure);
    }
    let attempt_params: [&(dyn ToSql + Sync); 5] =
        [&payment_ids, &attempts, &outcomes, &failures, &gateway_ms];
    let payment_params: [&(dyn ToSql + Sync); 4] =
        [&payment_ids, &statuses, &charge_ids, &failures];
    tokio::try_join!(
        db.execute_prepared(
            "UPDATE payment_attempts a SET outcome = u.outcome, failure = u.failure, \
             gateway_ms = u.ms, completed_at = now() \
             FROM unnest($1::uuid[], $2::int[], $3::text[], $4::text[], $5::int[]) \
               AS u(payment_id, attempt, outcome, failure, ms) \
             WHERE a.payment_id = u.payment_id AND a.attempt = u.attempt",
            &attempt_params,
        ),
        db.execute_prepared(
            "UPDATE payments p SET status = u.status, charge_id = u.charge_id, \
             failure = u.failure, updated_at = now() \
             FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[]) \
               AS u(payment_id, status, charge_id, failure) \
             WHERE p.payment_id = u.payment_id AND p.status = 'pending'",
            &payment_params,
        ),
    )?;
    Ok(())
}

/// The payment's status, the attempt's outcome, the charge id and the failure of `result`.
fn columns(result: &ChargeResult) -> (&'static str, &str, Option<&str>, Option<&str>) {
    match result {
        ChargeResult::Succeeded { charge_id } => {
            (SUCCEEDED, SUCCEEDED, Some(charge_id.as_str()), None)
        }
        ChargeResult::Failed { code } => (FAILED, code.as_str(), None, Some(code.as_str())),
    }
}
