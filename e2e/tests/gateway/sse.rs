//! Server-Sent Events through the gateway, with the real services.

use crate::support::{self, WebRoot};
use e2e::gateway::{Gateway, Profile};
use e2e::stack::{Options, Stack};
use futures_util::StreamExt;
use serde_json::{Value, json};
use std::time::{Duration, Instant};

#[tokio::test]
async fn a_seat_selected_through_the_gateway_reaches_its_live_stream_within_a_second() {
    let stack = Stack::start(Options::default()).await;
    let web = WebRoot::new();
    let gw = Gateway::start(&stack.upstreams(), web.path(), Profile::Default)
        .await
        .unwrap();
    let who = stack.passenger().await;
    let client = support::client();

    let res = client
        .get(format!(
            "{}/api/bookings/trips/{}/events",
            gw.url, stack.trip
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["content-type"], "text/event-stream");
    let mut events = res.bytes_stream();
    let mut seen = String::new();
    // The service's opening comment arrives unbuffered: the stream is subscribed.
    while !seen.contains(": connected") {
        let chunk = tokio::time::timeout(Duration::from_secs(5), events.next())
            .await
            .expect("no opening comment through the gateway within 5 s")
            .unwrap()
            .unwrap();
        seen.push_str(&String::from_utf8_lossy(&chunk));
    }

    let res = client
        .post(format!("{}/api/bookings/seats/select", gw.url))
        .bearer_auth(&who.token)
        .json(&json!({"trip_id": stack.trip, "seat_ids": [3]}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    let selected = Instant::now();

    let deadline = selected + Duration::from_secs(1);
    let event = loop {
        if let Some(event) = seat_event(&seen) {
            break event;
        }
        let left = deadline.saturating_duration_since(Instant::now());
        let chunk = tokio::time::timeout(left, events.next())
            .await
            .expect("no `event: seat` through the gateway within 1 s of the selection")
            .unwrap()
            .unwrap();
        seen.push_str(&String::from_utf8_lossy(&chunk));
    };
    assert_eq!(event, json!({"seat_id": 3, "status": "held"}));
}

/// The data of the first complete `event: seat` in the stream so far.
fn seat_event(stream: &str) -> Option<Value> {
    stream.split("\n\n").find_map(|block| {
        let mut lines = block.lines();
        (lines.next()? == "event: seat")
            .then(|| lines.next()?.strip_prefix("data: ")?.parse().ok())
            .flatten()
    })
}
