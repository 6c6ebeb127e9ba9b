//! Signed tickets and check-in: `ticket_qr` on a paid booking, the published keys, verify and
//! board (`docs/api.md`, "The railway's side").

use crate::helpers::{BookingApp, User, assert_error, spawn_app, spawn_app_with, user};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use booking_service::tickets::Ticket;
use booking_service::tickets::keys::TicketKeys;
use ed25519_dalek::{Signature, Verifier, VerifyingKey};
use futures_util::future::join_all;
use reqwest::StatusCode;
use serde_json::{Value, json};
use servicekit::testing::{keys, sign_token};
use uuid::Uuid;

/// A railway user with `role` (`conductor` or `admin`): the two who check tickets.
fn staff(role: &str) -> User {
    let id = Uuid::new_v4();
    User {
        id,
        token: sign_token(id, role, &keys().unwrap().private).unwrap(),
    }
}

/// Books `seats` for a new passenger and plays payment-service's success; returns the paid
/// booking (with its `ticket_qr`) and its owner.
async fn paid(app: &BookingApp, seats: &[i32]) -> (Value, User) {
    app.payments_ready().await;
    let rahim = user();
    let booking = app.book(&rahim, seats).await;
    assert!(booking.get("ticket_qr").is_none(), "{booking}");
    let outcome = json!({
        "payment_id": Uuid::new_v4(), "booking_id": booking["booking_id"], "user_id": rahim.id,
        "amount": booking["amount"], "currency": "BDT", "attempts": 1, "failure": null,
        "payment_due_at": booking["payment_due_at"],
    });
    app.publish("payment.succeeded", &outcome).await;
    let done = app
        .booking_until(&rahim, &booking["booking_id"], |b| b["status"] == "paid")
        .await;
    (done, rahim)
}

async fn post(app: &BookingApp, who: Option<&User>, path: &str, body: Value) -> reqwest::Response {
    let mut req = app.request(reqwest::Method::POST, path).json(&body);
    if let Some(who) = who {
        req = req.bearer_auth(&who.token);
    }
    req.send().await.unwrap()
}

async fn ok(res: reqwest::Response) -> Value {
    let status = res.status();
    let body: Value = res.json().await.unwrap();
    assert_eq!(status, StatusCode::OK, "{body}");
    body
}

/// Verifies `body` as a conductor; the 200 answer.
async fn verify(app: &BookingApp, conductor: &User, body: Value) -> Value {
    ok(post(app, Some(conductor), "/api/tickets/verify", body).await).await
}

/// Asserts that boarding `body` is refused as `not_boardable` with `state`.
async fn not_boardable(app: &BookingApp, conductor: &User, body: Value, state: &str) {
    let res = post(app, Some(conductor), "/api/tickets/board", body).await;
    let body = assert_error(res, StatusCode::CONFLICT, "not_boardable").await;
    assert_eq!(body["error"]["details"]["state"], state);
}

/// Rows of the boardings table.
async fn boardings(app: &BookingApp) -> i64 {
    let db = app.db().await;
    let row = db.query_one("SELECT count(*) FROM boardings", &[]).await;
    row.unwrap().get(0)
}

fn qr(booking: &Value) -> String {
    booking["ticket_qr"].as_str().unwrap().to_owned()
}

/// The ticket text's three parts.
fn parts(qr: &str) -> (String, String, String) {
    let p: Vec<&str> = qr.split('.').collect();
    assert_eq!(p.len(), 3, "{qr}");
    (p[0].to_owned(), p[1].to_owned(), p[2].to_owned())
}

