//! booking-service: seat selection with Redis holds, confirmation in PostgreSQL with the
//! transactional outbox, the live seat map, and the caller's bookings (`API.md`, bookings).

mod holds;
mod inventory;
mod live;
mod markers;
mod routes;
pub mod seats;
pub mod settings;
pub mod startup;
mod state;
mod store;
