//! A payment's attempts as the railway sees them (`GET /api/payments/admin/bookings/{id}/attempts`):
//! each charge attempt (`payment_attempts`), then its refund, if one was asked for (the
//! payment's `refund_key`), oldest first.

use super::{Payment, REFUNDED, Result, SUCCEEDED};
use chrono::{DateTime, Utc};
use deadpool_postgres::GenericClient;
use serde::Serialize;

/// One attempt: `kind` `charge` or `refund`; `status` `pending` (the gateway has not
/// answered), `succeeded` or `failed` (`reason` says why).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct AttemptView {
    #[schema(value_type = String, example = "charge")]
    pub kind: &'static str,
    #[schema(value_type = String, example = "failed")]
    pub status: &'static str,
    pub amount: i64,
    pub currency: String,
    /// Why a charge failed (the gateway's code, e.g. `card_declined`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// Every attempt of `payment`, oldest first.
pub async fn history(db: &impl GenericClient, payment: &Payment) -> Result<Vec<AttemptView>> {
    let rows = db
        .query(
            "SELECT outcome, failure, created_at, coalesce(completed_at, created_at) \
             FROM payment_attempts WHERE payment_id = $1 ORDER BY attempt",
            &[&payment.payment_id],
        )
        .await?;
    let mut attempts: Vec<AttemptView> = rows
        .iter()
        .map(|r| {
            let outcome: Option<String> = r.get(0);
            let failure: Option<String> = r.get(1);
            let (status, reason) = match outcome.as_deref() {
                None => ("pending", None),
                Some(SUCCEEDED) => ("succeeded", None),
                Some(other) => ("failed", failure.or_else(|| Some(other.to_owned()))),
            };
            AttemptView {
                kind: "charge",
                status,
                amount: payment.amount,
                currency: payment.currency.clone(),
                reason,
                created_at: r.get(2),
                updated_at: r.get(3),
            }
        })
        .collect();
    if payment.refund_key.is_some() {
        let row = db
            .query_one(
                "SELECT refund_requested_at, refunded_at FROM payments WHERE payment_id = $1",
                &[&payment.payment_id],
            )
            .await?;
        let requested: Option<DateTime<Utc>> = row.get(0);
        let refunded: Option<DateTime<Utc>> = row.get(1);
        // A refund claimed before these times were kept shows the payment's last change.
        let created_at = requested.or(refunded).unwrap_or(payment.updated_at);
        attempts.push(AttemptView {
            kind: "refund",
            status: if payment.status == REFUNDED {
                "succeeded"
            } else {
                "pending"
            },
            amount: payment.amount,
            currency: payment.currency.clone(),
            reason: None,
            created_at,
            updated_at: refunded.unwrap_or(created_at),
        });
    }
    Ok(attempts)
}
