//! What the charge and refund workers share: their dependencies.

use crate::gateway::PaymentGateway;
use crate::metrics::PaymentMetrics;
use servicekit::consumer::HandleError;
use servicekit::db::PgPool;
use servicekit::outbox::OutboxRelay;
use std::sync::Arc;

#[derive(Clone)]
pub struct Worker {
    pub db: PgPool,
    pub gateway: Arc<dyn PaymentGateway>,
    pub relay: OutboxRelay,
    pub metrics: PaymentMetrics,
}

impl Worker {
    pub(crate) async fn client(&self) -> Result<servicekit::db::Client, HandleError> {
        Ok(self.db.get().await?)
    }
}
