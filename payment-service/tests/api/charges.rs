use crate::helpers::{AMOUNT, User, attempts, eventually, listen, spawn_app, user};
use servicekit::testing::{lock_waiters, processed_transactions};
use uuid::Uuid;

#[tokio::test]
async fn a_confirmed_booking_with_tok_visa_is_charged_and_announced_as_succeeded() {
    let app = spawn_app().await;
    let mut events = listen(&app.env).await;
    let alice = user();
    let booking = Uuid::new_v4();

    app.confirm(booking, &alice, "tok_visa").await;

    let event = events.expect_event("payment.succeeded").await;
    let payload = &event["payload"];
    assert_eq!(payload["booking_id"], booking.to_string());
    assert_eq!(payload["user_id"], alice.id.to_string());
    assert_eq!(payload["amount"], AMOUNT);
    assert_eq!(payload["currency"], "BDT");
    assert_eq!(payload["attempts"], 1);
    assert!(payload["failure"].is_null());

    let payment = app.wait_status(booking, &alice, "succeeded").await;
    assert_eq!(payment["booking_id"], booking.to_string());
    assert_eq!(payment["amount"], AMOUNT);
    assert_eq!(payment["currency"], "BDT");
    assert_eq!(payment["attempts"], 1);
    assert_eq!(payment["payment_id"], payload["payment_id"]);
    assert!(payment.get("token").is_none(), "{payment}");

    let db = app.db().await;
    let rows = attempts(&db, booking).await;
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].1, event_key(&db, booking).await);
    assert_eq!(rows[0].2.as_deref(), Some("succeeded"));
    let row = db
        .query_one(
            "SELECT charge_id, token FROM payments WHERE booking_id = $1",
            &[&booking],
        )
        .await
        .unwrap();
    assert!(row.get::<_, Option<String>>(0).is_some());
    assert_eq!(row.get::<_, String>(1), "tok_visa");
    assert_eq!(app.gateway.distinct_charges(), 1);
    assert_eq!(app.charges("succeeded").await, 1.0);
}

/// The idempotency key of the booking's only attempt.
async fn event_key(db: &tokio_postgres::Client, booking: Uuid) -> String {
    let row = db
        .query_one(
            "SELECT a.idempotency_key FROM payment_attempts a JOIN payments p USING (payment_id) \
             WHERE p.booking_id = $1",
            &[&booking],
        )
        .await
        .unwrap();
    row.get(0)
}

#[tokio::test]
async fn a_declined_card_fails_the_payment_with_card_declined() {
    let app = spawn_app().await;
    let mut events = listen(&app.env).await;
    let alice = user();
    let booking = Uuid::new_v4();

    let confirmed = app.confirm(booking, &alice, "tok_chargeDeclined").await;

    let event = events.expect_event("payment.failed").await;
    assert_eq!(event["payload"]["booking_id"], booking.to_string());
    assert_eq!(event["payload"]["failure"], "card_declined");
    assert_eq!(event["payload"]["attempts"], 1);
    let payment = app.wait_status(booking, &alice, "failed").await;
    assert_eq!(payment["failure"], "card_declined");
    assert_eq!(payment["attempts"], 1);
    let rows = attempts(&app.db().await, booking).await;
    assert_eq!(
        rows,
        vec![(
            1,
            confirmed.event_id.to_string(),
            Some("card_declined".to_owned())
        )]
    );
    assert_eq!(app.gateway.distinct_charges(), 0);
}

#[tokio::test]
async fn an_unknown_token_fails_the_payment_with_invalid_token() {
    let app = spawn_app().await;
    let mut events = listen(&app.env).await;
    let alice = user();
    let booking = Uuid::new_v4();

    app.confirm(booking, &alice, "tok_made_up").await;

    let event = events.expect_event("payment.failed").await;
    assert_eq!(event["payload"]["failure"], "invalid_token");
    let payment = app.wait_status(booking, &alice, "failed").await;
    assert_eq!(payment["failure"], "invalid_token");
    assert_eq!(app.charges("invalid_token").await, 1.0);
}

#[tokio::test]
async fn confirmations_that_arrive_together_are_charged_as_one_batch_each_exactly_once() {
    const DECLINED: usize = 6;
    let app = spawn_app().await;
    let mut announced = listen(&app.env).await;
    let users: Vec<User> = (0..10).map(|_| user()).collect();
    let bookings: Vec<Uuid> = (0..10).map(|_| Uuid::new_v4()).collect();
    // The first four take the four batches the consumer runs at once, each waiting on its
    // payment's booking key, taken here by a transaction left open.
    let mut db = app.db().await;
    let watcher = app.db().await;
    let blocker = db.transaction().await.unwrap();
    for booking in &bookings[..4] {
        blocker
            .execute(
                "INSERT INTO payments (payment_id, booking_id, user_id, amount, currency, \
                 status, token, payment_due_at) \
                 VALUES ($1, $2, $3, 1, 'BDT', 'pending', 'tok_visa', now())",
                &[&Uuid::new_v4(), booking, &Uuid::new_v4()],
            )
            .await
            .unwrap();
    }
    let mut keys = Vec::new();
    for (i, (booking, passenger)) in bookings.iter().zip(&users).enumerate() {
        let token = if i == DECLINED {
            "tok_chargeDeclined"
        } else {
            "tok_visa"
        };
        keys.push(app.confirm(*booking, passenger, token).await.event_id);
        if i < 4 {
            lock_waiters(&watcher, i as i64 + 1).await;
        }
    }
    // The other six (one of them declined) wait in the consumer's prefetch, then make one
    // batch.
    let queue = app.queue(payment_service::charges::QUEUE);
    eventually("the six in the consumer's prefetch", || async {
        app.queue_depth(&queue).await == 0
    })
    .await;
    blocker.rollback().await.unwrap();

    let outcome = |i: usize| {
        if i == DECLINED {
            "card_declined"
        } else {
            "succeeded"
        }
    };
    for (i, (booking, passenger)) in bookings.iter().zip(&users).enumerate() {
        let status = if i == DECLINED { "failed" } else { "succeeded" };
        app.wait_status(*booking, passenger, status).await;
    }
    let mut announced_once = std::collections::HashSet::new();
    for _ in &bookings {
        let event = announced
            .next_json(servicekit::testing::WAIT)
            .await
            .unwrap();
        assert_eq!(event["payload"]["attempts"], 1);
        let booking = event["payload"]["booking_id"].as_str().unwrap().to_owned();
        let i = bookings
            .iter()
            .position(|b| b.to_string() == booking)
            .unwrap();
        let kind = if i == DECLINED {
            "payment.failed"
        } else {
            "payment.succeeded"
        };
        assert_eq!(event["type"], kind);
        announced_once.insert(booking);
    }
    assert_eq!(announced_once.len(), bookings.len());
    assert_eq!(app.gateway.distinct_charges(), bookings.len() - 1);
    assert_eq!(app.charges("succeeded").await, bookings.len() as f64 - 1.0);
    assert_eq!(app.charges("declined").await, 1.0);
    for (i, (booking, key)) in bookings.iter().zip(&keys).enumerate() {
        let rows = attempts(&watcher, *booking).await;
        assert_eq!(
            rows,
            vec![(1, key.to_string(), Some(outcome(i).to_owned()))]
        );
    }
    // Four answers recorded one by one, the six after them in one transaction.
    let recorded = processed_transactions(&watcher, payment_service::charges::CONSUMER).await;
    assert_eq!(recorded, (10, 5));
}
