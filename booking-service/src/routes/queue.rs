//! `/api/queue/...`: the sales and their waiting rooms (`docs/api.md`, "The fair rush").

use crate::queue::room::{Joined, Spot};
use crate::queue::sales::{self, SaleTrips};
use crate::queue::{SaleState, WaitingRoom};
use crate::state::BookingState;
use actix_web::http::header;
use actix_web::{HttpResponse, web};
use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::json;
use servicekit::ApiError;
use servicekit::auth::AuthUser;
use servicekit::error::Code;
use uuid::Uuid;

#[derive(Serialize)]
struct Sale {
    sale_id: String,
    opens_at: DateTime<Utc>,
    state: SaleState,
    trip_ids: Vec<i64>,
    /// Whether select and confirm for its trips need a pass now.
    waiting_room: bool,
    pre_queue_opens_at: DateTime<Utc>,
}

#[derive(Serialize)]
struct SaleStatus {
    sale_id: String,
    state: SaleState,
    opens_at: DateTime<Utc>,
    now_serving: i64,
    waiting: i64,
    admitted_per_minute: i64,
    waiting_room: bool,
    pre_queue_opens_at: DateTime<Utc>,
}

#[derive(Clone, Copy, Serialize)]
#[serde(rename_all = "snake_case")]
enum PlaceState {
    Waiting,
    Admitted,
    SoldOut,
    Expired,
}

#[derive(Serialize)]
struct Place {
    sale_id: String,
    state: PlaceState,
    number: Option<i64>,
    position: Option<i64>,
    ahead: Option<i64>,
    estimated_wait_s: Option<i64>,
    pass: Option<String>,
    pass_expires_at: Option<DateTime<Utc>>,
}

impl Place {
    fn bare(sale_id: &str, state: PlaceState, number: Option<i64>) -> Self {
        Self {
            sale_id: sale_id.to_owned(),
            state,
            number,
            position: None,
            ahead: None,
            estimated_wait_s: None,
            pass: None,
            pass_expires_at: None,
        }
    }
}

/// The sale `sale_id` names; 404 for an unknown or malformed id.
fn sale(room: &WaitingRoom, sale_id: &str) -> Result<SaleTrips, ApiError> {
    sales::opens_at(sale_id)
        .and_then(|_| room.sales.get(sale_id))
        .ok_or_else(|| ApiError::not_found("no such sale"))
}

/// Until the first list of sales arrives, 503 rather than "no such sale".
fn ensure_known(room: &WaitingRoom) -> Result<(), ApiError> {
    if room.sales.all().is_empty() && !room.sales.fetched() {
        return Err(ApiError::unavailable(anyhow::anyhow!(
            "the sales are not known yet"
        )));
    }
    Ok(())
}

/// `GET /api/queue/sales`: every sale not closed for more than a day, by opening.
pub async fn list(state: web::Data<BookingState>) -> Result<HttpResponse, ApiError> {
    let room = &state.queue;
    ensure_known(room)?;
    let now = Utc::now();
    let mut sales: Vec<Sale> = room
        .sales
        .all()
        .iter()
        .map(|(id, s)| Sale {
            sale_id: id.clone(),
            opens_at: s.opens_at,
            state: room.state(s, now, room.is_numbered(id)),
            trip_ids: s.trip_ids.clone(),
            waiting_room: room.is_active(id),
            pre_queue_opens_at: room.pre_queue_opens(s.opens_at),
        })
        .collect();
    sales.sort_by_key(|s| s.opens_at);
    Ok(HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "public, max-age=1"))
        .json(json!({ "sales": sales })))
}

/// `GET /api/queue/sales/{sale_id}`: the same answer for every caller (cacheable for 1 s).
pub async fn status(
    state: web::Data<BookingState>,
    sale_id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let room = &state.queue;
    ensure_known(room)?;
    let sale = sale(room, &sale_id)?;
    let kept = room.rooms.status(&sale_id).await?.unwrap_or_default();
    let now = Utc::now();
    let numbered = kept.assigned || !room.is_active(&sale_id);
    let body = SaleStatus {
        sale_id: sale_id.clone(),
        state: room.state(&sale, now, numbered),
        opens_at: sale.opens_at,
        now_serving: kept.serving,
        waiting: if kept.ended { 0 } else { kept.waiting() },
        admitted_per_minute: kept.admitted_per_minute,
        waiting_room: room.is_active(&sale_id),
        pre_queue_opens_at: room.pre_queue_opens(sale.opens_at),
    };
    Ok(HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "public, max-age=1"))
        .json(body))
}