#[tokio::test]
async fn a_paid_booking_carries_a_signed_ticket_that_the_published_key_verifies_offline() {
    let app = spawn_app().await;
    let (booking, rahim) = paid(&app, &[1, 2]).await;
    let text = qr(&booking);
    // The same text on every read, in the list too.
    let again = app
        .booking_until(&rahim, &booking["booking_id"], |_| true)
        .await;
    assert_eq!(qr(&again), text);
    let list = app.with_token(&rahim.token).get_json("/api/bookings").await;
    assert_eq!(list["bookings"][0]["ticket_qr"], text.as_str());

    // Anyone may fetch the keys; the signature verifies with the raw published key.
    let keys = app.get_json("/api/tickets/keys").await;
    let key = &keys["keys"][0];
    assert_eq!(key["alg"], "EdDSA");
    assert_eq!(key["current"], true);
    let raw: [u8; 32] = URL_SAFE_NO_PAD
        .decode(key["public_key"].as_str().unwrap())
        .unwrap()
        .try_into()
        .unwrap();
    let public = VerifyingKey::from_bytes(&raw).unwrap();
    let (prefix, payload, signature) = parts(&text);
    assert_eq!(prefix, "RRT1");
    let signature = Signature::from_slice(&URL_SAFE_NO_PAD.decode(&signature).unwrap()).unwrap();
    public
        .verify(format!("{prefix}.{payload}").as_bytes(), &signature)
        .unwrap();

    let ticket: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(&payload).unwrap()).unwrap();
    assert_eq!(ticket["kid"], key["kid"]);
    assert_eq!(ticket["booking_id"], booking["booking_id"]);
    assert_eq!(ticket["ticket_code"], booking["ticket_code"]);
    assert_eq!(ticket["trip_id"], app.trip);
    assert_eq!(
        (ticket["from"].as_str(), ticket["to"].as_str()),
        (Some("DHK"), Some("CTG"))
    );
    assert!(!ticket["train"]["number"].as_str().unwrap().is_empty());
    assert_eq!(ticket["passengers"], json!(["Passenger 0", "Passenger 1"]));
    let seats: Vec<i64> = ticket["seats"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["seat_id"].as_i64().unwrap())
        .collect();
    assert_eq!(seats, [1, 2]);
    assert!(ticket["seats"][0]["label"].as_str().is_some());
}

#[tokio::test]
async fn a_ticket_verifies_valid_boards_once_and_a_second_device_is_refused() {
    let app = spawn_app().await;
    let (booking, _) = paid(&app, &[3]).await;
    let conductor = staff("conductor");
    let text = qr(&booking);

    let checked = verify(&app, &conductor, json!({"qr": text})).await;
    assert_eq!(checked["state"], "valid");
    assert_eq!(checked["ticket"]["booking_id"], booking["booking_id"]);
    assert!(checked.get("boarded_at").is_none());

    let board = json!({"qr": text, "device": "coach-a", "trip_id": app.trip});
    let first = ok(post(&app, Some(&conductor), "/api/tickets/board", board.clone()).await).await;
    assert_eq!(first["state"], "boarded");
    assert_eq!(first["device"], "coach-a");
    assert_eq!(first["by"], json!(conductor.id));
    // The same device again (a retried request): the first boarding.
    let retried = ok(post(&app, Some(&conductor), "/api/tickets/board", board).await).await;
    assert_eq!(retried["boarded_at"], first["boarded_at"]);
    // Another device: refused with the first scan's time and device.
    let res = post(
        &app,
        Some(&staff("admin")),
        "/api/tickets/board",
        json!({"qr": text, "device": "coach-b"}),
    )
    .await;
    let body = assert_error(res, StatusCode::CONFLICT, "already_boarded").await;
    assert_eq!(body["error"]["details"]["boarded_at"], first["boarded_at"]);
    assert_eq!(body["error"]["details"]["device"], "coach-a");
    // No device named: refused too.
    let res = post(
        &app,
        Some(&conductor),
        "/api/tickets/board",
        json!({"qr": text}),
    )
    .await;
    assert_error(res, StatusCode::CONFLICT, "already_boarded").await;

    let checked = verify(&app, &conductor, json!({"qr": text})).await;
    assert_eq!(checked["state"], "boarded");
    assert_eq!(checked["boarded_at"], first["boarded_at"]);
    assert_eq!(checked["device"], "coach-a");
    assert_eq!(checked["by"], json!(conductor.id));
    for (outcome, n) in [
        ("boarded", 1.0),
        ("again_same_device", 1.0),
        ("already_boarded", 2.0),
    ] {
        let labels = [("outcome", outcome)];
        let value = app
            .metric("railrush_booking_tickets_boarded_total", &labels)
            .await;
        assert_eq!(value, n, "{outcome}");
    }
    for state in ["valid", "boarded"] {
        let labels = [("state", state)];
        let value = app
            .metric("railrush_booking_tickets_verified_total", &labels)
            .await;
        assert_eq!(value, 1.0, "{state}");
    }
}

