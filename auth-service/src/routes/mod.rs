//! The `/api/auth` routes of `docs/api.md`.

mod login;
mod nid;
mod otp;
mod register;
mod tokens;

use actix_web::middleware::from_fn;
use actix_web::web;
use servicekit::idempotency;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::scope("/api/auth")
            .service(
                web::resource("/register")
                    .wrap(from_fn(idempotency::public_guard))
                    .route(web::post().to(register::register)),
            )
            .route("/login", web::post().to(login::login))
            .route("/otp/request", web::post().to(otp::request))
            .route("/otp/verify", web::post().to(otp::verify))
            .route("/refresh", web::post().to(tokens::refresh))
            .route("/logout", web::post().to(tokens::logout))
            .route("/me", web::get().to(tokens::me))
            .route("/nid", web::post().to(nid::verify)),
    );
}
