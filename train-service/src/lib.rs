//! train-service: stations, trains, dated trips with fares, search with per-class
//! availability (kept from booking events), the seat inventory booking-service caches, admin
//! endpoints and the seed command (`docs/api.md`, trains section).

pub mod availability;
pub mod cancellations;
pub mod catalogue;
pub mod domain;
pub mod metrics;
mod routes;

pub use routes::api;
pub mod search_cache;
pub mod seed;
pub mod settings;
pub mod startup;
mod state;
