//! The catalogue in PostgreSQL: what the public, internal and admin endpoints read and
//! write. Reads are in [`trips`], creation in [`create`]; both take any client, so a caller
//! can run them inside its own transaction.

pub mod create;
pub mod trips;

use crate::domain::SeatClass;
use chrono::{DateTime, Utc};
use serde::Serialize;

/// Dates of trips (`service_date`) are the departure's calendar date in this zone.
pub const SERVICE_TIME_ZONE: &str = "Asia/Dhaka";

#[derive(Clone, Debug, Serialize)]
pub struct Station {
    pub code: String,
    pub name: String,
}

#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct TrainRef {
    pub number: String,
    pub name: String,
}

/// `Trip` of `docs/api.md`.
#[derive(Clone, Debug, Serialize)]
pub struct Trip {
    pub trip_id: i64,
    pub train: TrainRef,
    pub from: String,
    pub to: String,
    pub departs_at: DateTime<Utc>,
    pub arrives_at: DateTime<Utc>,
    /// When its seats go on sale (selecting earlier is 409 `sales_not_open`).
    pub sales_open_at: DateTime<Utc>,
    /// The railway closed its sales (selecting is 409 `sales_closed` until reopened).
    pub sales_closed: bool,
    pub classes: Vec<ClassAvailability>,
}

#[derive(Clone, Debug, Serialize)]
pub struct ClassAvailability {
    pub class: SeatClass,
    /// Poisha.
    pub fare: i64,
    pub seats_total: i32,
    pub seats_available: i32,
}

/// One seat of a trip, with its coach, class and fare.
#[derive(Clone, Debug, Serialize)]
pub struct TripSeat {
    pub seat_id: i32,
    pub label: String,
    pub coach: String,
    pub class: SeatClass,
    pub fare: i64,
}

/// Where a trip is found by search: the key of its cached results.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Route {
    pub from: String,
    pub to: String,
    pub date: chrono::NaiveDate,
}
