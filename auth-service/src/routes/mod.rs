//! The `/api/auth` routes of `docs/api.md`.

mod login;
mod nid;
mod otp;
mod register;
mod tokens;

use actix_web::http::header;
use actix_web::middleware::from_fn;
use actix_web::{HttpRequest, HttpResponse, web};
use servicekit::idempotency;
use std::net::IpAddr;

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

/// 200 with tokens in the body: never stored by a cache on the way (RFC 6749 §5.1).
pub(crate) fn tokens_answer(tokens: &impl serde::Serialize) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .insert_header((header::PRAGMA, "no-cache"))
        .json(tokens)
}

/// The client's address, the key of the per-address login and OTP limits: `X-Real-IP` as
/// the gateway sets it (nginx replaces whatever a client sent; the services are reachable
/// only through it), else the connection's peer. Parsed, so a key is always an address.
pub(crate) fn source_address(req: &HttpRequest) -> String {
    req.headers()
        .get("x-real-ip")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<IpAddr>().ok())
        .or_else(|| req.peer_addr().map(|a| a.ip()))
        .map_or_else(|| "unknown".to_owned(), |ip| ip.to_string())
}
