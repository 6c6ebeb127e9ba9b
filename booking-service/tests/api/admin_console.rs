//! The operator console's calls on booking-service: the sales overview of a date, closing
//! and reopening a trip's sales (train-service's admin call, enforced on select), the
//! booking lookup with history, and the refunds that complete a trip cancellation.

use crate::helpers::{BookingApp, User, assert_error, eventually, spawn_app, spawn_app_with, user};
use crate::saga::outcome;
use chrono::NaiveDate;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use servicekit::amqp::Envelope;
use servicekit::testing::{keys, poll, sign_token};
use uuid::Uuid;

fn someone(role: &str) -> User {
    let id = Uuid::new_v4();
    User {
        id,
        token: sign_token(id, role, &keys().unwrap().private).unwrap(),
    }
}

/// The service date (Asia/Dhaka) of the app's trip, as train-service keeps it.
async fn service_date(app: &BookingApp) -> NaiveDate {
    app.train
        .db()
        .await
        .query_one(
            "SELECT service_date FROM trips WHERE trip_id = $1",
            &[&app.trip],
        )
        .await
        .unwrap()
        .get(0)
}

async fn ok(res: reqwest::Response) -> Value {
    let status = res.status();
    let body: Value = res.json().await.unwrap();
    assert_eq!(status, StatusCode::OK, "{body}");
    body
}

/// The overview's entry of the app's trip.
async fn trip_sales(app: &BookingApp, admin: &User, date: NaiveDate) -> Value {
    let path = format!("/api/bookings/admin/sales?date={date}");
    let body = ok(app.with_token(&admin.token).get(&path).await).await;
    assert_eq!(body["date"], date.to_string());
    assert!(body["generated_at"].is_string(), "{body}");
    body["trips"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["trip_id"] == app.trip)
        .cloned()
        .unwrap_or_else(|| panic!("trip {} not in {body}", app.trip))
}

/// Books `seats` for a new passenger and plays payment-service's success.
/// payment-service's `payment.refunded` for `booking` of `user` (a new payment id each time).
fn refund(booking: &Value, user: Uuid) -> Value {
    json!({
        "payment_id": Uuid::new_v4(), "booking_id": booking["booking_id"],
        "user_id": user, "amount": booking["amount"], "currency": "BDT",
    })
}

async fn paid_booking(app: &BookingApp, seats: &[i32]) -> (User, Value) {
    let passenger = user();
    let booking = app.book(&passenger, seats).await;
    app.publish(
        "payment.succeeded",
        &outcome(&booking, passenger.id, None, 1),
    )
    .await;
    let paid = app
        .booking_until(&passenger, &booking["booking_id"], |b| {
            b["status"] == "paid"
        })
        .await;
    (passenger, paid)
}

