//! The built-in gateway: Stripe's test tokens (`tok_visa` succeeds, `tok_chargeDeclined` is
//! declined, anything else is an invalid token), an optional latency, and injected faults
//! (the first N calls fail as unavailable). It remembers idempotency keys like Stripe does.

use super::{
    CARD_DECLINED, Charge, ChargeRequest, GatewayError, INVALID_TOKEN, PaymentGateway, Refund,
    RefundRequest,
};
use futures_util::future::BoxFuture;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;
use uuid::Uuid;

#[derive(Default)]
struct Ledger {
    calls: u32,
    charges: HashMap<String, Result<Charge, GatewayError>>,
    /// Charge id → amount, of the charges that succeeded.
    captured: HashMap<String, i64>,
    refunds: HashMap<String, Result<Refund, GatewayError>>,
}

pub struct TestGateway {
    latency: Duration,
    fail_first: u32,
    ledger: Mutex<Ledger>,
}

impl TestGateway {
    pub fn new(latency: Duration, fail_first: u32) -> Self {
        Self {
            latency,
            fail_first,
            ledger: Mutex::new(Ledger::default()),
        }
    }

    /// Charges that took money (each idempotency key counts once).
    pub fn distinct_charges(&self) -> usize {
        self.ledger.lock().map_or(0, |l| l.captured.len())
    }

    /// Refunds made (each idempotency key counts once).
    pub fn distinct_refunds(&self) -> usize {
        self.ledger
            .lock()
            .map_or(0, |l| l.refunds.values().filter(|r| r.is_ok()).count())
    }

    /// Every call, the failed and repeated ones included.
    pub fn calls(&self) -> u32 {
        self.ledger.lock().map_or(0, |l| l.calls)
    }

    /// Counts the call; `Some` when it is one of the injected faults.
    fn fault(ledger: &mut Ledger, fail_first: u32) -> Option<GatewayError> {
        ledger.calls += 1;
        (ledger.calls <= fail_first)
            .then(|| GatewayError::Unavailable("injected test gateway fault".into()))
    }

    fn decide_charge(&self, request: &ChargeRequest) -> Result<Charge, GatewayError> {
        let mut ledger = self
            .ledger
            .lock()
            .map_err(|_| GatewayError::Unavailable("test gateway poisoned".into()))?;
        if let Some(fault) = Self::fault(&mut ledger, self.fail_first) {
            return Err(fault);
        }
        if let Some(known) = ledger.charges.get(&request.idempotency_key) {
            return known.clone();
        }
        let result = match request.token.as_str() {
            "tok_visa" => Ok(Charge {
                charge_id: format!("ch_test_{}", Uuid::new_v4().simple()),
            }),
            "tok_chargeDeclined" => Err(GatewayError::declined(CARD_DECLINED)),
            _ => Err(GatewayError::declined(INVALID_TOKEN)),
        };
        if let Ok(charge) = &result {
            ledger
                .captured
                .insert(charge.charge_id.clone(), request.amount);
        }
        ledger
            .charges
            .insert(request.idempotency_key.clone(), result.clone());
        result
    }

    fn decide_refund(&self, request: &RefundRequest) -> Result<Refund, GatewayError> {
        let mut ledger = self
            .ledger
            .lock()
            .map_err(|_| GatewayError::Unavailable("test gateway poisoned".into()))?;
        if let Some(fault) = Self::fault(&mut ledger, self.fail_first) {
            return Err(fault);
        }
        if let Some(known) = ledger.refunds.get(&request.idempotency_key) {
            return known.clone();
        }
        let result = match ledger.captured.get(&request.charge_id) {
            None => Err(GatewayError::declined("resource_missing")),
            Some(captured) if request.amount > *captured => {
                Err(GatewayError::declined("amount_too_large"))
            }
            Some(_) => Ok(Refund {
                refund_id: format!("re_test_{}", Uuid::new_v4().simple()),
            }),
        };
        ledger
            .refunds
            .insert(request.idempotency_key.clone(), result.clone());
        result
    }
}

impl PaymentGateway for TestGateway {
    fn charge(&self, request: ChargeRequest) -> BoxFuture<'_, Result<Charge, GatewayError>> {
        Box::pin(async move {
            // Decided before the wait, so concurrent calls with one key agree.
            let result = self.decide_charge(&request);
            tokio::time::sleep(self.latency).await;
            result
        })
    }

    fn refund(&self, request: RefundRequest) -> BoxFuture<'_, Result<Refund, GatewayError>> {
        Box::pin(async move {
            let result = self.decide_refund(&request);
            tokio::time::sleep(self.latency).await;
            result
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn charge(token: &str, key: &str) -> ChargeRequest {
        ChargeRequest {
            amount: 100,
            currency: "BDT".into(),
            token: token.into(),
            idempotency_key: key.into(),
            description: "test".into(),
        }
    }

    #[tokio::test]
    async fn test_tokens_follow_stripe() {
        let g = TestGateway::new(Duration::ZERO, 0);
        assert!(g.charge(charge("tok_visa", "a")).await.is_ok());
        assert_eq!(
            g.charge(charge("tok_chargeDeclined", "b")).await,
            Err(GatewayError::declined(CARD_DECLINED))
        );
        assert_eq!(
            g.charge(charge("tok_other", "c")).await,
            Err(GatewayError::declined(INVALID_TOKEN))
        );
        assert_eq!(g.distinct_charges(), 1);
    }

    #[tokio::test]
    async fn a_repeated_key_answers_the_first_charge() {
        let g = TestGateway::new(Duration::ZERO, 1);
        assert!(matches!(
            g.charge(charge("tok_visa", "k")).await,
            Err(GatewayError::Unavailable(_))
        ));
        let first = g.charge(charge("tok_visa", "k")).await.unwrap();
        let again = g.charge(charge("tok_visa", "k")).await.unwrap();
        assert_eq!(first, again);
        assert_eq!(g.distinct_charges(), 1);
        assert_eq!(g.calls(), 3);
    }

    #[tokio::test]
    async fn refunds_are_idempotent_and_need_a_charge() {
        let g = TestGateway::new(Duration::ZERO, 0);
        let c = g.charge(charge("tok_visa", "k")).await.unwrap();
        let refund = |key: &str, charge_id: &str| RefundRequest {
            charge_id: charge_id.into(),
            amount: 100,
            idempotency_key: key.into(),
        };
        let first = g.refund(refund("r", &c.charge_id)).await.unwrap();
        assert_eq!(g.refund(refund("r", &c.charge_id)).await.unwrap(), first);
        assert!(g.refund(refund("x", "ch_unknown")).await.is_err());
        assert_eq!(g.distinct_refunds(), 1);
    }
}