#[tokio::test]
async fn parallel_boards_of_one_ticket_board_it_exactly_once() {
    let app = spawn_app().await;
    let (booking, _) = paid(&app, &[4]).await;
    let text = qr(&booking);
    let conductor = staff("conductor");
    let scans = (0..12).map(|i| {
        post(
            &app,
            Some(&conductor),
            "/api/tickets/board",
            json!({"qr": text, "device": format!("phone-{i}")}),
        )
    });
    let statuses: Vec<StatusCode> = join_all(scans).await.iter().map(|r| r.status()).collect();
    let boarded = statuses.iter().filter(|s| **s == StatusCode::OK).count();
    let refused = statuses
        .iter()
        .filter(|s| **s == StatusCode::CONFLICT)
        .count();
    assert_eq!((boarded, refused), (1, 11), "{statuses:?}");
    assert_eq!(boardings(&app).await, 1);
}

#[tokio::test]
async fn forged_altered_unknown_key_and_unreadable_tickets_are_refused() {
    let app = spawn_app().await;
    let (booking, _) = paid(&app, &[5]).await;
    let text = qr(&booking);
    let (prefix, payload, signature) = parts(&text);
    let mut ticket: Ticket =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(&payload).unwrap()).unwrap();

    // Altered: another passenger's name under the original signature.
    ticket.passengers = vec!["Somebody Else".into()];
    let altered_payload = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&ticket).unwrap());
    let altered = format!("{prefix}.{altered_payload}.{signature}");
    // Forged: the original payload (naming the service's key) signed by another key.
    let stranger = TicketKeys::random();
    let forged_signature = parts(&stranger.sign(&URL_SAFE_NO_PAD.decode(&payload).unwrap())).2;
    let forged = format!("{prefix}.{payload}.{forged_signature}");
    // A well-signed ticket of a key the service does not know.
    ticket.kid = stranger.kid().to_owned();
    let unknown_kid = stranger.sign(&serde_json::to_vec(&ticket).unwrap());

    let conductor = staff("conductor");
    for bad in [
        altered,
        forged,
        unknown_kid,
        "hello".into(),
        String::new(),
        format!("{text}x"),
        format!("{prefix}.{payload}"),
    ] {
        for path in ["/api/tickets/verify", "/api/tickets/board"] {
            let res = post(&app, Some(&conductor), path, json!({"qr": bad})).await;
            assert_error(res, StatusCode::BAD_REQUEST, "invalid_ticket").await;
        }
    }
    // None of them boarded the booking.
    let checked = verify(&app, &conductor, json!({"qr": text})).await;
    assert_eq!(checked["state"], "valid");
}

#[tokio::test]
async fn a_cancelled_booking_verifies_as_cancelled_and_cannot_be_boarded() {
    let app = spawn_app().await;
    let (booking, rahim) = paid(&app, &[6]).await;
    let text = qr(&booking);
    let path = format!(
        "/api/bookings/{}/cancel",
        booking["booking_id"].as_str().unwrap()
    );
    let cancelled = ok(post(&app, Some(&rahim), &path, json!({})).await).await;
    assert_eq!(cancelled["status"], "cancelled");
    assert!(cancelled.get("ticket_qr").is_none(), "{cancelled}");

    let conductor = staff("conductor");
    let checked = verify(&app, &conductor, json!({"qr": text})).await;
    assert_eq!(checked["state"], "cancelled");
    not_boardable(&app, &conductor, json!({"qr": text}), "cancelled").await;
}

