//! booking-service against the real PostgreSQL, Redis and RabbitMQ.
#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests fail by panicking.

mod admin_console;
mod bookings;
mod cli;
mod confirm;
mod consistency;
mod failover;
mod faults;
mod helpers;
mod live;
mod parked;
mod queue;
mod races;
mod saga;
mod sales;
mod select;
mod tickets;
mod trip_cancel;
