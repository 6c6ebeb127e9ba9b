//! payment-service: charges bookings through a payment gateway when `booking.confirmed`
//! arrives, refunds cancelled paid bookings, and answers the `/api/payments` routes of
//! `docs/api.md` (status and retry). Outcomes leave through the outbox as `payment.succeeded`,
//! `payment.failed` and `payment.refunded`.

pub mod bookings;
pub mod charges;
pub mod gateway;
pub mod metrics;
pub mod refunds;
mod routes;

pub use routes::api;
pub mod settings;
pub mod startup;
mod state;
pub mod store;
pub mod worker;
