//! Prints N access tokens of N distinct users, one per line, signed with the given Ed25519
//! private key exactly as auth-service signs them, with role ROLE (default `passenger`; or
//! `conductor`, `admin`: the claims `roles` and the legacy `role`), valid an
//! hour, each claiming a verified phone and NID (what auth-service issues after an OTP login
//! of an account with a verified NID: such users may join waiting rooms). For load tests,
//! which must not spend their time in thousands of sign-ups and logins.
//!
//! `cargo run --release -p booking-service --example mint_tokens -- KEY.pem N [ROLE]`
#![allow(clippy::expect_used)] // A command-line tool: failing loudly is right.

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::json;
use std::io::Write;

fn main() {
    let mut args = std::env::args().skip(1);
    let key = args.next().expect("usage: mint_tokens KEY.pem N [ROLE]");
    let n: usize = args
        .next()
        .and_then(|n| n.parse().ok())
        .expect("usage: mint_tokens KEY.pem N [ROLE]");
    let role = args.next().unwrap_or_else(|| "passenger".to_owned());
    let roles: Vec<&str> = [role.as_str()]
        .into_iter()
        .filter(|r| matches!(*r, "conductor" | "admin"))
        .collect();
    let legacy = if role == "admin" { "admin" } else { "user" };
    let pem = std::fs::read(&key).expect("reading the private key");
    let key = EncodingKey::from_ed_pem(&pem).expect("an Ed25519 PEM private key");
    let now = chrono::Utc::now().timestamp();
    let out = std::io::stdout();
    let mut out = out.lock();
    for _ in 0..n {
        let claims = json!({
            "sub": uuid::Uuid::new_v4(), "iss": "railrush-auth", "aud": "railrush",
            "exp": now + 3600, "iat": now, "jti": uuid::Uuid::new_v4(), "roles": roles, "role": legacy,
            "phone_verified": true, "nid_verified": true,
        });
        let token =
            jsonwebtoken::encode(&Header::new(Algorithm::EdDSA), &claims, &key).expect("signing");
        writeln!(out, "{token}").expect("writing");
    }
}
