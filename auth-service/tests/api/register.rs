use crate::helpers::{Accounts, assert_error, spawn_app, unique_email, unique_phone};
use reqwest::StatusCode;
use serde_json::json;
use servicekit::testing::{WAIT, eventually};

#[tokio::test]
async fn register_returns_201_with_the_user_and_stores_an_argon2id_hash() {
    let app = spawn_app().await;
    let (email, phone) = (unique_email(), unique_phone());
    let res = app
        .post_json(
            "/api/auth/register",
            &json!({"name": " Rahim Uddin ", "email": email.to_uppercase(), "phone": phone, "password": "s3cret-pass"}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let body: serde_json::Value = res.json().await.unwrap();
    let user = &body["user"];
    assert_eq!(user["name"], "Rahim Uddin");
    assert_eq!(user["email"], email);
    assert_eq!(user["phone"], phone);
    assert!(uuid::Uuid::parse_str(user["id"].as_str().unwrap()).is_ok());
    assert!(chrono::DateTime::parse_from_rfc3339(user["created_at"].as_str().unwrap()).is_ok());
    assert!(user.get("password_hash").is_none() && user.get("password").is_none());

    let row = app
        .db()
        .await
        .query_one(
            "SELECT password_hash FROM users WHERE email = $1",
            &[&email],
        )
        .await
        .unwrap();
    let hash: String = row.get(0);
    assert!(
        hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
        "{hash}"
    );
}

#[tokio::test]
async fn registering_an_existing_email_or_phone_answers_409_already_registered() {
    let app = spawn_app().await;
    let first = app.register().await;
    for (email, phone) in [
        (first.email.clone(), unique_phone()),
        (unique_email(), first.phone.clone()),
    ] {
        let res = app
            .post_json(
                "/api/auth/register",
                &json!({"name": "Karim", "email": email, "phone": phone, "password": "another-pass"}),
            )
            .await;
        assert_error(res, StatusCode::CONFLICT, "already_registered").await;
    }
    let count: i64 = app
        .db()
        .await
        .query_one("SELECT count(*) FROM users", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(count, 1);
}

#[tokio::test]
async fn register_rejects_invalid_input_with_400_naming_the_field() {
    let app = spawn_app().await;
    let good = json!({"name": "Rahim", "email": unique_email(), "phone": unique_phone(), "password": "long-enough"});
    let cases = [
        ("email", json!("not-an-email")),
        ("email", json!(42)),
        ("phone", json!("01712345678")),
        ("phone", json!("+880 1712 345678")),
        ("password", json!("short")),
        ("password", json!("x".repeat(129))),
        ("name", json!("")),
        ("name", json!("bad\u{0007}name")),
        ("name", json!("n".repeat(101))),
    ];
    for (field, value) in cases {
        let mut body = good.clone();
        body[field] = value.clone();
        let res = app.post_json("/api/auth/register", &body).await;
        let err = assert_error(res, StatusCode::BAD_REQUEST, "invalid_request").await;
        assert_eq!(
            err["error"]["details"]["field"], field,
            "{field} = {value}: {err}"
        );
    }
    let mut missing = good.clone();
    missing.as_object_mut().unwrap().remove("phone");
    let err = assert_error(
        app.post_json("/api/auth/register", &missing).await,
        StatusCode::BAD_REQUEST,
        "invalid_request",
    )
    .await;
    assert_eq!(err["error"]["details"]["field"], "phone");

    let count: i64 = app
        .db()
        .await
        .query_one("SELECT count(*) FROM users", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(count, 0, "nothing invalid was stored");
}

#[tokio::test]
async fn register_with_an_idempotency_key_replays_the_first_response() {
    let app = spawn_app().await;
    let body = json!({"name": "Rahim", "email": unique_email(), "phone": unique_phone(), "password": "long-enough"});
    let send = |key: &'static str, body: serde_json::Value| {
        app.client
            .post(app.url("/api/auth/register"))
            .header("Idempotency-Key", key)
            .json(&body)
            .send()
    };
    let first = send("key-1", body.clone()).await.unwrap();
    assert_eq!(first.status(), StatusCode::CREATED);
    let first: serde_json::Value = first.json().await.unwrap();
    let again = send("key-1", body.clone()).await.unwrap();
    assert_eq!(
        again.status(),
        StatusCode::CREATED,
        "a replay, not 409 already_registered"
    );
    assert_eq!(again.headers()["idempotent-replayed"], "true");
    assert_eq!(again.json::<serde_json::Value>().await.unwrap(), first);

    let mut other = body.clone();
    other["email"] = json!(unique_email());
    let reused = send("key-1", other).await.unwrap();
    assert_error(reused, StatusCode::CONFLICT, "idempotency_key_reused").await;

    // Without the key a repeat is a new request: the account exists.
    let plain = app.post_json("/api/auth/register", &body).await;
    assert_error(plain, StatusCode::CONFLICT, "already_registered").await;
    let users: i64 = app
        .db()
        .await
        .query_one("SELECT count(*) FROM users", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(users, 1);

    let too_long = app
        .client
        .post(app.url("/api/auth/register"))
        .header("Idempotency-Key", "k".repeat(256))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_error(too_long, StatusCode::BAD_REQUEST, "invalid_request").await;
}

#[tokio::test]
async fn register_publishes_user_registered_with_the_contact_through_the_outbox() {
    let app = spawn_app().await;
    let mut listener = app.listen("user.registered").await;
    let (email, phone) = (unique_email(), unique_phone());
    let res = app
        .client
        .post(app.url("/api/auth/register"))
        .header("x-request-id", "register-trace-7")
        .json(&json!({"name": "Rahim Uddin", "email": email, "phone": phone, "password": "s3cret-pass"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::CREATED);
    let body: serde_json::Value = res.json().await.unwrap();
    let user_id = body["user"]["id"].clone();

    let delivery = listener.next(WAIT).await.expect("user.registered arrives");
    let event: serde_json::Value = serde_json::from_slice(&delivery.data).unwrap();
    assert_eq!(event["type"], "user.registered");
    assert_eq!(
        event["payload"],
        json!({"user_id": user_id, "name": "Rahim Uddin", "email": email, "phone": phone})
    );
    assert_eq!(delivery.routing_key.as_str(), "user.registered");
    assert_eq!(
        delivery
            .properties
            .message_id()
            .as_ref()
            .map(|m| m.to_string()),
        event["event_id"].as_str().map(str::to_owned)
    );
    let headers = delivery.properties.headers().as_ref().expect("headers");
    assert_eq!(
        headers.inner().get("x-request-id"),
        Some(&lapin::types::AMQPValue::LongString(
            "register-trace-7".into()
        )),
        "the request id travels with the event"
    );

    // The relay marks the row sent after the broker's confirm, which may come a moment
    // after the event has reached the listener.
    let event_id = uuid::Uuid::parse_str(event["event_id"].as_str().unwrap()).unwrap();
    let db = app.db().await;
    eventually("the outbox row to be marked sent", || async {
        let sent: Option<chrono::DateTime<chrono::Utc>> = db
            .query_one(
                "SELECT sent_at FROM outbox WHERE event_id = $1",
                &[&event_id],
            )
            .await
            .unwrap()
            .get(0);
        sent.is_some()
    })
    .await;
}

#[tokio::test]
async fn a_refused_registration_publishes_no_event() {
    let app = spawn_app().await;
    let mut listener = app.listen("user.registered").await;
    let first = app.register().await;
    let event = listener
        .next_json(WAIT)
        .await
        .expect("the first registration's event");
    assert_eq!(event["payload"]["email"], first.email);
    let res = app
        .post_json(
            "/api/auth/register",
            &json!({"name": "Karim", "email": first.email, "phone": unique_phone(), "password": "another-pass"}),
        )
        .await;
    assert_error(res, StatusCode::CONFLICT, "already_registered").await;
    assert!(
        listener
            .next(std::time::Duration::from_millis(1500))
            .await
            .is_none(),
        "no event for a refused registration"
    );
    let rows: i64 = app
        .db()
        .await
        .query_one("SELECT count(*) FROM outbox", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(rows, 1, "only the first registration's event");
}
