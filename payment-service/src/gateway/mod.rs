//! The payment gateway behind one trait: [`TestGateway`] (built in, Stripe's test tokens)
//! and [`StripeGateway`] (Stripe's HTTP API). Every call carries an idempotency key; a
//! gateway answers a repeated key with the first result and never charges or refunds twice.
//!
//! [`GatewayError::Declined`] is final (the caller records a failure);
//! [`GatewayError::Unavailable`] is transient (the caller retries with the same key).

mod stripe;
mod test;

pub use stripe::StripeGateway;
pub use test::TestGateway;

use crate::settings::{GatewayKind, GatewaySettings};
use futures_util::future::BoxFuture;
use std::sync::Arc;
use std::time::Duration;

/// Decline code of a card the issuer refused.
pub const CARD_DECLINED: &str = "card_declined";
/// Decline code of a token the gateway does not know (or that is unusable).
pub const INVALID_TOKEN: &str = "invalid_token";

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChargeRequest {
    /// Smallest currency unit.
    pub amount: i64,
    pub currency: String,
    /// A payment token, never card data.
    pub token: String,
    pub idempotency_key: String,
    pub description: String,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Charge {
    pub charge_id: String,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RefundRequest {
    pub charge_id: String,
    pub amount: i64,
    pub idempotency_key: String,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Refund {
    pub refund_id: String,
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum GatewayError {
    /// Final: the gateway refused (`card_declined`, `invalid_token`, ...). Do not retry.
    #[error("declined: {code}")]
    Declined { code: String },
    /// Transient: the gateway could not be reached or failed. Retry with the same key.
    #[error("the payment gateway is unavailable: {0}")]
    Unavailable(String),
}

impl GatewayError {
    pub fn declined(code: &str) -> Self {
        Self::Declined { code: code.into() }
    }
}

pub trait PaymentGateway: Send + Sync {
    fn charge(&self, request: ChargeRequest) -> BoxFuture<'_, Result<Charge, GatewayError>>;
    fn refund(&self, request: RefundRequest) -> BoxFuture<'_, Result<Refund, GatewayError>>;
}

/// The gateway `settings` ask for.
pub fn from_settings(settings: &GatewaySettings) -> anyhow::Result<Arc<dyn PaymentGateway>> {
    Ok(match settings.kind {
        GatewayKind::Test => Arc::new(TestGateway::new(
            Duration::from_millis(settings.latency_ms),
            settings.fail_first,
        )),
        GatewayKind::Stripe => Arc::new(StripeGateway::from_settings(settings)?),
    })
}

/// A token as it may appear in logs: its first characters only.
pub fn masked(token: &str) -> String {
    let shown: String = token.chars().take(4).collect();
    format!("{shown}…")
}

#[cfg(test)]
mod tests {
    use super::masked;

    #[test]
    fn masked_tokens_show_only_their_start() {
        assert_eq!(masked("tok_visa"), "tok_…");
        assert_eq!(masked("ab"), "ab…");
    }
}
