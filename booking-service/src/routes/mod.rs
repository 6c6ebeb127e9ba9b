//! The `/api/bookings` and `/api/queue` routes of `docs/api.md`, and the internal booking
//! summary route (not under `/api`, so the gateway does not route it) that payment-service
//! asks.

mod bookings;
mod confirm;
mod queue;
mod seatmap;
mod select;

use actix_web::middleware::from_fn;
use actix_web::web;
use servicekit::idempotency;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::scope("/api/bookings")
            .service(
                web::resource("/seats/select")
                    .wrap(from_fn(idempotency::guard))
                    .route(web::post().to(select::select)),
            )
            .service(
                web::resource("/seats/confirm")
                    .wrap(from_fn(idempotency::guard))
                    .route(web::post().to(confirm::confirm)),
            )
            .route("/holds/{hold_id}", web::delete().to(select::release))
            .route("/trips/{trip_id}/seats", web::get().to(seatmap::seat_map))
            .route("/trips/{trip_id}/events", web::get().to(seatmap::events))
            .route("", web::get().to(bookings::list))
            .route("/{booking_id}", web::get().to(bookings::get))
            .route("/{booking_id}/cancel", web::post().to(bookings::cancel)),
    )
    .service(
        web::scope("/api/queue")
            .route("/sales", web::get().to(queue::list))
            .route("/sales/{sale_id}", web::get().to(queue::status))
            .route("/sales/{sale_id}/join", web::post().to(queue::join))
            .route("/sales/{sale_id}/place", web::get().to(queue::place)),
    )
    .route(
        "/internal/bookings/{booking_id}",
        web::get().to(bookings::summary),
    );
}

/// A trip or seat id from a path or body: positive, else 400 naming `field`.
pub(crate) fn positive<T: PartialOrd + Default>(
    value: T,
    field: &str,
) -> Result<T, servicekit::ApiError> {
    if value > T::default() {
        Ok(value)
    } else {
        Err(servicekit::ApiError::invalid_field(
            field,
            format!("{field} must be a positive integer"),
        ))
    }
}
