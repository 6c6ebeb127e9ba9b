//! servicekit's own behaviour, through services built with its kernel against the real
//! PostgreSQL, Redis and RabbitMQ, each test in its own `TestEnv`: stopping under load,
//! consumer outcomes, batched consumers, the HTTP error shape and extractors, health,
//! idempotency, retention, parked messages and the hot-path Redis connection.
#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests fail by panicking.

mod batch;
mod consumer;
mod health;
mod http;
mod idempotency;
mod multiplexed;
mod outbox;
mod parked;
mod retention;
mod stop;
mod support;