#[tokio::test]
async fn a_ticket_of_another_trip_is_wrong_trip_and_cannot_be_boarded_there() {
    let app = spawn_app().await;
    let (booking, _) = paid(&app, &[7]).await;
    let text = qr(&booking);
    let conductor = staff("conductor");
    let other = app.departed_trip;
    let checked = verify(&app, &conductor, json!({"qr": text, "trip_id": other})).await;
    assert_eq!(checked["state"], "wrong_trip");
    let checked = verify(&app, &conductor, json!({"qr": text, "trip_id": app.trip})).await;
    assert_eq!(checked["state"], "valid");
    not_boardable(
        &app,
        &conductor,
        json!({"qr": text, "trip_id": other}),
        "wrong_trip",
    )
    .await;
    let res = post(
        &app,
        Some(&conductor),
        "/api/tickets/verify",
        json!({"qr": text, "trip_id": 0}),
    )
    .await;
    assert_error(res, StatusCode::BAD_REQUEST, "invalid_request").await;
}

/// The service signs with a configured key and still accepts tickets of a previous key
/// (rotation); a ticket whose train left more than a day ago is `expired`.
#[tokio::test]
async fn a_previous_keys_tickets_verify_after_rotation_and_old_journeys_are_expired() {
    let k = keys().unwrap();
    let app = spawn_app_with(|s| {
        s.tickets.signing_key_path = Some(k.other_private.clone());
        s.tickets.previous_public_key_paths = vec![k.public.clone()];
    })
    .await;
    let (booking, _) = paid(&app, &[8]).await;
    let published = app.get_json("/api/tickets/keys").await;
    let previous = TicketKeys::load(&k.private, &[]).unwrap();
    let kids: Vec<&str> = published["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|key| key["kid"].as_str().unwrap())
        .collect();
    assert_eq!(kids.len(), 2);
    assert_eq!(kids[1], previous.kid());
    let current = parts(&qr(&booking)).1;
    let mut ticket: Ticket =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(current).unwrap()).unwrap();
    assert_eq!(ticket.kid, kids[0]);

    // The same booking's ticket as the previous key signed it: valid.
    ticket.kid = previous.kid().to_owned();
    let old = previous.sign(&serde_json::to_vec(&ticket).unwrap());
    let conductor = staff("conductor");
    let checked = verify(&app, &conductor, json!({"qr": old})).await;
    assert_eq!(checked["state"], "valid");
    // Its train departed two days ago: expired, and not boardable.
    ticket.departs_at = chrono::Utc::now() - chrono::Duration::days(2);
    let old = previous.sign(&serde_json::to_vec(&ticket).unwrap());
    let checked = verify(&app, &conductor, json!({"qr": old})).await;
    assert_eq!(checked["state"], "expired");
    not_boardable(&app, &conductor, json!({"qr": old}), "expired").await;
}

#[tokio::test]
async fn only_staff_check_tickets() {
    let app = spawn_app().await;
    let (booking, rahim) = paid(&app, &[9]).await;
    let body = json!({"qr": qr(&booking)});
    for path in ["/api/tickets/verify", "/api/tickets/board"] {
        let res = post(&app, Some(&rahim), path, body.clone()).await;
        assert_error(res, StatusCode::FORBIDDEN, "forbidden").await;
        let res = post(&app, None, path, body.clone()).await;
        assert_error(res, StatusCode::UNAUTHORIZED, "unauthorized").await;
    }
    assert_eq!(boardings(&app).await, 0);
    // An admin checks tickets as a conductor does.
    let checked = verify(&app, &staff("admin"), body).await;
    assert_eq!(checked["state"], "valid");
}

async fn manifest(app: &BookingApp, who: Option<&User>, trip: i64) -> reqwest::Response {
    let mut req = app.request(
        reqwest::Method::GET,
        &format!("/api/tickets/trips/{trip}/manifest"),
    );
    if let Some(who) = who {
        req = req.bearer_auth(&who.token);
    }
    req.send().await.unwrap()
}

