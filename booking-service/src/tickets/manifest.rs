//! A trip's manifest: what a conductor's phone downloads to check the trip's tickets offline
//! (`GET /api/tickets/trips/{trip_id}/manifest`). Every booking of the trip that was ever
//! paid is listed, with its status now, so that a ticket signed before a cancellation is
//! still refused offline; and its boarding, so that a ticket boarded on another device before
//! the download is `already boarded`.
//!
//! A booking's `status` here is the state an offline check needs: `paid`, `cancelled`, or
//! `expired` (paid once but no longer, for a reason other than a cancellation).

use super::keys::PublicKey;
use chrono::{DateTime, Utc};
use deadpool_postgres::GenericClient;
use serde::Serialize;
use servicekit::db::DbError;
use servicekit::events::Passenger;
use uuid::Uuid;

/// The manifest's journey, as the ticket prints it.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct ManifestTrip {
    pub train: super::TicketTrain,
    /// Station codes.
    pub from: String,
    pub to: String,
    pub departs_at: DateTime<Utc>,
}

/// One booking of the trip that was paid.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct ManifestTicket {
    pub booking_id: Uuid,
    /// `paid`, `cancelled` or `expired`.
    #[schema(example = "paid")]
    pub status: &'static str,
    pub seat_ids: Vec<i32>,
    /// The passengers' names, in booking order.
    pub passengers: Vec<String>,
    /// When it was boarded, if it was.
    pub boarded_at: Option<DateTime<Utc>>,
    /// The device that boarded it (`device` of `POST /api/tickets/board`).
    pub device: Option<String>,
}

/// What a conductor's phone downloads to check a trip's tickets offline.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct Manifest {
    pub trip_id: i64,
    pub generated_at: DateTime<Utc>,
    pub trip: ManifestTrip,
    /// A ticket is `expired` this many hours after its train's departure (booking-service's
    /// `tickets.valid_hours_after_departure`).
    pub valid_hours_after_departure: u32,
    /// The keys of `GET /api/tickets/keys`.
    pub keys: Vec<PublicKey>,
    /// Every booking of the trip that was ever paid, in booking id order.
    pub tickets: Vec<ManifestTicket>,
}

fn status(stored: &str) -> &'static str {
    match stored {
        "paid" => "paid",
        "cancelled" => "cancelled",
        _ => "expired",
    }
}

/// The trip's bookings that were ever paid (`paid_at` is set once, when the payment is
/// applied, and kept through a cancellation), with their boardings.
pub async fn tickets(
    db: &impl GenericClient,
    trip_id: i64,
) -> Result<Vec<ManifestTicket>, DbError> {
    let rows = db
        .query(
            "SELECT b.id, b.status, \
                    array(SELECT s.seat_id FROM booking_seats s WHERE s.booking_id = b.id \
                          ORDER BY s.seat_id), \
                    b.passengers, g.boarded_at, g.device \
             FROM bookings b LEFT JOIN boardings g ON g.booking_id = b.id \
             WHERE b.trip_id = $1 AND b.paid_at IS NOT NULL \
             ORDER BY b.id",
            &[&trip_id],
        )
        .await?;
    rows.iter()
        .map(|r| {
            let passengers: Vec<Passenger> =
                serde_json::from_value(r.get(3)).map_err(DbError::decode)?;
            Ok(ManifestTicket {
                booking_id: r.get(0),
                status: status(r.get(1)),
                seat_ids: r.get(2),
                passengers: passengers.into_iter().map(|p| p.name).collect(),
                boarded_at: r.get(4),
                device: r.get(5),
            })
        })
        .collect()
}
