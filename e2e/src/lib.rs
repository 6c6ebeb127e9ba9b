//! What checks the platform as a whole: the consistency check run after any test or load run
//! ([`consistency`]), a TCP proxy that tests cut to make a store unreachable ([`proxy`]),
//! and the real nginx gateway started for tests ([`gateway`]); passengers signed up for the
//! load drivers ([`signup`]) and their latency figures ([`bench`]). With the feature `chaos`, the
//! chaos harness ([`chaos`], the `chaos` binary, `bench/chaos.sh`). With the feature `stack`
//! (the test targets' own), the services started in-process for a test ([`services`]) and
//! the whole platform on them ([`stack`]). The end-to-end saga tests are in `tests/saga`,
//! the gateway's tests in `tests/gateway`.

pub mod bench;
#[cfg(feature = "chaos")]
pub mod chaos;
pub mod consistency;
pub mod gateway;
#[cfg(feature = "openapi")]
pub mod openapi;
pub mod proxy;
#[cfg(feature = "stack")]
#[allow(clippy::unwrap_used, clippy::expect_used)] // Test support: a failure fails the test.
pub mod services;
pub mod signup;
#[cfg(feature = "stack")]
#[allow(clippy::unwrap_used, clippy::expect_used)] // Test support: a failure fails the test.
pub mod stack;
