//! What the operator console reads from booking-service (role `admin`, `routes::admin`):
//!
//! - [`sales`]: a date's trips with live numbers (sold, held, free per class, boarded, sold
//!   in the last minute, the cancellation's progress, the waiting room);
//! - [`lookup`]: any passenger's bookings by booking id, ticket code or user id, each with
//!   its history (its own steps and the events the outbox holds for it).
//!
//! Both read the stores directly (PostgreSQL, and Redis for the held seats); neither is on
//! a passenger's path.

pub mod lookup;
pub mod sales;
