//! What checks the platform as a whole: the consistency check run after any test or load run
//! ([`consistency`]), and a TCP proxy that tests cut to make a store unreachable
//! ([`proxy`]). The end-to-end saga tests are in `tests/saga`.

pub mod consistency;
pub mod proxy;
