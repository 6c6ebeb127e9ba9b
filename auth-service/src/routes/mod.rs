//! The `/api/auth` routes of `docs/api.md`.

mod admin;
mod login;
mod nid;
mod otp;
mod register;
mod roles;
mod tokens;

use crate::state::Tokens;
use crate::users::User;
use actix_web::HttpRequest;
use actix_web::HttpResponse;
use actix_web::http::header;
use serde_json::json;
use servicekit::error::Code;
use servicekit::openapi::{Api, array, schema, uuid, wrapped};
use std::net::IpAddr;

/// Every route of auth-service, registered once for actix and the OpenAPI document.
pub fn api() -> Api {
    let mut api = Api::new("auth-service", "/api/auth");
    let user = || Some(wrapped("user", schema::<User>()));
    let tokens = || Some(schema::<Tokens>());
    api.post("/register", register::register)
        .summary("Create an account")
        .idempotent_public()
        .body(schema::<register::RegisterRequest>())
        .answers(201, "The new account", user())
        .link(
            "login",
            "postApiAuthLogin",
            serde_json::Value::Null,
            json!({ "login": "$request.body#/email", "password": "$request.body#/password" }),
        )
        .errors(&[Code::AlreadyRegistered]);
    api.post("/login", login::login)
        .summary("Log in with e-mail or phone and password")
        .body(schema::<login::LoginRequest>())
        .answers(200, "Tokens (Cache-Control: no-store)", tokens())
        .errors(&[Code::InvalidCredentials, Code::TooManyAttempts]);
    api.post("/otp/request", otp::request)
        .summary("Send a one-time code to a phone")
        .body(schema::<otp::OtpRequest>())
        .answers(
            202,
            "The same answer whether or not the phone has an account",
            Some(json!({
                "type": "object", "required": ["expires_in"],
                "properties": {
                    "expires_in": { "type": "integer" },
                    "dev_code": { "type": "string" }
                }
            })),
        )
        .errors(&[Code::RateLimited]);
    api.post("/otp/verify", otp::verify)
        .summary("Log in with a one-time code")
        .body(schema::<otp::OtpVerify>())
        .answers(200, "Tokens (Cache-Control: no-store)", tokens())
        .errors(&[Code::InvalidOtp, Code::TooManyAttempts]);
    api.post("/refresh", tokens::refresh)
        .summary("Exchange a refresh token for new tokens")
        .body(schema::<tokens::RefreshRequest>())
        .answers(200, "Tokens; the old refresh token stops working", tokens())
        .errors(&[Code::Unauthorized]);
    api.post("/logout", tokens::logout)
        .summary("Revoke a refresh token's family")
        .body(schema::<tokens::RefreshRequest>())
        .answers(204, "Logged out", None);
    api.get("/me", tokens::me)
        .summary("The caller's account")
        .auth()
        .answers(200, "The account", user());
    api.post("/nid", nid::verify)
        .summary("Verify a national ID and bind it to the account")
        .auth()
        .body(schema::<nid::NidRequest>())
        .answers(200, "The account with nid_verified: true", user())
        .errors(&[Code::NidInUse, Code::NidAlreadyVerified]);
    api.put("/users/{user_id}/roles", roles::set)
        .summary("Set an account's roles (admin only)")
        .description(
            "`roles` lists every role the account is to have (`conductor`, `admin`; \
             `passenger` is everyone's, accepted and implied); roles left out are taken away. \
             The change shows in the user's tokens from the next sign-in or refresh. 403 \
             `forbidden` for a caller without the admin role; 409 `last_admin` when it would \
             leave no admin.",
        )
        .auth()
        .path_param("user_id", uuid())
        .body(schema::<roles::RolesRequest>())
        .answers(200, "The account with its new roles", user())
        .errors(&[Code::Forbidden, Code::LastAdmin]);
    api.get("/admin/users", admin::users)
        .summary("Find an account by phone, e-mail or id (admin)")
        .description(
            "Exactly one of `phone` (E.164; its `+` may be sent as `%2B`), `email` and \
             `user_id`. `users` holds the account found (as `GET /api/auth/me` shows it, with \
             its roles), or is empty.",
        )
        .auth()
        .query(
            "phone",
            false,
            json!({ "type": "string", "example": "+8801712345678" }),
            "The account's phone",
        )
        .query(
            "email",
            false,
            json!({ "type": "string", "format": "email" }),
            "The account's e-mail address (any case)",
        )
        .query("user_id", false, uuid(), "The account's id")
        .answers(
            200,
            "The account found, or none",
            Some(wrapped("users", array(schema::<User>()))),
        )
        .errors(&[Code::Forbidden]);
    api
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
