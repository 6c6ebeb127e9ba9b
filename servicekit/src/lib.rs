//! What every RailRush service needs: settings, the PostgreSQL, Redis and RabbitMQ plumbing,
//! the event envelope, JWT issuing and verifying, the error shape, health, metrics and
//! tracing, the command line ([`cli`]), and the kernel ([`service`]) that assembles, runs and
//! stops a service from them. Each service is a library built on these plus a thin `main.rs`.

pub mod amqp;
pub mod auth;
pub mod cache;
pub mod cli;
pub mod config;
pub mod consumer;
pub mod db;
pub mod error;
pub mod events;
pub mod health;
pub mod http;
pub mod idempotency;
pub mod internal;
pub mod limit;
pub mod metrics;
pub mod openapi;
pub mod outbox;
pub mod parked;
pub mod retention;
pub mod service;
pub mod telemetry;
#[cfg(feature = "testing")]
pub mod testing;
pub mod tls;

pub use error::ApiError;

/// The services' memory allocator (mimalloc), set in each binary with
/// `#[global_allocator] static ALLOCATOR: servicekit::Allocator = servicekit::Allocator;`.
/// glibc's `malloc` and `free` were 9% of booking-service's CPU samples in the saga's
/// profile (bench/profile-saga.sh); see BENCHMARKS.md.
pub use mimalloc::MiMalloc as Allocator;
