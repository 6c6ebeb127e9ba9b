//! The nginx gateway against the real nginx, rendered from the same templates and profiles
//! as the local stack and the images (`e2e::gateway`): the burst arithmetic of every limit,
//! the gateway's own JSON errors, headers on every kind of answer, and Server-Sent Events
//! from the real booking-service through it.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod errors;
mod headers;
mod limits;
mod render;
mod sse;
#[allow(dead_code)]
#[path = "../saga/stack.rs"]
mod stack;
mod support;
