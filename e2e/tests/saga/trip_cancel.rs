use e2e::stack::{Options, Passenger, Stack};
use reqwest::StatusCode;
use serde_json::{Value, json};
use servicekit::testing::{keys, poll, sign_token};
use uuid::Uuid;

const REASON: &str = "Flooding on the line near Feni";

async fn cancel(stack: &Stack, admin: &str) -> (StatusCode, Value) {
    let res = stack
        .booking
        .with_token(admin)
        .post_json(
            &format!("/api/bookings/admin/trips/{}/cancel", stack.trip),
            &json!({ "reason": REASON }),
        )
        .await;
    (res.status(), res.json().await.unwrap())
}

/// The passenger's `booking_cancelled` notifications.
async fn cancellations(stack: &Stack, who: &Passenger) -> Vec<Value> {
    stack
        .inbox_with(who, &["booking_cancelled"])
        .await
        .into_iter()
        .filter(|n| n["kind"] == "booking_cancelled")
        .collect()
}

#[tokio::test]
async fn a_cancelled_trip_refunds_every_paid_booking_once_and_tells_every_passenger_once() {
    let stack = Stack::start(Options::default()).await;
    let (rahim, karim, selim) = (
        stack.passenger().await,
        stack.passenger().await,
        stack.passenger().await,
    );
    let paid = [
        stack.book(&rahim, &[1, 2], "tok_visa").await,
        stack.book(&karim, &[3], "tok_visa").await,
    ];
    stack.booking_until(&rahim, &paid[0], "paid").await;
    stack.booking_until(&karim, &paid[1], "paid").await;
    // Declined: confirmed and unpaid when the trip is cancelled; nothing to refund.
    let unpaid = stack.book(&selim, &[4], "tok_chargeDeclined").await;
    stack.payment_until(&selim, &unpaid, "failed").await;

    // Two admins press the button at once: one cancellation.
    let admin = sign_token(Uuid::new_v4(), "admin", &keys().unwrap().private).unwrap();
    let other = sign_token(Uuid::new_v4(), "admin", &keys().unwrap().private).unwrap();
    let ((s1, first), (s2, second)) = tokio::join!(cancel(&stack, &admin), cancel(&stack, &other));
    for status in [s1, s2] {
        assert!(
            matches!(status, StatusCode::OK | StatusCode::ACCEPTED),
            "{status}"
        );
    }
    assert_eq!(first["requested_at"], second["requested_at"]);
    assert_eq!(first["requested_by"], second["requested_by"]);

    let path = format!("/api/bookings/admin/trips/{}/cancellation", stack.trip);
    let progress = poll("the trip cancellation to finish", || async {
        let p = stack.booking.with_token(&admin).get_json(&path).await;
        if p["done"] == true { Ok(p) } else { Err(p) }
    })
    .await;
    assert_eq!(progress["cancelled"], 3);
    assert_eq!(progress["refunds_requested"], 2);
    assert_eq!(progress["left"], 0);

    for (who, booking) in [(&rahim, &paid[0]), (&karim, &paid[1])] {
        stack.booking_until(who, booking, "cancelled").await;
        let payment = stack.payment_until(who, booking, "refunded").await;
        assert_eq!(payment["amount"], booking["amount"]);
    }
    stack.booking_until(&selim, &unpaid, "cancelled").await;
    // booking-service hears payment-service's payment.refunded: both refunds completed.
    let progress = poll("both refunds to be completed", || async {
        let p = stack.booking.with_token(&admin).get_json(&path).await;
        if p["refunds_completed"] == 2 {
            Ok(p)
        } else {
            Err(p)
        }
    })
    .await;
    assert_eq!(progress["refunds_requested"], 2);

    // train-service heard `trip.cancelled`: search no longer lists the trip.
    poll("train-service to mark the trip cancelled", || async {
        let row = stack
            .train
            .db()
            .await
            .query_one(
                "SELECT cancelled_at IS NOT NULL FROM trips WHERE trip_id = $1",
                &[&stack.trip],
            )
            .await
            .unwrap();
        if row.get::<_, bool>(0) {
            Ok(())
        } else {
            Err("not yet")
        }
    })
    .await;

    // A late retry changes nothing.
    let (status, again) = cancel(&stack, &admin).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(again["cancelled"], 3);

    stack.assert_consistent().await;
    for who in [&rahim, &karim, &selim] {
        let told = cancellations(&stack, who).await;
        assert_eq!(told.len(), 1, "{told:?}");
        let body = told[0]["body"].as_str().unwrap();
        assert!(body.contains(REASON), "{body}");
        assert_eq!(told[0]["subject"], "Your train is cancelled");
    }
    let selim_told = cancellations(&stack, &selim).await;
    assert!(!selim_told[0]["body"].as_str().unwrap().contains("refund"));
    // Exactly once: two refunds made, none a second time.
    let refunds = async |outcome: &str| {
        stack
            .payment
            .metric("railrush_payment_refunds_total", &[("outcome", outcome)])
            .await
    };
    assert_eq!(refunds("refunded").await, 2.0);
    assert_eq!(refunds("duplicate").await, 0.0);
    let seats = stack.seat_statuses().await;
    assert!(seats.values().all(|s| s == "available"), "{seats:?}");
}
