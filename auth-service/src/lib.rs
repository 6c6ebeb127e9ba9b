//! auth-service: registration, password and OTP login, JWT access tokens and rotating
//! refresh tokens (`docs/api.md`, auth section).

pub mod admin;
pub mod domain;
mod metrics;
pub mod nid;
mod otp;
mod password;
mod refresh;
mod routes;

pub use routes::api;
pub mod settings;
pub mod startup;
mod state;
mod throttle;
mod users;