async fn set_sales(app: &BookingApp, body: Value) -> reqwest::Response {
    let admin = someone("admin");
    app.train
        .request(
            Method::PUT,
            &format!("/api/trains/admin/trips/{}/sales", app.trip),
        )
        .bearer_auth(admin.token)
        .json(&body)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn the_sales_overview_counts_sold_held_free_per_class_and_boarded() {
    let app = spawn_app().await;
    app.payments_ready().await;
    let admin = someone("admin");
    let date = service_date(&app).await;

    let before = trip_sales(&app, &admin, date).await;
    assert_eq!(before["sold"], 0);
    assert_eq!(before["free"], app.seats);

    app.hold(&user(), &[1]).await;
    let (_, paid) = paid_booking(&app, &[2, 3]).await;
    let res = app
        .with_token(&someone("conductor").token)
        .post_json(
            "/api/tickets/board",
            &json!({ "qr": paid["ticket_qr"], "device": "coach-a" }),
        )
        .await;
    ok(res).await;

    let trip = trip_sales(&app, &admin, date).await;
    assert_eq!(trip["sales_closed"], false);
    assert!(trip["train_name"].as_str().is_some_and(|n| !n.is_empty()));
    assert!(trip["from"].is_string() && trip["to"].is_string());
    let opens: chrono::DateTime<chrono::Utc> =
        serde_json::from_value(trip["sales_open_at"].clone()).unwrap();
    assert_eq!(trip["sale_id"], opens.format("%Y%m%dT%H%M%SZ").to_string());
    assert_eq!(
        trip["classes"],
        json!([{ "class": app.seat_class, "total": app.seats, "sold": 2, "held": 1,
                 "free": app.seats - 3 }])
    );
    assert_eq!(
        (&trip["sold"], &trip["held"], &trip["free"]),
        (&json!(2), &json!(1), &json!(app.seats - 3))
    );
    assert_eq!(trip["boarded"], 1);
    assert_eq!(trip["sold_last_minute"], 2);
    assert_eq!(trip["cancellation"], Value::Null);
    assert_eq!(trip["waiting_room"], Value::Null);
    // Another date: not this trip.
    let other = date.succ_opt().unwrap().succ_opt().unwrap();
    let path = format!("/api/bookings/admin/sales?date={other}");
    let body = ok(app.with_token(&admin.token).get(&path).await).await;
    assert_eq!(body["trips"], json!([]));

    let path = format!("/api/bookings/admin/sales?date={date}");
    let res = app.with_token(&user().token).get(&path).await;
    assert_error(res, StatusCode::FORBIDDEN, "forbidden").await;
    assert_error(
        app.get(&path).await,
        StatusCode::UNAUTHORIZED,
        "unauthorized",
    )
    .await;
    for bad in ["", "?date=", "?date=2026-02-30", "?date=tomorrow"] {
        let res = app
            .with_token(&admin.token)
            .get(&format!("/api/bookings/admin/sales{bad}"))
            .await;
        let body = assert_error(res, StatusCode::BAD_REQUEST, "invalid_request").await;
        assert_eq!(body["error"]["details"]["field"], "date", "{bad}");
    }
}

#[tokio::test]
async fn closing_a_trips_sales_refuses_select_with_409_and_reopening_sells_again() {
    let app = spawn_app().await;
    let early = user();
    let hold = app.hold(&early, &[1]).await; // the inventory is cached now

    let res = set_sales(&app, json!({ "sales_closed": true })).await;
    let trip = ok(res).await;
    assert_eq!(trip["sales_closed"], true);
    // Seat 1 is held: 409 seat_unavailable until the refresh sees the close. (A new
    // passenger each try: one passenger's selects are limited per minute.)
    eventually("the close applies", || async {
        let res = app.select(&user(), app.trip, &[1]).await;
        let body: Value = res.json().await.unwrap();
        body["error"]["code"] == "sales_closed"
    })
    .await;
    let res = app.select(&user(), app.trip, &[2]).await;
    let body = assert_error(res, StatusCode::CONFLICT, "sales_closed").await;
    assert_eq!(body["error"]["message"], "sales of this trip are closed");
    // The hold taken before the close is still confirmed.
    let res = app.confirm(&early, &hold).await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let admin = someone("admin");
    let date = service_date(&app).await;
    let overview = trip_sales(&app, &admin, date).await;
    assert_eq!(overview["sales_closed"], true);
    assert_eq!(overview["sold"], 1);

    let res = set_sales(&app, json!({ "sales_closed": false })).await;
    assert_eq!(ok(res).await["sales_closed"], false);
    eventually("the reopening applies", || async {
        let res = app.select(&user(), app.trip, &[2]).await;
        res.status() == StatusCode::CREATED
    })
    .await;
}

/// `history` kinds of a lookup's booking.
fn kinds(booking: &Value) -> Vec<String> {
    booking["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["kind"].as_str().unwrap().to_owned())
        .collect()
}

async fn lookup(app: &BookingApp, admin: &User, query: &str) -> Vec<Value> {
    let path = format!("/api/bookings/admin/bookings?{query}");
    let body = ok(app.with_token(&admin.token).get(&path).await).await;
    body["bookings"].as_array().unwrap().clone()
}

#[tokio::test]
async fn an_admin_finds_a_booking_by_id_ticket_code_or_user_with_its_history() {
    let app = spawn_app().await;
    app.payments_ready().await;
    let admin = someone("admin");
    let (passenger, paid) = paid_booking(&app, &[1, 2]).await;
    let second = app.book(&passenger, &[3]).await;
    let id = paid["booking_id"].as_str().unwrap();
    let code = paid["ticket_code"].as_str().unwrap();

    let by_id = lookup(&app, &admin, &format!("booking_id={id}")).await;
    let by_code = lookup(&app, &admin, &format!("ticket_code={code}")).await;
    assert_eq!(by_id.len(), 1);
    assert_eq!(by_code.len(), 1);
    let found = &by_id[0];
    for field in [
        "booking_id",
        "trip_id",
        "seat_ids",
        "status",
        "amount",
        "ticket_code",
    ] {
        assert_eq!(found[field], paid[field], "{field}");
        assert_eq!(by_code[0][field], paid[field], "{field}");
    }
    assert_eq!(found["user_id"], json!(passenger.id));
    assert!(found["updated_at"].is_string());
    assert_eq!(found["boarded_at"], Value::Null);
    assert_eq!(found["boarded_by_device"], Value::Null);
    let kinds_found = kinds(found);
    for kind in ["confirmed", "paid", "booking.confirmed", "booking.paid"] {
        assert!(
            kinds_found.iter().any(|k| k == kind),
            "{kind} in {kinds_found:?}"
        );
    }
    let history = found["history"].as_array().unwrap();
    assert_eq!(history[0]["kind"], "confirmed");
    let position = |kind: &str| kinds_found.iter().position(|k| k == kind).unwrap();
    assert!(position("confirmed") < position("paid"), "{kinds_found:?}");
    assert!(
        position("booking.confirmed") < position("booking.paid"),
        "{kinds_found:?}"
    );
    for step in history
        .iter()
        .filter(|s| s["kind"].as_str().unwrap().contains('.'))
    {
        assert!(
            matches!(step["detail"].as_str(), Some("sent" | "unsent")),
            "{step}"
        );
    }

    // By user: both, newest first.
    let mine = lookup(&app, &admin, &format!("user_id={}", passenger.id)).await;
    let ids: Vec<&Value> = mine.iter().map(|b| &b["booking_id"]).collect();
    assert_eq!(ids, [&second["booking_id"], &paid["booking_id"]]);
    assert_eq!(mine[0]["status"], "confirmed");
    assert_eq!(kinds(&mine[0])[0], "confirmed");

    // Nobody's: an empty list.
    let none = lookup(&app, &admin, &format!("booking_id={}", Uuid::new_v4())).await;
    assert!(none.is_empty());
    let none = lookup(&app, &admin, "ticket_code=NOSUCHCODE").await;
    assert!(none.is_empty());

    for bad in [
        String::new(),
        format!("booking_id={id}&user_id={}", passenger.id),
        format!("booking_id={id}&ticket_code={code}"),
        "booking_id=not-a-uuid".into(),
        "user_id=42".into(),
        "ticket_code=".into(),
    ] {
        let path = format!("/api/bookings/admin/bookings?{bad}");
        let res = app.with_token(&admin.token).get(&path).await;
        assert_error(res, StatusCode::BAD_REQUEST, "invalid_request").await;
    }
    let path = format!("/api/bookings/admin/bookings?booking_id={id}");
    let res = app.with_token(&passenger.token).get(&path).await;
    assert_error(res, StatusCode::FORBIDDEN, "forbidden").await;
    let res = app.with_token(&someone("conductor").token).get(&path).await;
    assert_error(res, StatusCode::FORBIDDEN, "forbidden").await;
}

#[tokio::test]
async fn a_cancelled_trips_paid_booking_counts_as_refunded_once_payment_service_refunds_it() {
    let app = spawn_app_with(|s| s.booking.trip_cancel_interval_ms = 100).await;
    app.payments_ready().await;
    let admin = someone("admin");
    let (passenger, paid) = paid_booking(&app, &[1]).await;
    app.book(&user(), &[2]).await; // confirmed, never paid: no refund
    // A passenger who cancelled their own paid booking earlier and got the money back: not
    // one of the trip cancellation's refunds.
    let (early, own) = paid_booking(&app, &[3]).await;
    let own_id = own["booking_id"].as_str().unwrap();
    let res = app
        .with_token(&early.token)
        .post_json(&format!("/api/bookings/{own_id}/cancel"), &json!({}))
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    app.publish("payment.refunded", &refund(&own, early.id))
        .await;
    poll("the passenger's own refund to be recorded", || async {
        let found = lookup(&app, &admin, &format!("booking_id={own_id}")).await;
        if found[0]["refunded_at"].is_string() {
            Ok(())
        } else {
            Err(found[0].clone())
        }
    })
    .await;

    let path = format!("/api/bookings/admin/trips/{}/cancel", app.trip);
    let res = app
        .with_token(&admin.token)
        .post_json(&path, &json!({ "reason": "Flooding" }))
        .await;
    assert_eq!(res.status(), StatusCode::ACCEPTED);
    let progress_path = format!("/api/bookings/admin/trips/{}/cancellation", app.trip);
    let done = poll("the cancellation to finish", || async {
        let p = app.with_token(&admin.token).get_json(&progress_path).await;
        if p["done"] == true { Ok(p) } else { Err(p) }
    })
    .await;
    assert_eq!(done["refunds_requested"], 1);
    assert_eq!(done["refunds_completed"], 0);

    // payment-service's refund, delivered twice, and a second refund event of the booking.
    let refunded = Envelope::new("payment.refunded", &refund(&paid, passenger.id)).unwrap();
    app.publish_envelope(&refunded).await;
    app.publish_envelope(&refunded).await;
    poll("the refund to be counted", || async {
        let p = app.with_token(&admin.token).get_json(&progress_path).await;
        if p["refunds_completed"] == 1 {
            Ok(p)
        } else {
            Err(p)
        }
    })
    .await;
    let id = paid["booking_id"].as_str().unwrap();
    let found = lookup(&app, &admin, &format!("booking_id={id}")).await;
    let first_at = found[0]["refunded_at"].clone();
    assert!(first_at.is_string(), "{:?}", found[0]);
    assert!(kinds(&found[0]).iter().any(|k| k == "refunded"));
    assert!(kinds(&found[0]).iter().any(|k| k == "booking.cancelled"));

    app.publish("payment.refunded", &refund(&paid, passenger.id))
        .await;
    eventually("all three refund events applied", || async {
        app.db()
            .await
            .query_one(
                "SELECT count(*) FROM processed_events WHERE consumer = 'booking.refunds'",
                &[],
            )
            .await
            .unwrap()
            .get::<_, i64>(0)
            == 3
    })
    .await;
    let again = app.with_token(&admin.token).get_json(&progress_path).await;
    assert_eq!(again["refunds_completed"], 1);
    let found = lookup(&app, &admin, &format!("booking_id={id}")).await;
    assert_eq!(found[0]["refunded_at"], first_at);

    // The overview of the trip's date shows the cancellation with its refunds.
    let date = service_date(&app).await;
    let trip = trip_sales(&app, &admin, date).await;
    assert_eq!(trip["cancellation"]["refunds_completed"], 1);
    assert_eq!(trip["cancellation"]["reason"], "Flooding");
}
