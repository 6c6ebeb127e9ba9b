//! What the HTTP handlers share.

use crate::bookings::Bookings;
use servicekit::db::PgPool;
use servicekit::outbox::OutboxRelay;
use std::sync::Arc;

#[derive(Clone)]
pub struct PaymentState {
    pub db: PgPool,
    pub relay: OutboxRelay,
    pub bookings: Arc<Bookings>,
}
