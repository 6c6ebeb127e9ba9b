use e2e::stack::{Options, Stack};
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::time::Duration;

fn kinds(inbox: &[Value]) -> Vec<&str> {
    inbox.iter().filter_map(|n| n["kind"].as_str()).collect()
}

#[tokio::test]
async fn tok_visa_is_charged_and_the_passenger_gets_a_paid_booking_and_a_ticket() {
    let stack = Stack::start(Options::default()).await;
    let rahim = stack.passenger().await;
    let booking = stack.book(&rahim, &[1, 2], "tok_visa").await;
    assert_eq!(booking["status"], "confirmed");

    let paid = stack.booking_until(&rahim, &booking, "paid").await;
    let code = paid["ticket_code"].as_str().unwrap().to_owned();
    let payment = stack.payment_until(&rahim, &booking, "succeeded").await;
    assert_eq!(payment["attempts"], 1);
    assert_eq!(payment["amount"], booking["amount"]);

    let inbox = stack.inbox_with(&rahim, &["ticket"]).await;
    let ticket = inbox.iter().find(|n| n["kind"] == "ticket").unwrap();
    assert_eq!(ticket["to"], rahim.email.as_str());
    let body = ticket["body"].as_str().unwrap();
    assert!(body.contains(&code), "{body}");
    assert!(
        body.contains("Traveller 0") && body.contains("Traveller 1"),
        "{body}"
    );
    let seats = stack.seat_statuses().await;
    assert_eq!(
        (seats[&1].as_str(), seats[&2].as_str()),
        ("booked", "booked")
    );
    stack.assert_consistent().await;
}

