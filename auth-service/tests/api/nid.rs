use crate::fake_nid;
use crate::helpers::{Accounts, assert_error, claims, spawn_app, spawn_app_with};
use auth_service::settings::NidVerifierKind;
use reqwest::StatusCode;
use serde_json::{Value, json};
use servicekit::testing::TestApp;
use std::sync::atomic::Ordering;

/// A new account's access token.
async fn signed_in(app: &TestApp) -> String {
    let user = app.register().await;
    let tokens = app.login(&user.email, &user.password).await;
    tokens["access_token"].as_str().unwrap().to_owned()
}

/// A well-formed NID no other test uses (10 digits, not ending in 0000).
fn unique_nid() -> String {
    let n = uuid::Uuid::new_v4().as_u128() % 1_000_000_000;
    format!("{:010}", n * 10 + 1)
}

#[tokio::test]
async fn malformed_nids_are_400_naming_the_field() {
    let app = spawn_app().await;
    let token = signed_in(&app).await;
    for nid in [
        json!(""),
        json!("123456789"),
        json!("12345678901"),
        json!("1234567890123456"),
        json!("123456789012345678"),
        json!("12345 67890"),
        json!(" 1234567890"),
        json!("12345-6789"),
        json!("123456789x"),
        json!("১২৩৪৫৬৭৮৯০"),
        json!(1234567890),
        json!(null),
    ] {
        let res = app
            .with_token(&token)
            .post_json("/api/auth/nid", &json!({ "nid": nid }))
            .await;
        let body = assert_error(res, StatusCode::BAD_REQUEST, "invalid_request").await;
        assert_eq!(body["error"]["details"]["field"], "nid", "{nid}: {body}");
    }
    // Without a token: 401.
    let res = app
        .post_json("/api/auth/nid", &json!({"nid": unique_nid()}))
        .await;
    assert_error(res, StatusCode::UNAUTHORIZED, "unauthorized").await;
}

#[tokio::test]
async fn a_verified_nid_shows_in_me_and_the_next_token_but_never_in_clear() {
    let app = spawn_app().await;
    let user = app.register().await;
    let tokens = app.login(&user.email, &user.password).await;
    let token = tokens["access_token"].as_str().unwrap();
    let me = app.with_token(token).get_json("/api/auth/me").await;
    assert_eq!(me["user"]["nid_verified"], false);
    assert_eq!(me["user"]["phone_verified"], false);
    assert_eq!(me["user"]["roles"], json!(["passenger"]));
    assert_eq!(claims(token)["nid_verified"], false);

    for nid in [unique_nid(), format!("1990{}", &unique_nid()[..9]) + "1234"] {
        let fresh = app.register().await;
        let fresh_token = app.login(&fresh.email, &fresh.password).await;
        let res = app
            .with_token(fresh_token["access_token"].as_str().unwrap())
            .post_json("/api/auth/nid", &json!({ "nid": nid }))
            .await;
        assert_eq!(res.status(), StatusCode::OK, "{nid}");
        let text = res.text().await.unwrap();
        assert!(!text.contains(&nid), "the NID is answered in clear: {text}");
        let body: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(body["user"]["nid_verified"], true);
        assert_eq!(body["user"]["id"], fresh.id);
    }

    let nid = unique_nid();
    let res = app
        .with_token(token)
        .post_json("/api/auth/nid", &json!({ "nid": nid }))
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    // Claiming it again is harmless.
    let res = app
        .with_token(token)
        .post_json("/api/auth/nid", &json!({ "nid": nid }))
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let me = app.with_token(token).get("/api/auth/me").await;
    let text = me.text().await.unwrap();
    assert!(!text.contains(&nid));
    assert_eq!(
        serde_json::from_str::<Value>(&text).unwrap()["user"]["nid_verified"],
        true
    );
    // The next token claims it.
    let refreshed = app
        .post_json(
            "/api/auth/refresh",
            &json!({"refresh_token": tokens["refresh_token"]}),
        )
        .await;
    assert_eq!(refreshed.status(), StatusCode::OK);
    let refreshed: Value = refreshed.json().await.unwrap();
    let refreshed_claims = claims(refreshed["access_token"].as_str().unwrap());
    assert_eq!(refreshed_claims["nid_verified"], true);
    assert_eq!(refreshed_claims["phone_verified"], false);
    let login = app.login(&user.phone, &user.password).await;
    assert_eq!(
        claims(login["access_token"].as_str().unwrap())["nid_verified"],
        true
    );

    // A different NID for the same account: 409 nid_already_verified.
    let res = app
        .with_token(token)
        .post_json("/api/auth/nid", &json!({ "nid": unique_nid() }))
        .await;
    assert_error(res, StatusCode::CONFLICT, "nid_already_verified").await;

    // The database holds a keyed hash and the masked form, never the number.
    let db = app.db().await;
    let row = db
        .query_one(
            "SELECT nid_hash, nid_masked FROM users WHERE id = $1::text::uuid",
            &[&user.id],
        )
        .await
        .unwrap();
    let (hash, masked): (String, String) = (row.get(0), row.get(1));
    assert_eq!(hash.len(), 64);
    assert!(!hash.contains(&nid));
    assert_eq!(masked, format!("******{}", &nid[6..]));
}

