//! What the HTTP handlers share.

use servicekit::db::PgPool;
use servicekit::outbox::OutboxRelay;

#[derive(Clone)]
pub struct PaymentState {
    pub db: PgPool,
    pub relay: OutboxRelay,
}
