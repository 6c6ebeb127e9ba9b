//! A channel for tests: records what it delivered and fails on purpose.

use notification_service::channel::{Channel, DeliveryError, Message};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

/// A channel that records what it delivered and fails on purpose: the first `fail_first`
/// attempts (transiently), and every message to `fail_to` (transiently, or permanently).
#[derive(Default)]
pub struct TestChannel {
    pub fail_first: AtomicUsize,
    pub fail_to: Mutex<Option<(String, bool)>>,
    pub attempts: AtomicUsize,
    pub delivered: Mutex<Vec<Message>>,
}

impl TestChannel {
    pub fn reliable() -> Arc<Self> {
        Arc::new(Self::default())
    }

    pub fn failing_first(n: usize) -> Arc<Self> {
        let c = Self::default();
        c.fail_first.store(n, Ordering::SeqCst);
        Arc::new(c)
    }

    pub fn delivered(&self) -> Vec<Message> {
        self.delivered.lock().unwrap().clone()
    }
}

impl Channel for TestChannel {
    fn name(&self) -> &str {
        "test"
    }

    fn deliver<'a>(
        &'a self,
        message: &'a Message,
    ) -> futures_util::future::BoxFuture<'a, Result<(), DeliveryError>> {
        Box::pin(async move {
            self.attempts.fetch_add(1, Ordering::SeqCst);
            if let Some((to, permanent)) = self.fail_to.lock().unwrap().clone()
                && to == message.to
            {
                return Err(if permanent {
                    DeliveryError::Permanent("refused".into())
                } else {
                    DeliveryError::Transient("provider down".into())
                });
            }
            let fail = self
                .fail_first
                .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
                .is_ok();
            if fail {
                return Err(DeliveryError::Transient("provider busy".into()));
            }
            self.delivered.lock().unwrap().push(message.clone());
            Ok(())
        })
    }
}
