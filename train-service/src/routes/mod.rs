//! The `/api/trains` routes of `docs/api.md` and the internal inventory route (not under `/api`,
//! so the gateway never exposes it).

mod admin;
mod search;
mod trips;

use actix_web::middleware::from_fn;
use actix_web::web;
use servicekit::idempotency;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::scope("/api/trains")
            .service(
                web::resource("/stations")
                    .wrap(from_fn(idempotency::guard))
                    .route(web::get().to(search::stations))
                    .route(web::post().to(admin::create_station)),
            )
            .service(web::resource("/search").route(web::get().to(search::search)))
            .service(
                web::resource("/trains")
                    .wrap(from_fn(idempotency::guard))
                    .route(web::post().to(admin::create_train)),
            )
            .service(
                web::resource("/trips")
                    .wrap(from_fn(idempotency::guard))
                    .route(web::post().to(admin::create_trip)),
            )
            .service(web::resource("/trips/{trip_id}").route(web::get().to(trips::detail)))
            .service(
                web::resource("/admin/trips/{trip_id}/sales")
                    .route(web::put().to(admin::move_sales)),
            ),
    )
    .service(
        web::resource("/internal/trips/{trip_id}/inventory").route(web::get().to(trips::inventory)),
    )
    .service(web::resource("/internal/sales").route(web::get().to(trips::sales)));
}
