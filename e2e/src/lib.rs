//! What checks the platform as a whole: the consistency check run after any test or load run
//! ([`consistency`]), a TCP proxy that tests cut to make a store unreachable ([`proxy`]),
//! and the real nginx gateway started for tests ([`gateway`]). The end-to-end saga tests
//! are in `tests/saga`, the gateway's tests in `tests/gateway`.

pub mod consistency;
pub mod gateway;
pub mod proxy;
