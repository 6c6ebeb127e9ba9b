//! Admin endpoints (role `admin`): create stations, trains and trips, and move a trip's
//! sales opening. Each creation honours `Idempotency-Key` (registered in `routes::api`);
//! a duplicate answers 409 `already_exists`.

use crate::catalogue::create::{self, NewCoach, NewTrip, SalesMove};
use crate::catalogue::{Route, trips};
use crate::domain::{self, SeatClass};
use crate::state::TrainState;
use actix_web::{HttpResponse, web};
use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::json;
use servicekit::ApiError;
use servicekit::auth::AuthUser;
use servicekit::error::Code;
use servicekit::http::JsonBody;
use std::collections::BTreeMap;

const MAX_COACHES: usize = 40;
const MAX_SEATS_PER_COACH: i64 = 200;
const MAX_FARE: i64 = 100_000_000;

fn field(name: &str) -> impl Fn(String) -> ApiError + '_ {
    move |m| ApiError::invalid_field(name, m)
}

fn exists(message: String) -> ApiError {
    ApiError::new(Code::AlreadyExists, message)
}

#[derive(Deserialize, utoipa::ToSchema)]
pub struct StationBody {
    code: String,
    name: String,
}

#[tracing::instrument(skip_all)]
pub async fn create_station(
    user: AuthUser,
    state: web::Data<TrainState>,
    JsonBody(body): JsonBody<StationBody>,
) -> Result<HttpResponse, ApiError> {
    user.require_admin()?;
    let code = domain::station_code(&body.code).map_err(field("code"))?;
    let name = domain::display_name(&body.name).map_err(field("name"))?;
    let db = state.db.get().await?;
    if !create::station(&db, &code, &name).await? {
        return Err(exists(format!("station {code} already exists")));
    }
    tracing::info!(%code, "station created");
    Ok(HttpResponse::Created().json(json!({ "code": code, "name": name })))
}

#[derive(Deserialize, utoipa::ToSchema)]
pub struct TrainBody {
    number: String,
    name: String,
    coaches: Vec<CoachBody>,
}

#[derive(Deserialize, utoipa::ToSchema)]
pub struct CoachBody {
    code: String,
    #[schema(value_type = String)]
    class: SeatClass,
    seats: i64,
}

fn parse_coaches(coaches: &[CoachBody]) -> Result<Vec<NewCoach>, ApiError> {
    if coaches.is_empty() || coaches.len() > MAX_COACHES {
        return Err(ApiError::invalid_field(
            "coaches",
            format!("a train has 1 to {MAX_COACHES} coaches"),
        ));
    }
    let mut parsed: Vec<NewCoach> = Vec::with_capacity(coaches.len());
    for (i, c) in coaches.iter().enumerate() {
        let code = domain::coach_code(&c.code).map_err(field(&format!("coaches[{i}].code")))?;
        if parsed.iter().any(|p| p.code == code) {
            return Err(ApiError::invalid_field(
                &format!("coaches[{i}].code"),
                format!("coach {code} appears twice"),
            ));
        }
        let seats = i32::try_from(c.seats)
            .ok()
            .filter(|s| (1..=MAX_SEATS_PER_COACH).contains(&i64::from(*s)))
            .ok_or_else(|| {
                ApiError::invalid_field(
                    &format!("coaches[{i}].seats"),
                    format!("a coach has 1 to {MAX_SEATS_PER_COACH} seats"),
                )
            })?;
        parsed.push(NewCoach {
            code,
            class: c.class,
            seats,
        });
    }
    Ok(parsed)
}