#[tokio::test]
async fn a_trips_manifest_lists_every_ticket_ever_paid_with_its_state_boarding_and_the_keys() {
    let app = spawn_app().await;
    let conductor = staff("conductor");
    let (boarded, _) = paid(&app, &[1, 2]).await;
    let (cancelled, owner) = paid(&app, &[3]).await;
    let (valid, _) = paid(&app, &[4]).await;
    // Confirmed but never paid: no ticket, not listed.
    let unpaid = app.book(&user(), &[5]).await;
    let board = json!({"qr": qr(&boarded), "device": "coach-a"});
    let first = ok(post(&app, Some(&conductor), "/api/tickets/board", board).await).await;
    let path = format!(
        "/api/bookings/{}/cancel",
        cancelled["booking_id"].as_str().unwrap()
    );
    ok(post(&app, Some(&owner), &path, json!({})).await).await;

    let before = chrono::Utc::now();
    let got = ok(manifest(&app, Some(&conductor), app.trip).await).await;
    assert_eq!(got["trip_id"], app.trip);
    let generated: chrono::DateTime<chrono::Utc> =
        got["generated_at"].as_str().unwrap().parse().unwrap();
    assert!(generated >= before - chrono::Duration::seconds(1), "{got}");
    assert_eq!(got["valid_hours_after_departure"], 24);
    assert_eq!(got["keys"], app.get_json("/api/tickets/keys").await["keys"]);
    // The journey, as the tickets print it.
    let ticket: Ticket = {
        let payload = parts(&qr(&valid)).1;
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap()
    };
    assert_eq!(got["trip"]["train"]["number"], ticket.train.number.as_str());
    assert_eq!(got["trip"]["from"], "DHK");
    assert_eq!(got["trip"]["to"], "CTG");
    let departs: chrono::DateTime<chrono::Utc> =
        got["trip"]["departs_at"].as_str().unwrap().parse().unwrap();
    assert_eq!(departs, ticket.departs_at);

    let tickets = got["tickets"].as_array().unwrap();
    let of = |b: &Value| {
        tickets
            .iter()
            .find(|t| t["booking_id"] == b["booking_id"])
            .cloned()
    };
    assert_eq!(tickets.len(), 3, "{got}");
    assert!(of(&unpaid).is_none(), "an unpaid booking has no ticket");
    let t = of(&boarded).unwrap();
    assert_eq!(
        t,
        json!({
            "booking_id": boarded["booking_id"], "status": "paid", "seat_ids": [1, 2],
            "passengers": ["Passenger 0", "Passenger 1"],
            "boarded_at": first["boarded_at"], "device": "coach-a",
        })
    );
    let t = of(&cancelled).unwrap();
    assert_eq!(
        (&t["status"], &t["seat_ids"], &t["boarded_at"], &t["device"]),
        (&json!("cancelled"), &json!([3]), &Value::Null, &Value::Null)
    );
    let t = of(&valid).unwrap();
    assert_eq!(
        (&t["status"], &t["boarded_at"]),
        (&json!("paid"), &Value::Null)
    );
    // In booking id order, so two downloads compare equal.
    let ids: Vec<&str> = tickets
        .iter()
        .map(|t| t["booking_id"].as_str().unwrap())
        .collect();
    let mut sorted = ids.clone();
    sorted.sort_unstable();
    assert_eq!(ids, sorted);

    // An admin reads it too; another trip's manifest has none of these tickets.
    let admin = ok(manifest(&app, Some(&staff("admin")), app.trip).await).await;
    assert_eq!(admin["tickets"], got["tickets"]);
    let other = ok(manifest(&app, Some(&conductor), app.departed_trip).await).await;
    assert_eq!(other["tickets"], json!([]));
}

#[tokio::test]
async fn the_manifest_is_for_staff_and_refuses_unknown_and_malformed_trips() {
    let app = spawn_app().await;
    let (_, rahim) = paid(&app, &[1]).await;
    let res = manifest(&app, Some(&rahim), app.trip).await;
    assert_error(res, StatusCode::FORBIDDEN, "forbidden").await;
    let res = manifest(&app, None, app.trip).await;
    assert_error(res, StatusCode::UNAUTHORIZED, "unauthorized").await;
    let conductor = staff("conductor");
    let res = manifest(&app, Some(&conductor), 987_654_321).await;
    assert_error(res, StatusCode::NOT_FOUND, "not_found").await;
    for bad in ["0", "-3", "abc", "1.5"] {
        let res = app
            .request(
                reqwest::Method::GET,
                &format!("/api/tickets/trips/{bad}/manifest"),
            )
            .bearer_auth(&conductor.token)
            .send()
            .await
            .unwrap();
        assert_error(res, StatusCode::BAD_REQUEST, "invalid_request").await;
    }
}
