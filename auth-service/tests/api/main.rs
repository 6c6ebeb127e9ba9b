//! auth-service against the real PostgreSQL, Redis and RabbitMQ.
#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests fail by panicking.

mod admin_users;
mod cli;
mod errors;
mod fake_nid;
mod health;
mod helpers;
mod lockout;
mod login;
mod nid;
mod otp;
mod register;
mod roles;
mod tokens;
