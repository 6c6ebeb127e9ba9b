//! payment-service against the real PostgreSQL and RabbitMQ.
#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests fail by panicking.

mod admin;
mod booking_service;
mod charges;
mod cli;
mod fake_stripe;
mod fixtures;
mod helpers;
mod http;
mod https;
mod kill;
mod redelivery;
mod refunds;
mod retry;
