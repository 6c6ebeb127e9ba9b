//! The services on stores other than the local plain-text ones: PostgreSQL and Redis behind
//! TLS, and a Redis Cluster. Each test starts its own servers.

#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests fail by panicking.

mod broker;
mod cluster;
mod path;
mod tls;
