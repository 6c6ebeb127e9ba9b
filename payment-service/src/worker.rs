//! What the charge and refund workers share: their dependencies and the mapping of
//! failures onto [`HandleError`] (store errors are retried, malformed events parked).

use crate::gateway::PaymentGateway;
use crate::metrics::PaymentMetrics;
use futures_util::future::BoxFuture;
use servicekit::amqp::{Broker, Envelope};
use servicekit::consumer::{self, ConsumerHandle, HandleError, Handler, Meta, QueueSpec};
use servicekit::db::PgPool;
use servicekit::metrics::Metrics;
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
        self.db
            .get()
            .await
            .map_err(|e| HandleError::Retry(e.into()))
    }

    /// Counts a handled event of `queue` by its outcome.
    pub(crate) fn count(&self, queue: &str, outcome: &Result<&'static str, HandleError>) {
        let label = match outcome {
            Ok(label) => label,
            Err(HandleError::Reject(_)) => "rejected",
            Err(HandleError::Retry(_)) => "retried",
        };
        self.metrics.events.with_label_values(&[queue, label]).inc();
    }
}

/// Consumes `spec`'s queue with `work`, counting each event under `queue` by the label
/// `work` returns (or `rejected` / `retried`).
pub(crate) fn consume<F>(
    broker: Broker,
    worker: Worker,
    metrics: &Metrics,
    queue: &'static str,
    spec: QueueSpec,
    work: F,
) -> ConsumerHandle
where
    F: for<'a> Fn(
            &'a Worker,
            &'a Envelope,
            &'a Meta,
        ) -> BoxFuture<'a, Result<&'static str, HandleError>>
        + Send
        + Sync
        + 'static,
{
    let worker = Arc::new(worker);
    let work = Arc::new(work);
    let handler: Handler = Arc::new(move |event, meta| {
        let (worker, work) = (worker.clone(), work.clone());
        Box::pin(async move {
            let outcome = work(&worker, &event, &meta).await;
            worker.count(queue, &outcome);
            outcome.map(|_| ())
        })
    });
    consumer::spawn(broker, spec.observed_by(metrics), handler)
}

pub(crate) fn db_error(e: impl Into<servicekit::db::DbError>) -> HandleError {
    HandleError::Retry(e.into().into())
}

pub(crate) fn malformed(kind: &str, e: serde_json::Error) -> HandleError {
    HandleError::Reject(anyhow::anyhow!("malformed {kind}: {e}"))
}

pub(crate) fn encode_error(e: serde_json::Error) -> HandleError {
    HandleError::Retry(e.into())
}
