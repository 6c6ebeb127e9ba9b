//! Several booking-service replicas behind one gateway: BOOKING_UPSTREAM lists them, the
//! rendered upstream has a `server` line each, and `least_conn` spreads long-lived streams.

use crate::support::{self, FakeUpstream, WebRoot, limit_number};
use e2e::gateway::{Gateway, Profile};

#[tokio::test]
async fn event_streams_spread_evenly_over_every_booking_replica_the_gateway_lists() {
    let (first, second) = (FakeUpstream::start().await, FakeUpstream::start().await);
    let web = WebRoot::new();
    let mut upstreams = first.upstreams();
    upstreams.booking = format!("{},{}", first.addr, second.addr);
    let gw = Gateway::start(&upstreams, web.path(), Profile::Default)
        .await
        .unwrap();
    let client = support::client();

    let mut open = Vec::new();
    for _ in 0..20 {
        let res = client
            .get(format!("{}/api/bookings/trips/7/events", gw.url))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200);
        open.push(res);
    }

    let (a, b) = (first.hits(), second.hits());
    assert_eq!(a + b, 20, "every stream reached one of the replicas");
    // Each worker alternates between the replicas (its streams stay open), so the two
    // differ by at most one stream per worker.
    let workers = limit_number(Profile::Default, "NGINX_WORKER_PROCESSES");
    assert!(
        a.abs_diff(b) <= workers,
        "streams per replica: {a} and {b} ({workers} workers)"
    );
}

#[tokio::test]
async fn a_replica_list_with_an_empty_entry_is_refused_at_rendering() {
    let upstream = FakeUpstream::start().await;
    let web = WebRoot::new();
    let mut upstreams = upstream.upstreams();
    upstreams.booking = format!("{},,{}", upstream.addr, upstream.addr);

    let error = Gateway::start(&upstreams, web.path(), Profile::Default)
        .await
        .err()
        .expect("a gateway rendered from a malformed BOOKING_UPSTREAM");

    assert!(
        format!("{error:#}").contains("BOOKING_UPSTREAM"),
        "the error names the variable: {error:#}"
    );
}
