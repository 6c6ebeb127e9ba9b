//! The booking saga across all five services, each started in-process on its own database
//! and sharing one test exchange on the real RabbitMQ (`e2e::stack`): confirm → charge →
//! paid → ticket, and its failures (declined and retried, unpaid and expired, cancelled and
//! refunded, the broker unreachable), and the railway cancelling a whole trip, each followed
//! by the consistency check.
#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests fail by panicking.

mod flows;
mod trip_cancel;
