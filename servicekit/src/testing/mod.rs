//! Test support (feature `testing`), shared by every service's tests and the end-to-end
//! tests.
//!
//! - [`TestEnv`]: each test's own database, Redis key prefix and RabbitMQ exchange and queue
//!   prefix, all removed when it drops, so tests run in parallel against the real servers
//!   (`TEST_DATABASE_URL`, an admin connection; `TEST_REDIS_URL`; `TEST_AMQP_URL`) and leave
//!   nothing behind.
//! - [`TestApp`]: one way to start any service in a test (`TestApp::spawn(env,
//!   startup::build(settings))`), with requests, the database, publishing, `/metrics`
//!   values and a graceful stop.
//! - [`eventually`] and [`poll`]: waiting for what happens in the background, one
//!   timeout ([`WAIT`]) for every test.
//! - Tokens and users signed with the test keys ([`keys`], [`user`]), the broker side
//!   ([`Listener`], [`publish`], [`queue_depth`]), the error shape ([`assert_error`]), and
//!   private servers ([`servers`]), and private stores a chaos run restarts ([`stores`]).
//! - The parked-message admin routes of a consuming service, checked with a poison message
//!   ([`parked::check_parked_routes`]).

mod app;
mod broker;
pub mod cli;
mod env;
mod eventually;
mod http;
mod keys;
pub mod metrics;
pub mod parked;
pub mod servers;
pub mod stores;

pub use app::{Requests, TestApp};
pub use broker::{Listener, park, publish, publish_raw, queue_depth, wait_for_queue};
pub use env::{TestEnv, admin_database_url, amqp_url, delete_exchanges, redis_url};
pub use eventually::{
    WAIT, eventually, eventually_within, lock_waiters, poll, processed_transactions,
};
pub use http::{assert_error, scrape, wait_ready};
pub use keys::{
    TestKeys, User, jwt_settings, keys, sign_claims, sign_legacy_token, sign_token, user,
    user_token, verified_user,
};
