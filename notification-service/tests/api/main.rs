//! notification-service against the real PostgreSQL and RabbitMQ.
#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests fail by panicking.

mod admin;
mod bookings;
mod cli;
mod delivery;
mod fixtures;
mod health;
mod helpers;
mod http_sms;
mod inbox;
mod otp;
mod smtp;
mod test_channel;
mod tickets;