#[tracing::instrument(skip_all)]
pub async fn create_train(
    user: AuthUser,
    state: web::Data<TrainState>,
    JsonBody(body): JsonBody<TrainBody>,
) -> Result<HttpResponse, ApiError> {
    user.require_admin()?;
    let number = domain::train_number(&body.number).map_err(field("number"))?;
    let name = domain::display_name(&body.name).map_err(field("name"))?;
    let coaches = parse_coaches(&body.coaches)?;
    let mut db = state.db.get().await?;
    let tx = db.transaction().await?;
    let Some(train_id) = create::train(&tx, &number, &name, &coaches).await? else {
        return Err(exists(format!("train {number} already exists")));
    };
    let seats = create::train_seats(&tx, train_id).await?;
    tx.commit().await?;
    tracing::info!(%number, seats = seats.len(), "train created");
    let coaches: Vec<_> = coaches
        .iter()
        .map(|c| {
            let seats: Vec<_> = seats.iter().filter(|s| s.coach == c.code).collect();
            json!({ "code": c.code, "class": c.class, "seats": seats })
        })
        .collect();
    Ok(HttpResponse::Created().json(json!({ "number": number, "name": name, "coaches": coaches })))
}

#[derive(Deserialize, utoipa::ToSchema)]
pub struct TripBody {
    train_number: String,
    from: String,
    to: String,
    departs_at: DateTime<Utc>,
    arrives_at: DateTime<Utc>,
    /// Default: 08:00 Asia/Dhaka, 10 days before the service date.
    sales_open_at: Option<DateTime<Utc>>,
    fares: BTreeMap<String, i64>,
}

fn before_departure(
    sales_open_at: DateTime<Utc>,
    departs_at: DateTime<Utc>,
) -> Result<(), ApiError> {
    if sales_open_at < departs_at {
        Ok(())
    } else {
        Err(ApiError::invalid_field(
            "sales_open_at",
            "sales_open_at must be before departs_at",
        ))
    }
}

fn parse_fares(fares: &BTreeMap<String, i64>) -> Result<Vec<(SeatClass, i64)>, ApiError> {
    fares
        .iter()
        .map(|(class, fare)| {
            let name = format!("fares.{class}");
            let class = SeatClass::parse(class)
                .ok_or_else(|| ApiError::invalid_field(&name, format!("unknown class {class}")))?;
            if !(1..=MAX_FARE).contains(fare) {
                return Err(ApiError::invalid_field(
                    &name,
                    "a fare is a positive amount in poisha",
                ));
            }
            Ok((class, *fare))
        })
        .collect()
}

#[tracing::instrument(skip_all)]
pub async fn create_trip(
    user: AuthUser,
    state: web::Data<TrainState>,
    JsonBody(body): JsonBody<TripBody>,
) -> Result<HttpResponse, ApiError> {
    user.require_admin()?;
    let number = domain::train_number(&body.train_number).map_err(field("train_number"))?;
    let from = domain::station_code(&body.from).map_err(field("from"))?;
    let to = domain::station_code(&body.to).map_err(field("to"))?;
    if from == to {
        return Err(ApiError::invalid_field("to", "from and to must differ"));
    }
    if body.arrives_at <= body.departs_at {
        return Err(ApiError::invalid_field(
            "arrives_at",
            "arrives_at must be after departs_at",
        ));
    }
    if let Some(at) = body.sales_open_at {
        before_departure(at, body.departs_at)?;
    }
    let fares = parse_fares(&body.fares)?;
    let mut db = state.db.get().await?;
    let (train_id, classes) = create::train_classes(&db, &number)
        .await?
        .ok_or_else(|| ApiError::invalid_field("train_number", format!("no train {number}")))?;
    if let Some(missing) = classes
        .iter()
        .find(|c| !fares.iter().any(|(f, _)| f.as_str() == c.as_str()))
    {
        return Err(ApiError::invalid_field(
            &format!("fares.{missing}"),
            format!("a fare for {missing} is required"),
        ));
    }
    if let Some((extra, _)) = fares
        .iter()
        .find(|(f, _)| !classes.iter().any(|c| c == f.as_str()))
    {
        return Err(ApiError::invalid_field(
            &format!("fares.{extra}"),
            format!("train {number} has no {extra} coach"),
        ));
    }
    if let Some(code) = trips::unknown_stations(&db, &[&from, &to]).await?.first() {
        let name = if *code == from { "from" } else { "to" };
        return Err(ApiError::invalid_field(
            name,
            format!("unknown station {code}"),
        ));
    }
    let tx = db.transaction().await?;
    let new = NewTrip {
        train_id,
        from: &from,
        to: &to,
        departs_at: body.departs_at,
        arrives_at: body.arrives_at,
        sales_open_at: body.sales_open_at,
        fares: &fares,
    };
    let Some(trip_id) = create::trip(&tx, &new).await? else {
        return Err(exists(format!("train {number} already runs on that date")));
    };
    let trip = trips::trip(&tx, trip_id).await?;
    let route = trips::route_of(&tx, trip_id).await?;
    tx.commit().await?;
    if let Some(route) = route.as_ref() {
        invalidate(&state, route).await;
    }
    let trip =
        trip.ok_or_else(|| ApiError::internal(anyhow::anyhow!("a created trip was not found")))?;
    tracing::info!(trip_id, %number, "trip created");
    Ok(HttpResponse::Created().json(trip))
}