/// `POST /api/queue/sales/{sale_id}/join`: one place per account.
pub async fn join(
    state: web::Data<BookingState>,
    caller: AuthUser,
    sale_id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    state.limit(caller.id, "join", state.user_limits.join_per_minute)?;
    let room = &state.queue;
    ensure_known(room)?;
    let sale = sale(room, &sale_id)?;
    let mut missing = Vec::new();
    if !caller.verified.phone {
        missing.push("phone");
    }
    if !caller.verified.nid {
        missing.push("nid");
    }
    if !missing.is_empty() {
        return Err(ApiError::new(
            Code::VerificationRequired,
            "joining a waiting room needs a verified phone (sign in with a one-time code) and a \
             verified national ID",
        )
        .with_details(json!({ "missing": missing })));
    }
    let now = Utc::now();
    match room.state(&sale, now, true) {
        SaleState::Upcoming => {
            return Err(ApiError::new(
                Code::QueueClosed,
                "the waiting room of this sale is not open yet",
            )
            .with_details(json!({ "pre_queue_opens_at": room.pre_queue_opens(sale.opens_at) })));
        }
        SaleState::Closed => {
            return Err(ApiError::new(Code::QueueClosed, "this sale is closed"));
        }
        SaleState::SoldOut => {
            return Err(ApiError::new(
                Code::SoldOut,
                "every seat of this sale is sold",
            ));
        }
        SaleState::PreQueue | SaleState::Open => {}
    }
    let pass_ms = room.pass_lifetime().num_milliseconds();
    let ms = now.timestamp_millis();
    let mut joined = room.rooms.join(&sale_id, caller.id, ms, pass_ms).await?;
    if joined == Joined::NoRoom && now < sale.opens_at {
        // The pre-queue is open but the job has not made the room yet: make it here.
        room.rooms
            .create(&sale_id, sale.opens_at.timestamp_millis(), ms)
            .await?;
        joined = room.rooms.join(&sale_id, caller.id, ms, pass_ms).await?;
    }
    if joined == Joined::NoRoom {
        // A sale with no waiting room (or one that ended): the caller is let in at once.
        room.rooms.join_free(&sale_id, caller.id).await?;
    }
    room.metrics.joins.inc();
    let place = place_of(room, &sale, caller.id, now).await?;
    Ok(HttpResponse::Ok().json(place))
}

/// `GET /api/queue/sales/{sale_id}/place`: asking is also what keeps the place.
pub async fn place(
    state: web::Data<BookingState>,
    caller: AuthUser,
    sale_id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    state.limit(caller.id, "place", state.user_limits.place_per_minute)?;
    let room = &state.queue;
    ensure_known(room)?;
    let sale = sale(room, &sale_id)?;
    let place = place_of(room, &sale, caller.id, Utc::now()).await?;
    Ok(HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(place))
}

async fn place_of(
    room: &WaitingRoom,
    sale: &SaleTrips,
    user: Uuid,
    now: DateTime<Utc>,
) -> Result<Place, ApiError> {
    let id = sale.id();
    let pass_ms = room.pass_lifetime().num_milliseconds();
    let spot = room
        .rooms
        .place(&id, user, now.timestamp_millis(), pass_ms)
        .await?;
    let spot = match spot {
        // Joined where no room was (or after it ended; a place lost earlier counts no more).
        Spot::None | Spot::Gone { .. } if room.rooms.joined_free(&id, user).await? => {
            return Ok(admitted(room, &id, user, None, now));
        }
        Spot::None => return Err(ApiError::not_found("you have not joined this sale's queue")),
        spot => spot,
    };
    if sale.sold_out() {
        return Ok(Place::bare(&id, PlaceState::SoldOut, number_of(&spot)));
    }
    let per_second = room.settings.admit_per_minute.max(1) as f64 / 60.0;
    Ok(match spot {
        Spot::None => Place::bare(&id, PlaceState::Expired, None),
        Spot::PreQueue => Place {
            // Shuffled at the opening: no number yet; at least the time to the opening.
            estimated_wait_s: Some((sale.opens_at - now).num_seconds().max(0)),
            ..Place::bare(&id, PlaceState::Waiting, None)
        },
        Spot::Waiting { number, serving } => {
            let position = (number - serving).max(1);
            let wait = (position as f64 / per_second).ceil() as i64;
            let until_open = (sale.opens_at - now).num_seconds().max(0);
            Place {
                position: Some(position),
                ahead: Some(position - 1),
                estimated_wait_s: Some(wait + until_open),
                ..Place::bare(&id, PlaceState::Waiting, Some(number))
            }
        }
        Spot::Admitted {
            number,
            since_ms,
            waited_ms,
        } => {
            if let Some(waited) = waited_ms {
                room.metrics
                    .waited_seconds
                    .observe(waited.max(0) as f64 / 1000.0);
            }
            let since = DateTime::from_timestamp_millis(since_ms).unwrap_or(now);
            admitted(room, &id, user, Some(number), since)
        }
        Spot::Gone { number } => Place::bare(&id, PlaceState::Expired, Some(number)),
    })
}

fn number_of(spot: &Spot) -> Option<i64> {
    match spot {
        Spot::Waiting { number, .. } | Spot::Admitted { number, .. } | Spot::Gone { number } => {
            Some(*number)
        }
        Spot::None | Spot::PreQueue => None,
    }
}

/// An admitted place, with a pass that runs from `since`.
fn admitted(
    room: &WaitingRoom,
    sale_id: &str,
    user: Uuid,
    number: Option<i64>,
    since: DateTime<Utc>,
) -> Place {
    let expires = since + room.pass_lifetime();
    Place {
        position: Some(0),
        ahead: Some(0),
        estimated_wait_s: Some(0),
        pass: Some(room.key.issue(sale_id, user, expires)),
        pass_expires_at: Some(expires),
        ..Place::bare(sale_id, PlaceState::Admitted, number)
    }
}