#[tokio::test]
async fn parallel_claims_of_one_nid_leave_exactly_one_winner() {
    let app = spawn_app().await;
    let mut tokens = Vec::new();
    for _ in 0..10 {
        tokens.push(signed_in(&app).await);
    }
    let nid = unique_nid();
    let body = json!({ "nid": nid });
    let claims = tokens.iter().map(|token| {
        let (app, body) = (&app, &body);
        async move { app.with_token(token).post_json("/api/auth/nid", body).await }
    });
    let answers = futures_util::future::join_all(claims).await;
    let mut won = 0;
    for res in answers {
        if res.status() == StatusCode::OK {
            won += 1;
        } else {
            let body = assert_error(res, StatusCode::CONFLICT, "nid_in_use").await;
            assert!(!body.to_string().contains(&nid));
        }
    }
    assert_eq!(won, 1);
    // A later claim by another account: 409 as well.
    let late = signed_in(&app).await;
    let res = app
        .with_token(&late)
        .post_json("/api/auth/nid", &json!({ "nid": nid }))
        .await;
    assert_error(res, StatusCode::CONFLICT, "nid_in_use").await;
    let me = app.with_token(&late).get_json("/api/auth/me").await;
    assert_eq!(me["user"]["nid_verified"], false);
}

#[tokio::test]
async fn an_nid_the_verifier_does_not_know_is_400() {
    let app = spawn_app().await;
    let token = signed_in(&app).await;
    let res = app
        .with_token(&token)
        .post_json("/api/auth/nid", &json!({"nid": "1234560000"}))
        .await;
    let body = assert_error(res, StatusCode::BAD_REQUEST, "invalid_request").await;
    assert_eq!(body["error"]["details"]["field"], "nid");
    let me = app.with_token(&token).get_json("/api/auth/me").await;
    assert_eq!(me["user"]["nid_verified"], false);
}

#[tokio::test]
async fn the_http_verifier_asks_the_service_and_its_outage_is_503() {
    let fake = fake_nid::start();
    let base_url = fake.base_url.clone();
    let app = spawn_app_with(move |s| {
        s.nid.kind = NidVerifierKind::Http;
        s.nid.base_url = base_url;
        s.nid.api_key = Some(fake_nid::API_KEY.to_owned().into());
        s.nid.secret = Some("a-test-nid-key".to_owned().into());
    })
    .await;
    let token = signed_in(&app).await;

    let res = app
        .with_token(&token)
        .post_json("/api/auth/nid", &json!({"nid": "9876540000"}))
        .await;
    let body = assert_error(res, StatusCode::BAD_REQUEST, "invalid_request").await;
    assert_eq!(body["error"]["details"]["field"], "nid");

    fake.calls.down.store(true, Ordering::SeqCst);
    let nid = unique_nid();
    let res = app
        .with_token(&token)
        .post_json("/api/auth/nid", &json!({ "nid": nid }))
        .await;
    assert_error(res, StatusCode::SERVICE_UNAVAILABLE, "unavailable").await;
    fake.calls.down.store(false, Ordering::SeqCst);

    let res = app
        .with_token(&token)
        .post_json("/api/auth/nid", &json!({ "nid": nid }))
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["user"]["nid_verified"], true);
    assert_eq!(
        *fake.calls.asked.lock().unwrap(),
        vec!["9876540000".to_owned(), nid]
    );
}

#[tokio::test]
async fn the_http_verifier_needs_its_settings() {
    let app = servicekit::testing::TestEnv::new("auth").await.unwrap();
    let mut settings = auth_service::settings::Settings {
        database: app.database.clone(),
        redis: app.redis.clone(),
        amqp: app.amqp.clone(),
        jwt: servicekit::testing::jwt_settings(true).unwrap(),
        ..Default::default()
    };
    settings.http.port = 0;
    settings.nid.kind = NidVerifierKind::Http;
    settings.nid.base_url = "ftp://nid.example".into();
    settings.nid.api_key = Some("k".to_owned().into());
    settings.nid.secret = Some("s".to_owned().into());
    let err = auth_service::startup::build(settings.clone())
        .await
        .err()
        .expect("refused");
    assert!(format!("{err:#}").contains("nid.base_url"), "{err:#}");
    settings.nid.base_url = "https://nid.example".into();
    settings.nid.secret = None;
    let err = auth_service::startup::build(settings)
        .await
        .err()
        .expect("refused");
    assert!(format!("{err:#}").contains("nid.secret"), "{err:#}");
}
