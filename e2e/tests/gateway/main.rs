//! The nginx gateway against the real nginx, rendered by nginx/render.sh as the local stack
//! and the image render it (`e2e::gateway`): the burst arithmetic of every limit,
//! which address the limits key on (a spoofed X-Forwarded-For changes nothing unless it comes
//! from a trusted proxy), the gateway's own JSON errors, headers on every kind of answer, and Server-Sent Events
//! from the real booking-service through it, spread over several booking replicas.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod client_address;
mod errors;
mod headers;
mod limits;
mod queue;
mod replicas;
mod sse;
mod support;
mod tickets;
