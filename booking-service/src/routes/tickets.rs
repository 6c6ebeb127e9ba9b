//! `/api/tickets`: the public keys that verify tickets offline, and check-in (verify, board,
//! a trip's manifest for offline checks) for the railway's staff.

use super::positive;
use crate::state::BookingState;
use crate::tickets::TicketTrain;
use crate::tickets::checkin::{self, CheckinError};
use crate::tickets::manifest::{self, Manifest, ManifestTrip};
use actix_web::{HttpResponse, web};
use serde::Deserialize;
use serde_json::json;
use servicekit::ApiError;
use servicekit::auth::{AuthUser, Role};
use servicekit::error::Code;
use servicekit::http::{Id, JsonBody};

#[derive(Deserialize, utoipa::ToSchema)]
pub struct VerifyRequest {
    /// The text of the ticket's QR code (`ticket_qr`).
    #[schema(example = "RRT1.eyJraWQiOi4uLn0.c2lnbmF0dXJl")]
    qr: String,
    /// The trip being checked: a ticket of another trip answers `wrong_trip`.
    #[schema(minimum = 1)]
    trip_id: Option<i64>,
}

#[derive(Deserialize, utoipa::ToSchema)]
pub struct BoardRequest {
    #[schema(example = "RRT1.eyJraWQiOi4uLn0.c2lnbmF0dXJl")]
    qr: String,
    /// The scanning device's name (up to 100 characters): its own second scan of a ticket
    /// answers the first boarding again.
    #[schema(max_length = 100, example = "coach-b-phone-1")]
    device: Option<String>,
    #[schema(minimum = 1)]
    trip_id: Option<i64>,
}

/// Who may check tickets: conductors and admins (the one place the rule lives).
fn require_staff(caller: &AuthUser) -> Result<(), ApiError> {
    caller.require_any(&[Role::Conductor, Role::Admin])
}

/// The longest QR text read: a ticket of 4 passengers is well under 2 KB.
const MAX_QR: usize = 4096;

fn validate(qr: &str, trip_id: Option<i64>) -> Result<(), ApiError> {
    if qr.len() > MAX_QR {
        return Err(ApiError::invalid_field(
            "qr",
            "qr is too long to be a ticket",
        ));
    }
    if let Some(trip) = trip_id {
        positive(trip, "trip_id")?;
    }
    Ok(())
}

impl From<CheckinError> for ApiError {
    fn from(e: CheckinError) -> Self {
        let message = e.to_string();
        match e {
            CheckinError::Invalid(_) => ApiError::new(Code::InvalidTicket, message),
            CheckinError::NotBoardable(state) => {
                ApiError::new(Code::NotBoardable, message).with_details(json!({ "state": state }))
            }
            CheckinError::AlreadyBoarded(first) => ApiError::new(Code::AlreadyBoarded, message)
                .with_details(json!({
                    "boarded_at": first.boarded_at,
                    "device": first.device,
                    "by": first.by,
                })),
            CheckinError::Db(e) => e.into(),
        }
    }
}

/// `GET /api/tickets/keys` (anyone): every key a ticket may be signed with.
pub async fn keys(state: web::Data<BookingState>) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header(("Cache-Control", "public, max-age=300"))
        .json(json!({ "keys": state.tickets.keys.public() }))
}

/// `POST /api/tickets/verify` (conductor, admin): the ticket and its state.
pub async fn verify(
    state: web::Data<BookingState>,
    caller: AuthUser,
    JsonBody(body): JsonBody<VerifyRequest>,
) -> Result<HttpResponse, ApiError> {
    require_staff(&caller)?;
    validate(&body.qr, body.trip_id)?;
    let result = match checkin::open(&state.tickets, &body.qr) {
        Ok(ticket) => {
            let db = state.db.get().await?;
            checkin::verify(&db, &state.tickets, ticket, body.trip_id).await
        }
        Err(e) => Err(e),
    };
    let label = match &result {
        Ok(checked) => Some(checked.state.as_str()),
        Err(CheckinError::Db(_)) => None,
        Err(_) => Some("invalid"),
    };
    if let Some(label) = label {
        state
            .tickets
            .metrics
            .verified
            .with_label_values(&[label])
            .inc();
    }
    Ok(HttpResponse::Ok().json(result?))
}

/// `POST /api/tickets/board` (conductor, admin): boards the ticket once.
pub async fn board(
    state: web::Data<BookingState>,
    caller: AuthUser,
    JsonBody(body): JsonBody<BoardRequest>,
) -> Result<HttpResponse, ApiError> {
    require_staff(&caller)?;
    validate(&body.qr, body.trip_id)?;
    let device = body
        .device
        .as_deref()
        .map(str::trim)
        .filter(|d| !d.is_empty());
    if device.is_some_and(|d| d.chars().count() > 100) {
        return Err(ApiError::invalid_field(
            "device",
            "device is at most 100 characters",
        ));
    }
    let outcome = |label: &str| {
        state
            .tickets
            .metrics
            .boarded
            .with_label_values(&[label])
            .inc()
    };
    let result = match checkin::open(&state.tickets, &body.qr) {
        Ok(ticket) => {
            let mut db = state.db.get().await?;
            checkin::board(
                &mut db,
                &state.tickets,
                ticket,
                body.trip_id,
                device,
                caller.id,
            )
            .await
        }
        Err(e) => Err(e),
    };
    match result {
        Ok((checked, first)) => {
            outcome(if first {
                "boarded"
            } else {
                "again_same_device"
            });
            Ok(HttpResponse::Ok().json(checked))
        }
        Err(e) => {
            match &e {
                CheckinError::Invalid(_) => outcome("invalid"),
                CheckinError::NotBoardable(s) => outcome(s.as_str()),
                CheckinError::AlreadyBoarded(_) => outcome("already_boarded"),
                CheckinError::Db(_) => {}
            }
            Err(e.into())
        }
    }
}

/// `GET /api/tickets/trips/{trip_id}/manifest` (conductor, admin): the keys and every ticket
/// of the trip, to check it offline. 404 for a trip train-service does not know.
pub async fn trip_manifest(
    state: web::Data<BookingState>,
    caller: AuthUser,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    require_staff(&caller)?;
    let trip_id = positive(Id::parse(&path, "trip_id")?, "trip_id")?;
    let trip = state.inventory.trip(trip_id).await?;
    let generated_at = chrono::Utc::now();
    let tickets = manifest::tickets(&state.db.get().await?, trip_id).await?;
    let answer = Manifest {
        trip_id,
        generated_at,
        trip: ManifestTrip {
            train: TicketTrain {
                number: trip.train.number.clone(),
                name: trip.train.name.clone(),
            },
            from: trip.from.clone(),
            to: trip.to.clone(),
            departs_at: trip.departs_at,
        },
        valid_hours_after_departure: state.tickets.settings.valid_hours_after_departure,
        keys: state.tickets.keys.public(),
        tickets,
    };
    Ok(HttpResponse::Ok()
        .insert_header(("Cache-Control", "no-store"))
        .json(answer))
}
