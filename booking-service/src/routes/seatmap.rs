use super::positive;
use crate::seats::status_of;
use crate::state::BookingState;
use actix_web::http::header;
use actix_web::{HttpResponse, web};
use futures_util::stream;
use serde_json::json;
use servicekit::ApiError;
use servicekit::error::Code;
use servicekit::http::Id;
use std::time::Duration;
use tokio::sync::broadcast::error::RecvError;

const HEARTBEAT: Duration = Duration::from_secs(15);
/// `Retry-After` when the replica is at `booking.max_live_listeners`.
const LISTENERS_RETRY_AFTER_SECS: u64 = 5;

/// `GET /trips/{trip_id}/seats`: every seat's status in one Redis round trip.
pub async fn seat_map(
    state: web::Data<BookingState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let trip_id = positive(Id::parse(&path, "trip_id")?, "trip_id")?;
    let trip = state.inventory.trip(trip_id).await?;
    let ids: Vec<i32> = trip.seats.iter().map(|s| s.seat_id).collect();
    let values = state.seats.values(trip_id, &ids).await?;
    let seats: Vec<_> = ids
        .iter()
        .zip(&values)
        .map(|(id, v)| json!({ "seat_id": id, "status": status_of(v.as_deref()) }))
        .collect();
    Ok(HttpResponse::Ok().json(json!({ "trip_id": trip_id, "seats": seats })))
}

/// `GET /trips/{trip_id}/events`: Server-Sent Events, one `event: seat` per seat change of
/// the trip, and a comment line every 15 s so idle connections stay open.
pub async fn events(
    state: web::Data<BookingState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let trip_id = positive(Id::parse(&path, "trip_id")?, "trip_id")?;
    state.inventory.trip(trip_id).await?;
    // The gateway limits streams per address; this bounds them per replica.
    if state.live.listeners() >= state.settings.max_live_listeners {
        return Err(ApiError::new(
            Code::Unavailable,
            "too many live seat maps are open; try again shortly",
        )
        .with_retry_after(LISTENERS_RETRY_AFTER_SECS));
    }
    let rx = state.live.subscribe();
    let mut heartbeat = tokio::time::interval(HEARTBEAT);
    heartbeat.reset();
    let opening = stream::once(async {
        Ok::<_, actix_web::Error>(web::Bytes::from_static(b": connected\n\n"))
    });
    let changes = stream::unfold((rx, heartbeat), move |(mut rx, mut heartbeat)| async move {
        loop {
            tokio::select! {
                _ = heartbeat.tick() => {
                    return Some((Ok(web::Bytes::from_static(b": ping\n\n")), (rx, heartbeat)));
                }
                change = rx.recv() => match change {
                    Ok(change) if change.trip_id == trip_id => {
                        return Some((Ok(change.sse.clone()), (rx, heartbeat)));
                    }
                    Ok(_) => {}
                    // A slow reader missed changes: tell it to reload the map.
                    Err(RecvError::Lagged(_)) => {
                        return Some((Ok(web::Bytes::from_static(b"event: resync\ndata: {}\n\n")), (rx, heartbeat)));
                    }
                    Err(RecvError::Closed) => return None,
                },
            }
        }
    });
    Ok(HttpResponse::Ok()
        .content_type("text/event-stream")
        .insert_header((header::CACHE_CONTROL, "no-cache"))
        .insert_header(("X-Accel-Buffering", "no"))
        .streaming(futures_util::StreamExt::chain(opening, changes)))
}