/// Either field or both; at least one.
#[derive(Deserialize, utoipa::ToSchema)]
pub struct SalesBody {
    /// The moment the trip's seats go on sale (before its departure).
    sales_open_at: Option<DateTime<Utc>>,
    /// `true` closes the trip's sales (select answers 409 `sales_closed`), `false` reopens
    /// them.
    sales_closed: Option<bool>,
}

/// `PUT /api/trains/admin/trips/{trip_id}/sales`: moves one trip's opening, closes or
/// reopens its sales, or both (in one transaction: nothing changes when a part is refused).
/// booking-service sees the change within its inventory refresh (see its `inventory`
/// module).
#[tracing::instrument(skip(user, state, body))]
pub async fn move_sales(
    user: AuthUser,
    state: web::Data<TrainState>,
    trip_id: web::Path<String>,
    JsonBody(body): JsonBody<SalesBody>,
) -> Result<HttpResponse, ApiError> {
    user.require_admin()?;
    let trip_id = domain::trip_id(&trip_id)?;
    if body.sales_open_at.is_none() && body.sales_closed.is_none() {
        return Err(ApiError::invalid_field(
            "sales_open_at",
            "give sales_open_at, sales_closed or both",
        ));
    }
    let mut db = state.db.get().await?;
    let tx = db.transaction().await?;
    let mut route = None;
    if let Some(at) = body.sales_open_at {
        route = match create::sales_open_at(&tx, trip_id, at).await? {
            SalesMove::Moved(route) => Some(route),
            SalesMove::NoSuchTrip => return Err(ApiError::not_found("no such trip")),
            SalesMove::AfterDeparture => {
                return Err(ApiError::invalid_field(
                    "sales_open_at",
                    "sales_open_at must be before the trip's departure",
                ));
            }
        };
    }
    if let Some(closed) = body.sales_closed {
        route = Some(
            create::sales_closed(&tx, trip_id, closed)
                .await?
                .ok_or_else(|| ApiError::not_found("no such trip"))?,
        );
    }
    let trip = trips::trip(&tx, trip_id)
        .await?
        .ok_or_else(|| ApiError::not_found("no such trip"))?;
    tx.commit().await?;
    drop(db);
    if let Some(route) = route.as_ref() {
        invalidate(&state, route).await;
    }
    tracing::info!(
        trip_id,
        sales_open_at = ?body.sales_open_at,
        sales_closed = ?body.sales_closed,
        "trip sales changed"
    );
    Ok(HttpResponse::Ok().json(trip))
}

async fn invalidate(state: &TrainState, route: &Route) {
    if let Err(error) = state.cache.invalidate(route).await {
        tracing::warn!(%error, "could not invalidate the search cache");
    }
}
