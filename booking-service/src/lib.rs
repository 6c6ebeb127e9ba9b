//! booking-service: seat selection with Redis holds, confirmation in PostgreSQL with the
//! transactional outbox, the live seat map, the caller's bookings (`docs/api.md`, bookings), and
//! the booking's side of the saga: payment outcomes and the sweeper that expires unpaid
//! bookings; and the waiting room of a sale (`queue`, `docs/api.md`, "The fair rush").

mod admin;
mod cancel;
mod confirms;
mod expiries;
mod holds;
pub mod hot_trips;
pub mod inventory;
mod lifecycle;
mod live;
mod markers;
pub mod payments;
pub mod queue;
mod reconcile;
pub mod refunds;
mod routes;

pub use routes::api;
pub mod seats;
pub mod settings;
pub mod startup;
mod state;
mod store;
pub mod sweeper;
pub mod tickets;
pub mod trip_cancel;
