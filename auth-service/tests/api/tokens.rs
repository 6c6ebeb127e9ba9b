use crate::helpers::{Accounts, assert_error, spawn_app};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use reqwest::StatusCode;
use serde_json::{Value, json};
use servicekit::testing;

#[tokio::test]
async fn refresh_rotates_the_token_and_the_old_one_stops_working() {
    let app = spawn_app().await;
    let user = app.register().await;
    let first = app.login(&user.email, &user.password).await;
    let res = app
        .post_json(
            "/api/auth/refresh",
            &json!({"refresh_token": first["refresh_token"]}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(
        res.headers()["cache-control"],
        "no-store",
        "tokens are never cached"
    );
    let second: Value = res.json().await.unwrap();
    assert_ne!(second["refresh_token"], first["refresh_token"]);
    let me = app
        .with_token(second["access_token"].as_str().unwrap())
        .get("/api/auth/me")
        .await;
    assert_eq!(me.status(), StatusCode::OK);

    // Reusing the spent token is refused and revokes the whole family, the new token too.
    let reuse = app
        .post_json(
            "/api/auth/refresh",
            &json!({"refresh_token": first["refresh_token"]}),
        )
        .await;
    assert_error(reuse, StatusCode::UNAUTHORIZED, "unauthorized").await;
    let after = app
        .post_json(
            "/api/auth/refresh",
            &json!({"refresh_token": second["refresh_token"]}),
        )
        .await;
    assert_error(after, StatusCode::UNAUTHORIZED, "unauthorized").await;
    let live: i64 = app
        .db()
        .await
        .query_one(
            "SELECT count(*) FROM refresh_tokens WHERE revoked_at IS NULL",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(live, 0);
}

#[tokio::test]
async fn refresh_tokens_are_stored_only_as_hashes() {
    let app = spawn_app().await;
    let user = app.register().await;
    let tokens = app.login(&user.email, &user.password).await;
    let plain = tokens["refresh_token"].as_str().unwrap();
    let rows = app
        .db()
        .await
        .query("SELECT token_hash FROM refresh_tokens", &[])
        .await
        .unwrap();
    assert_eq!(rows.len(), 1);
    let stored: String = rows[0].get(0);
    assert_ne!(stored, plain);
    assert_eq!(stored.len(), 64, "sha-256 hex");
}

#[tokio::test]
async fn logout_revokes_the_refresh_token_and_answers_204() {
    let app = spawn_app().await;
    let user = app.register().await;
    let tokens = app.login(&user.email, &user.password).await;
    let other_login = app.login(&user.email, &user.password).await;
    let res = app
        .post_json(
            "/api/auth/logout",
            &json!({"refresh_token": tokens["refresh_token"]}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    let res = app
        .post_json(
            "/api/auth/refresh",
            &json!({"refresh_token": tokens["refresh_token"]}),
        )
        .await;
    assert_error(res, StatusCode::UNAUTHORIZED, "unauthorized").await;
    // Another login (another family) is untouched.
    let res = app
        .post_json(
            "/api/auth/refresh",
            &json!({"refresh_token": other_login["refresh_token"]}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    // Unknown tokens: still 204, nothing to reveal.
    let res = app
        .post_json(
            "/api/auth/logout",
            &json!({"refresh_token": "no-such-token"}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
}

#[tokio::test]
async fn unknown_refresh_token_is_401() {
    let app = spawn_app().await;
    let res = app
        .post_json("/api/auth/refresh", &json!({"refresh_token": "forged"}))
        .await;
    assert_error(res, StatusCode::UNAUTHORIZED, "unauthorized").await;
}

fn sign(key_path: &std::path::Path, alg: Algorithm, claims: &Value) -> String {
    let pem = std::fs::read(key_path).unwrap();
    jsonwebtoken::encode(
        &Header::new(alg),
        claims,
        &EncodingKey::from_ed_pem(&pem).unwrap(),
    )
    .unwrap()
}

#[tokio::test]
async fn me_rejects_every_kind_of_bad_token_with_401() {
    let app = spawn_app().await;
    let user = app.register().await;
    let keys = testing::keys().unwrap();
    let now = chrono::Utc::now().timestamp();
    let claims = |over: Value| {
        let mut c = json!({"sub": user.id, "iss": "railrush-auth", "aud": "railrush", "exp": now + 600, "iat": now, "jti": uuid::Uuid::new_v4()});
        for (k, v) in over.as_object().unwrap() {
            if v.is_null() {
                c.as_object_mut().unwrap().remove(k);
            } else {
                c[k] = v.clone();
            }
        }
        c
    };
    // Sanity: our own well-formed token is accepted.
    let good = sign(&keys.private, Algorithm::EdDSA, &claims(json!({})));
    assert_eq!(
        app.with_token(&good).get("/api/auth/me").await.status(),
        StatusCode::OK
    );

    let b64 = |v: &Value| {
        use base64::Engine;
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string())
    };
    let alg_none = format!(
        "{}.{}.",
        b64(&json!({"alg": "none", "typ": "JWT"})),
        b64(&claims(json!({})))
    );
    let bad = [
        (
            "signed with another key",
            sign(&keys.other_private, Algorithm::EdDSA, &claims(json!({}))),
        ),
        ("alg none", alg_none),
        (
            "expired",
            sign(
                &keys.private,
                Algorithm::EdDSA,
                &claims(json!({"exp": now - 120})),
            ),
        ),
        (
            "wrong audience",
            sign(
                &keys.private,
                Algorithm::EdDSA,
                &claims(json!({"aud": "someone-else"})),
            ),
        ),
        (
            "wrong issuer",
            sign(
                &keys.private,
                Algorithm::EdDSA,
                &claims(json!({"iss": "evil"})),
            ),
        ),
        (
            "no subject",
            sign(
                &keys.private,
                Algorithm::EdDSA,
                &claims(json!({"sub": null})),
            ),
        ),
        (
            "no expiry",
            sign(
                &keys.private,
                Algorithm::EdDSA,
                &claims(json!({"exp": null})),
            ),
        ),
        ("garbage", "not.a.jwt".to_owned()),
        ("tampered", format!("{}x", &good[..good.len() - 1])),
    ];
    for (what, token) in bad {
        let res = app.with_token(&token).get("/api/auth/me").await;
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED, "{what}");
        assert_error(res, StatusCode::UNAUTHORIZED, "unauthorized").await;
    }
    let res = app.get("/api/auth/me").await;
    assert_error(res, StatusCode::UNAUTHORIZED, "unauthorized").await;
    let res = app
        .client
        .get(app.url("/api/auth/me"))
        .header("authorization", "Basic abc")
        .send()
        .await
        .unwrap();
    assert_error(res, StatusCode::UNAUTHORIZED, "unauthorized").await;
}

async fn me_status(app: &testing::TestApp, access: &str) -> StatusCode {
    app.with_token(access).get("/api/auth/me").await.status()
}

#[tokio::test]
async fn logout_ends_the_sessions_access_token_too_and_only_that_sessions() {
    let app = spawn_app().await;
    let user = app.register().await;
    let phone_session = app.login(&user.email, &user.password).await;
    let laptop_session = app.login(&user.email, &user.password).await;
    let access = phone_session["access_token"].as_str().unwrap();
    assert_eq!(
        crate::helpers::claims(access)["sid"].as_str().map(str::len),
        Some(36),
        "the access token names its session"
    );
    assert_eq!(me_status(&app, access).await, StatusCode::OK);

    let res = app
        .post_json(
            "/api/auth/logout",
            &json!({"refresh_token": phone_session["refresh_token"]}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    let res = app.with_token(access).get("/api/auth/me").await;
    assert_error(res, StatusCode::UNAUTHORIZED, "unauthorized").await;
    // The other sign-in goes on.
    let other = laptop_session["access_token"].as_str().unwrap();
    assert_eq!(me_status(&app, other).await, StatusCode::OK);
}

#[tokio::test]
async fn a_reused_refresh_token_ends_the_access_tokens_of_its_family() {
    let app = spawn_app().await;
    let user = app.register().await;
    let first = app.login(&user.email, &user.password).await;
    let second: Value = app
        .post_json(
            "/api/auth/refresh",
            &json!({"refresh_token": first["refresh_token"]}),
        )
        .await
        .json()
        .await
        .unwrap();
    let access = second["access_token"].as_str().unwrap();
    assert_eq!(me_status(&app, access).await, StatusCode::OK);

    // A copy of the spent token is presented: the whole family is revoked, its access
    // tokens with it.
    let res = app
        .post_json(
            "/api/auth/refresh",
            &json!({"refresh_token": first["refresh_token"]}),
        )
        .await;
    assert_error(res, StatusCode::UNAUTHORIZED, "unauthorized").await;
    let res = app.with_token(access).get("/api/auth/me").await;
    assert_error(res, StatusCode::UNAUTHORIZED, "unauthorized").await;
}
