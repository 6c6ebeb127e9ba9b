//! train-service against the real PostgreSQL, Redis and RabbitMQ.
#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests fail by panicking.

mod admin;
mod admin_validation;
mod availability;
mod cancellations;
mod cli;
mod errors;
mod health;
mod helpers;
mod sales;
mod sales_closed;
mod search;
mod seed;
mod trips;
