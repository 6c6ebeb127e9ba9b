use crate::helpers::{
    TestChannel, assert_error, eventually, paid, registered, registered_user, spawn_app,
    spawn_app_with,
};
use notification_service::consumers::TICKETS;
use reqwest::StatusCode;
use servicekit::amqp::Envelope;
use servicekit::events;
use servicekit::testing::{lock_waiters, processed_transactions};
use uuid::Uuid;

#[tokio::test]
async fn a_paid_booking_puts_one_e_ticket_in_its_owners_inbox_only() {
    let app = spawn_app().await;
    let user = registered_user(&app).await;
    let other = registered_user(&app).await;
    let booking = paid(user.user_id, "RR-TICKET-7QX2");
    let event = app.publish(events::BOOKING_PAID, &booking).await;

    let inbox = app.wait_inbox(user.user_id, 1).await;
    let ticket = &inbox[0];
    assert_eq!(ticket["kind"], "ticket");
    assert_eq!(ticket["channel"], "email");
    assert_eq!(ticket["to"], user.email);
    assert!(Uuid::parse_str(ticket["id"].as_str().unwrap()).is_ok());
    assert!(chrono::DateTime::parse_from_rfc3339(ticket["created_at"].as_str().unwrap()).is_ok());
    let subject = ticket["subject"].as_str().unwrap();
    assert!(subject.contains("701 Subarna Express"), "{subject}");
    let body = ticket["body"].as_str().unwrap();
    for text in [
        "RR-TICKET-7QX2",
        "701 Subarna Express",
        "DHK → CTG",
        "Fri 20 Mar 2026, 07:30",
        "Rahim Uddin: coach KA, seat KA-12",
        "Karima Begum: coach KA, seat KA-13",
        "Tk 810.00",
    ] {
        assert!(body.contains(text), "{text} missing from {body}");
    }
    let delivered = app.channel.delivered();
    assert_eq!(delivered.len(), 1);
    assert_eq!(delivered[0].event_id, event.event_id);
    assert_eq!(delivered[0].to, user.email);

    assert!(app.inbox(other.user_id).await.is_empty());
    let stored: i64 = app
        .db()
        .await
        .query_one(
            "SELECT count(*) FROM notifications WHERE event_id = $1",
            &[&event.event_id],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(stored, 1);
}

#[tokio::test]
async fn the_inbox_needs_a_valid_token() {
    let app = spawn_app().await;
    let res = app.get("/api/notifications").await;
    assert_error(res, StatusCode::UNAUTHORIZED, "unauthorized").await;
    let res = app.with_token("not-a-jwt").get("/api/notifications").await;
    assert_error(res, StatusCode::UNAUTHORIZED, "unauthorized").await;
}

#[tokio::test]
async fn the_same_event_delivered_twice_yields_one_inbox_entry() {
    let app = spawn_app().await;
    let user = registered_user(&app).await;
    let event =
        servicekit::amqp::Envelope::new(events::BOOKING_PAID, &paid(user.user_id, "RR-TWICE"))
            .unwrap();
    app.publish_envelope(&event).await;
    app.publish_envelope(&event).await;
    eventually("both deliveries to be handled", || async {
        app.events("notification.tickets", "duplicate").await
            + app.events("notification.tickets", "notified").await
            >= 2.0
    })
    .await;
    let inbox = app.wait_inbox(user.user_id, 1).await;
    assert!(inbox[0]["body"].as_str().unwrap().contains("RR-TWICE"));
    assert_eq!(app.events("notification.tickets", "notified").await, 1.0);
}

#[tokio::test]
async fn a_ticket_that_overtakes_the_registration_is_retried_until_the_contact_arrives() {
    let app = spawn_app_with(TestChannel::reliable(), |s| {
        s.delivery.contact_wait_ms = 0;
        s.delivery.delivery_limit = 50;
    })
    .await;
    let user = registered(Uuid::new_v4());
    app.publish(events::BOOKING_PAID, &paid(user.user_id, "RR-EARLY"))
        .await;
    eventually("the ticket to be requeued", || async {
        app.events("notification.tickets", "retried").await >= 1.0
    })
    .await;
    assert!(app.inbox(user.user_id).await.is_empty());

    app.publish(events::USER_REGISTERED, &user).await;
    let inbox = app.wait_inbox(user.user_id, 1).await;
    assert_eq!(inbox[0]["kind"], "ticket");
    assert_eq!(inbox[0]["to"], user.email);
    assert!(inbox[0]["body"].as_str().unwrap().contains("RR-EARLY"));
    assert_eq!(
        app.queue_depth(&app.queue("notification.tickets.parked"))
            .await,
        0
    );
}

#[tokio::test]
async fn tickets_that_arrive_together_are_sent_each_and_recorded_in_one_transaction() {
    let app = spawn_app().await;
    let mut users = Vec::new();
    for _ in 0..6 {
        users.push(registered_user(&app).await);
    }
    let events: Vec<Envelope> = users
        .iter()
        .enumerate()
        .map(|(i, u)| {
            Envelope::new(events::BOOKING_PAID, &paid(u.user_id, &format!("RR-B{i}"))).unwrap()
        })
        .collect();
    // The first ticket, once sent, waits to record its delivery: the record is taken here
    // by a transaction left open. The five behind it make the consumer's next batch.
    let mut db = app.db().await;
    let watcher = app.db().await;
    let blocker = db.transaction().await.unwrap();
    blocker
        .execute(
            "INSERT INTO processed_events (consumer, event_id) VALUES ($1, $2)",
            &[&TICKETS, &events[0].event_id],
        )
        .await
        .unwrap();
    app.publish_envelope(&events[0]).await;
    lock_waiters(&watcher, 1).await;
    for event in &events[1..] {
        app.publish_envelope(event).await;
    }
    let queue = app.queue(TICKETS);
    eventually("the five in the consumer's prefetch", || async {
        app.queue_depth(&queue).await == 0
    })
    .await;
    blocker.rollback().await.unwrap();

    for (i, user) in users.iter().enumerate() {
        let inbox = app.wait_inbox(user.user_id, 1).await;
        assert_eq!(inbox[0]["to"], user.email);
        assert!(
            inbox[0]["body"]
                .as_str()
                .unwrap()
                .contains(&format!("RR-B{i}"))
        );
    }
    let mut sent: Vec<Uuid> = app.channel.delivered().iter().map(|m| m.event_id).collect();
    sent.sort();
    let mut published: Vec<Uuid> = events.iter().map(|e| e.event_id).collect();
    published.sort();
    assert_eq!(sent, published, "each ticket sent once");
    assert_eq!(app.events(TICKETS, "notified").await, 6.0);
    // The first recorded on its own, the five behind it in one transaction.
    assert_eq!(processed_transactions(&watcher, TICKETS).await, (6, 2));
}
