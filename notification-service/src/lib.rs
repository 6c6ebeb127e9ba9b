//! notification-service: turns events into messages to passengers (OTPs by SMS, e-tickets
//! and booking news by e-mail), delivers them through a [`channel::Channel`], and keeps every
//! delivered message in the user's inbox (`GET /api/notifications`, `docs/api.md`).
//!
//! Events come from durable quorum queues ([`consumers`]); each message is delivered first
//! and recorded after ([`notify`]), so a message that cannot be delivered is retried with
//! back-off and parked after its queue's delivery limit, and a duplicate delivery of an event
//! yields one inbox entry.

pub mod channel;
pub mod consumers;
mod metrics;
pub mod notify;
pub mod render;
mod routes;

pub use routes::api;
pub mod settings;
pub mod startup;
pub mod store;