#[tokio::test]
async fn a_declined_card_fails_and_a_retry_with_a_good_token_pays() {
    let stack = Stack::start(Options::default()).await;
    let rahim = stack.passenger().await;
    let booking = stack.book(&rahim, &[3], "tok_chargeDeclined").await;
    let failed = stack.payment_until(&rahim, &booking, "failed").await;
    assert_eq!(failed["attempts"], 1);
    stack.inbox_with(&rahim, &["payment_failed"]).await;
    let current = stack.booking_until(&rahim, &booking, "confirmed").await;
    assert!(current["ticket_code"].is_null());

    let id = booking["booking_id"].as_str().unwrap();
    let res = stack
        .payment
        .with_token(&rahim.token)
        .post_json(
            &format!("/api/payments/{id}/retry"),
            &json!({"payment_token": "tok_visa"}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::ACCEPTED);
    stack.booking_until(&rahim, &booking, "paid").await;
    let payment = stack.payment_until(&rahim, &booking, "succeeded").await;
    assert_eq!(payment["attempts"], 2);
    stack
        .inbox_with(&rahim, &["payment_failed", "ticket"])
        .await;
    stack.assert_consistent().await;
}

#[tokio::test]
async fn an_unpaid_booking_expires_its_seats_come_free_and_it_can_no_longer_be_paid() {
    let stack = Stack::start(Options {
        payment_window_secs: Some(2),
        ..Default::default()
    })
    .await;
    let rahim = stack.passenger().await;
    let booking = stack.book(&rahim, &[4, 5], "tok_chargeDeclined").await;
    stack.payment_until(&rahim, &booking, "failed").await;
    stack.booking_until(&rahim, &booking, "expired").await;
    let seats = stack.seat_statuses().await;
    assert_eq!(
        (seats[&4].as_str(), seats[&5].as_str()),
        ("available", "available")
    );

    let id = booking["booking_id"].as_str().unwrap();
    let res = stack
        .payment
        .with_token(&rahim.token)
        .post_json(
            &format!("/api/payments/{id}/retry"),
            &json!({"payment_token": "tok_visa"}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::CONFLICT);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["error"]["code"], "not_retryable");
    let inbox = stack
        .inbox_with(&rahim, &["payment_failed", "booking_expired"])
        .await;
    assert!(!kinds(&inbox).contains(&"ticket"));
    // Someone else buys the freed seats.
    let karim = stack.passenger().await;
    stack.book(&karim, &[4, 5], "tok_visa").await;
    stack.assert_consistent().await;
}

#[tokio::test]
async fn cancelling_a_paid_booking_refunds_it_and_frees_the_seats() {
    let stack = Stack::start(Options::default()).await;
    let rahim = stack.passenger().await;
    let booking = stack.book(&rahim, &[6], "tok_visa").await;
    stack.booking_until(&rahim, &booking, "paid").await;
    let id = booking["booking_id"].as_str().unwrap();
    let res = stack
        .booking
        .with_token(&rahim.token)
        .post_json(&format!("/api/bookings/{id}/cancel"), &json!({}))
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let payment = stack.payment_until(&rahim, &booking, "refunded").await;
    assert_eq!(payment["amount"], booking["amount"]);
    assert_eq!(stack.seat_statuses().await[&6], "available");
    stack
        .inbox_with(&rahim, &["ticket", "booking_cancelled"])
        .await;
    stack.assert_consistent().await;
}

#[tokio::test]
async fn an_otp_request_reaches_the_inbox_of_the_phones_owner_only() {
    let stack = Stack::start(Options::default()).await;
    let rahim = stack.passenger().await;
    let karim = stack.passenger().await;
    let res = stack
        .auth
        .post_json("/api/auth/otp/request", &json!({"phone": rahim.phone}))
        .await;
    assert_eq!(res.status(), StatusCode::ACCEPTED);
    let code = res.json::<Value>().await.unwrap()["dev_code"]
        .as_str()
        .unwrap()
        .to_owned();
    let inbox = stack.inbox_with(&rahim, &["otp"]).await;
    let otp = inbox.iter().find(|n| n["kind"] == "otp").unwrap();
    assert_eq!(otp["channel"], "sms");
    assert_eq!(otp["to"], rahim.phone.as_str());
    assert!(otp["body"].as_str().unwrap().contains(&code));
    // The code logs the owner in; nobody else sees it.
    let res = stack
        .auth
        .post_json(
            "/api/auth/otp/verify",
            &json!({"phone": rahim.phone, "code": code}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let theirs = stack
        .notification
        .with_token(&karim.token)
        .get_json("/api/notifications")
        .await;
    assert!(!kinds(theirs["notifications"].as_array().unwrap()).contains(&"otp"));
}

#[tokio::test]
async fn with_the_broker_unreachable_confirms_succeed_and_every_event_goes_out_once_it_is_back() {
    let stack = Stack::start(Options {
        broker_proxy: true,
        ..Default::default()
    })
    .await;
    let passengers = [
        stack.passenger().await,
        stack.passenger().await,
        stack.passenger().await,
    ];
    let proxy = stack.proxy.as_ref().unwrap();
    proxy.cut();
    let mut bookings = Vec::new();
    for (i, p) in passengers.iter().enumerate() {
        let seat = i32::try_from(i).unwrap() + 7;
        bookings.push(stack.book(p, &[seat], "tok_visa").await);
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(stack.unsent_booking_events().await, 3, "held in the outbox");
    for (p, b) in passengers.iter().zip(&bookings) {
        let now = stack
            .booking
            .with_token(&p.token)
            .get_json(&format!(
                "/api/bookings/{}",
                b["booking_id"].as_str().unwrap()
            ))
            .await;
        assert_eq!(now["status"], "confirmed", "nothing can be paid yet");
    }
    proxy.restore();
    for (p, b) in passengers.iter().zip(&bookings) {
        stack.booking_until(p, b, "paid").await;
        stack.inbox_with(p, &["ticket"]).await;
    }
    stack.assert_consistent().await;
}

#[tokio::test]
async fn the_consistency_check_names_a_paid_booking_without_its_ticket_or_payment() {
    let stack = Stack::start(Options::default()).await;
    let rahim = stack.passenger().await;
    let booking = stack.book(&rahim, &[9], "tok_visa").await;
    stack.booking_until(&rahim, &booking, "paid").await;
    stack.inbox_with(&rahim, &["ticket"]).await;
    stack.assert_consistent().await;

    let id = uuid::Uuid::parse_str(booking["booking_id"].as_str().unwrap()).unwrap();
    stack
        .tamper(
            &stack.notification,
            "DELETE FROM notifications WHERE booking_id = $1",
            id,
        )
        .await;
    stack
        .tamper(
            &stack.payment,
            "UPDATE payments SET status = 'failed' WHERE booking_id = $1",
            id,
        )
        .await;
    let report = stack.check_now().await;
    let text = report.to_string();
    assert!(!report.is_consistent());
    assert!(
        text.contains(&format!("paid booking {id} has 0 ticket notifications")),
        "{text}"
    );
    assert!(text.contains("not one succeeded"), "{text}");
}
