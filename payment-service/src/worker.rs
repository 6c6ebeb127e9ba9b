//! What the charge and refund workers share: their dependencies, and the one consumer type
//! that runs either job on its queue.

use crate::gateway::PaymentGateway;
use crate::metrics::PaymentMetrics;
use crate::{charges, refunds};
use servicekit::amqp::Envelope;
use servicekit::consumer::{HandleError, Handler, Meta, Outcomes, Subscription};
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

/// The jobs of this service's workers, one queue each.
#[derive(Clone, Copy, Debug)]
pub enum Job {
    /// `charges::SUBSCRIPTION`: charge confirmed bookings and requested retries.
    Charge,
    /// `refunds::SUBSCRIPTION`: refund or close the payments of closed bookings.
    Refund,
}

/// The consumer of one [`Job`]'s queue; outcomes are counted per queue.
pub struct Consumer {
    pub worker: Worker,
    pub job: Job,
}

impl Handler for Consumer {
    fn subscription(&self) -> Subscription {
        match self.job {
            Job::Charge => charges::SUBSCRIPTION,
            Job::Refund => refunds::SUBSCRIPTION,
        }
    }

    fn outcomes(&self) -> Option<Outcomes> {
        let queue = self.subscription().queue;
        Some(Outcomes::labelled(
            self.worker.metrics.events.clone(),
            &[queue],
        ))
    }

    async fn handle(&self, event: Envelope, meta: Meta) -> Result<&'static str, HandleError> {
        match self.job {
            Job::Charge => charges::charge(&self.worker, &event, &meta).await,
            Job::Refund => refunds::refund(&self.worker, &event, &meta).await,
        }
    }

    async fn handle_batch(
        &self,
        events: Vec<(Envelope, Meta)>,
    ) -> Vec<Result<&'static str, HandleError>> {
        match self.job {
            Job::Charge => charges::charge_all(&self.worker, &events).await,
            // Not batched (its subscription takes one at a time): each on its own.
            Job::Refund => {
                let each = events
                    .iter()
                    .map(|(event, meta)| refunds::refund(&self.worker, event, meta));
                futures_util::future::join_all(each).await
            }
        }
    }
}
