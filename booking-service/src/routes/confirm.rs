use crate::confirms::{Confirmation, Outcome};
use crate::expiries;
use crate::holds::{self, HoldRecord};
use crate::inventory::InventoryError;
use crate::reconcile;
use crate::seats;
use crate::state::BookingState;
use crate::store;
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use anyhow::{Context, anyhow};
use chrono::{SubsecRound, Utc};
use serde::Deserialize;
use serde_json::json;
use servicekit::ApiError;
use servicekit::amqp::Envelope;
use servicekit::auth::AuthUser;
use servicekit::cache::CacheError;
use servicekit::db::DbError;
use servicekit::error::Code;
use servicekit::events::{self, BookedSeat, BookingConfirmed, Passenger};
use servicekit::http::{JsonBody, RequestId};
use servicekit::idempotency::Claimed;
use servicekit::outbox;
use uuid::Uuid;

#[derive(Deserialize, utoipa::ToSchema)]
pub struct ConfirmRequest {
    hold_id: Uuid,
    /// One per seat of the hold.
    #[schema(min_items = 1, max_items = 4)]
    passengers: Vec<Passenger>,
    /// A test card token such as `tok_visa` (or a real gateway's token).
    #[schema(
        min_length = 1,
        max_length = 255,
        pattern = r"^[^\x00-\x08\x0b\x0c\x0e-\x1f]+$",
        example = "tok_visa"
    )]
    payment_token: String,
}

fn validate(body: &ConfirmRequest, seats: usize) -> Result<(), ApiError> {
    if body.passengers.len() != seats {
        return Err(ApiError::invalid_field(
            "passengers",
            format!("give one passenger per seat ({seats})"),
        ));
    }
    for p in &body.passengers {
        let n = p.name.trim().chars().count();
        if n == 0 || n > 100 || p.name.chars().any(char::is_control) {
            return Err(ApiError::invalid_field(
                "passengers",
                "each passenger needs a name of 1 to 100 characters",
            ));
        }
    }
    let token = body.payment_token.trim();
    if token.is_empty() || token.len() > 255 {
        return Err(ApiError::invalid_field(
            "payment_token",
            "a payment token is required",
        ));
    }
    Ok(())
}

