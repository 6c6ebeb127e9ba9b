//! The `/api/payments` routes of `docs/api.md`.

mod payments;

use actix_web::middleware::from_fn;
use actix_web::web;
use servicekit::idempotency;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::scope("/api/payments")
            .service(
                web::resource("/{booking_id}/retry")
                    .wrap(from_fn(idempotency::guard))
                    .route(web::post().to(payments::retry)),
            )
            .route("/{booking_id}", web::get().to(payments::get)),
    );
}