/// What can refuse a confirmation besides a malformed request.
#[derive(Debug, thiserror::Error)]
pub enum ConfirmError {
    #[error("no such hold")]
    UnknownHold,
    #[error("the hold has expired; select the seats again")]
    HoldExpired,
    #[error("this hold has already been confirmed")]
    AlreadyConfirmed,
    #[error("the railway cancelled this trip")]
    TripCancelled,
    #[error("a passenger may hold or own at most {0} seats of a trip")]
    SeatLimitReached(usize),
    /// The unique index on live seats fired: Redis let a sold seat be held.
    #[error("some of these seats were sold meanwhile")]
    SeatsSold(Vec<i32>),
    #[error(transparent)]
    Inventory(#[from] InventoryError),
    #[error(transparent)]
    Holds(#[from] CacheError),
    #[error(transparent)]
    Db(#[from] DbError),
    /// The `Idempotency-Key` answer could not be written with the booking.
    #[error("the answer could not be kept")]
    Answer(ApiError),
    /// The batch writer ended without an answer (the service is stopping).
    #[error("the service is stopping")]
    Stopped,
    /// The batch of this confirmation found the database unavailable.
    #[error("the database is unavailable")]
    Unavailable,
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

impl From<ConfirmError> for ApiError {
    fn from(e: ConfirmError) -> Self {
        let message = e.to_string();
        match e {
            ConfirmError::UnknownHold => ApiError::new(Code::NotFound, message),
            ConfirmError::HoldExpired | ConfirmError::AlreadyConfirmed => {
                ApiError::new(Code::HoldExpired, message)
            }
            ConfirmError::SeatLimitReached(_) => ApiError::new(Code::SeatLimitReached, message),
            ConfirmError::TripCancelled => ApiError::new(Code::TripCancelled, message),
            ConfirmError::SeatsSold(seat_ids) => ApiError::new(Code::SeatUnavailable, message)
                .with_details(json!({ "seat_ids": seat_ids })),
            ConfirmError::Inventory(e) => e.into(),
            ConfirmError::Holds(e) => e.into(),
            ConfirmError::Db(e) => e.into(),
            ConfirmError::Answer(e) => e,
            ConfirmError::Stopped | ConfirmError::Unavailable => {
                ApiError::unavailable(anyhow!(message))
            }
            ConfirmError::Unexpected(e) => ApiError::internal(e),
        }
    }
}

/// Turns the caller's live hold into a booking: one transaction writes the booking, its
/// seats (the partial unique index refuses a seat already sold, whatever Redis said), the
/// `booking.confirmed` event and, under an `Idempotency-Key`, the 201 answer (so a retry
/// replays it whatever fails after the commit); then the hold keys become booked markers.
pub async fn confirm(
    state: web::Data<BookingState>,
    req: HttpRequest,
    caller: AuthUser,
    request_id: RequestId,
    claimed: Option<Claimed>,
    JsonBody(body): JsonBody<ConfirmRequest>,
) -> Result<HttpResponse, ApiError> {
    state.limit(caller.id, "confirm", state.user_limits.confirm_per_minute)?;
    state.revocations.check(&caller).await?;
    let hold = holds::load_own(&state.seats, body.hold_id, caller.id)
        .await
        .map_err(ConfirmError::from)?
        .ok_or(ConfirmError::UnknownHold)?;
    validate(&body, hold.seat_ids.len())?;
    let trip = state
        .inventory
        .trip(hold.trip_id)
        .await
        .map_err(ConfirmError::from)?;
    let hold_ttl = chrono::Duration::milliseconds(
        i64::try_from(state.settings.hold_ttl_ms).unwrap_or(i64::MAX / 2),
    );
    state
        .queue
        .require_pass(&req, trip.sales_open_at, caller.id, hold_ttl)?;
    let (booking_id, response) = book(&state, caller.id, &request_id, &hold, &body, claimed)
        .await
        .inspect_err(|e| {
            let outcome = match e {
                ConfirmError::HoldExpired | ConfirmError::AlreadyConfirmed => "expired",
                ConfirmError::SeatsSold(_) => "conflict",
                ConfirmError::TripCancelled => "cancelled",
                _ => return,
            };
            state.metrics.confirms.with_label_values(&[outcome]).inc();
        })?;
    state
        .metrics
        .confirms
        .with_label_values(&["confirmed"])
        .inc();

    let hold_value = seats::hold_value(hold.hold_id, caller.id);
    let booked = seats::booked_value(booking_id, caller.id);
    let expiry = expiries::member(hold.hold_id, caller.id, &hold.seat_ids);
    // The booking is committed; a marker not written (or a seat someone else holds by now)
    // is left to the reconciliation, which the trip is marked for.
    let written = state
        .seats
        .replace(
            (hold.trip_id, hold.hold_id),
            &hold.seat_ids,
            caller.id,
            (&hold_value, &booked),
            &expiry,
        )
        .await;
    let n = hold.seat_ids.len();
    reconcile::unless_all(&state, hold.trip_id, written, n, "writing booked markers").await;
    state.live.publish(hold.trip_id, &hold.seat_ids, "booked");
    Ok(response)
}

/// Writes the booking of `hold` with its `booking.confirmed` event and, when the request
/// claimed an `Idempotency-Key`, its answer; returns its id and the 201 answer.
async fn book(
    state: &BookingState,
    user: Uuid,
    request_id: &RequestId,
    hold: &HoldRecord,
    body: &ConfirmRequest,
    claimed: Option<Claimed>,
) -> Result<(Uuid, HttpResponse), ConfirmError> {
    if hold.expires_at <= Utc::now() {
        return Err(ConfirmError::HoldExpired);
    }
    let trip = state.inventory.trip(hold.trip_id).await?;
    let seats: Vec<BookedSeat> = hold
        .seat_ids
        .iter()
        .map(|&id| {
            trip.seat(id)
                .map(|s| BookedSeat {
                    seat_id: s.seat_id,
                    label: s.label.clone(),
                    coach: s.coach.clone(),
                    class: s.class.clone(),
                    fare: s.fare,
                })
                .ok_or_else(|| anyhow!("seat {id} vanished from trip {}", trip.trip_id))
        })
        .collect::<Result<_, _>>()?;
    let passengers: Vec<Passenger> = body
        .passengers
        .iter()
        .map(|p| Passenger {
            name: p.name.trim().to_owned(),
        })
        .collect();
    let booking_id = Uuid::now_v7();
    let amount = seats.iter().map(|s| s.fare).sum();
    // PostgreSQL keeps microseconds: round here so the event and the row agree exactly.
    let due = (Utc::now()
        + chrono::Duration::seconds(
            i64::try_from(state.settings.payment_window_secs).unwrap_or(600),
        ))
    .trunc_subsecs(6);
    let event = Envelope::new(
        events::BOOKING_CONFIRMED,
        &BookingConfirmed {
            booking_id,
            user_id: user,
            trip_id: hold.trip_id,
            seats: seats.clone(),
            passengers: passengers.clone(),
            amount,
            currency: trip.currency.clone(),
            payment_token: body.payment_token.trim().to_owned(),
            payment_due_at: due,
        },
    )
    .context("encoding booking.confirmed")?;

    let confirmation = Confirmation {
        id: booking_id,
        hold_id: hold.hold_id,
        user_id: user,
        trip_id: hold.trip_id,
        seats,
        passengers,
        amount,
        currency: trip.currency.clone(),
        payment_due_at: due,
        created_at: Utc::now().trunc_subsecs(6),
        event,
        request_id: request_id.0.clone(),
        answer: None,
    };
    let booking = confirmation.booking().answer();
    let answer = match &claimed {
        Some(claimed) => {
            let json = serde_json::to_vec(&booking).context("encoding the answer")?;
            Some((claimed.clone(), json))
        }
        None => None,
    };
    let confirmation = Confirmation {
        answer,
        ..confirmation
    };
    // Written with the confirmations that arrive meanwhile (`crate::confirms`); what the
    // batch could not take is written here, the single way.
    let confirmation = match state.confirms.write(confirmation).await {
        Some(Outcome::Committed(confirmation)) => {
            let response = match confirmation.answer {
                Some((_, json)) => Claimed::response(StatusCode::CREATED, json),
                None => HttpResponse::Created().json(booking),
            };
            return Ok((booking_id, response));
        }
        Some(Outcome::Single(confirmation)) => confirmation,
        Some(Outcome::Unavailable) => return Err(ConfirmError::Unavailable),
        None => return Err(ConfirmError::Stopped),
    };
    let (event, new) = (&confirmation.event, confirmation.booking());
    let limit = usize::try_from(state.settings.max_seats_per_user).unwrap_or(4);

    let mut db = state.db.get().await.map_err(DbError::from)?;
    let tx = db.transaction().await.map_err(DbError::from)?;
    // One flight: the guard's locks and read, the booking, its event and the kept answer are
    // sent together and run in this order; the guard's verdict is checked before the commit
    // (a refusal rolls the writes back).
    let guard = store::ConfirmGuard::prepare(&tx).await?;
    let keep = async {
        match &claimed {
            Some(claimed) => claimed
                .keep(&tx, StatusCode::CREATED, &booking)
                .await
                .map(Some),
            None => Ok(None),
        }
    };
    let (guarded, inserted, enqueued, kept) = tokio::join!(
        biased;
        guard.check(&tx, user, hold.trip_id),
        store::insert(&tx, &new),
        outbox::enqueue(&tx, event, Some(&confirmation.request_id)),
        keep,
    );
    let guarded = guarded?;
    // The database decides: a hold taken before this replica knew of the cancellation.
    if guarded.trip_cancelled {
        return Err(ConfirmError::TripCancelled);
    }
    // The seat rule's final guard (Redis counts it on select, but Redis can forget).
    if guarded.live_seats + new.seats.len() > limit {
        return Err(ConfirmError::SeatLimitReached(limit));
    }
    match inserted {
        Ok(()) => {}
        Err(e) if e.is_unique_violation("booking_seats_live_key") => {
            state.metrics.oversell_guard.inc();
            tracing::warn!(trip = hold.trip_id, seats = ?hold.seat_ids, "oversell guard fired: seat already sold");
            return Err(ConfirmError::SeatsSold(hold.seat_ids.clone()));
        }
        Err(e) if e.is_unique_violation("bookings_hold_key") => {
            return Err(ConfirmError::AlreadyConfirmed);
        }
        Err(e) => return Err(e.into()),
    }
    enqueued.map_err(DbError::from)?;
    let response = match kept.map_err(ConfirmError::Answer)? {
        Some(response) => response,
        None => HttpResponse::Created().json(booking),
    };
    tx.commit().await.map_err(DbError::from)?;
    if let Some(claimed) = &claimed {
        claimed.committed();
    }
    state.relay.wake();
    Ok((booking_id, response))
}
