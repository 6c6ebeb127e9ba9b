//! `/api/tickets/` is booking-service's (signed tickets and check-in).

use crate::support::{self, FakeUpstream, WebRoot};
use e2e::gateway::{Gateway, Profile, Upstreams};

#[tokio::test]
async fn ticket_routes_reach_booking_service_and_no_other() {
    let booking = FakeUpstream::start().await;
    let others = FakeUpstream::start().await;
    let web = WebRoot::new();
    let upstreams = Upstreams {
        booking: booking.addr.clone(),
        ..others.upstreams()
    };
    let gw = Gateway::start_with(&upstreams, web.path(), Profile::Default, &[])
        .await
        .unwrap();
    let client = support::client();
    let res = client
        .get(format!("{}/api/tickets/keys", gw.url))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let body: serde_json::Value = res.json().await.unwrap();
    assert_eq!(body["path"], "/api/tickets/keys", "{body}");
    for path in ["/api/tickets/verify", "/api/tickets/board"] {
        let res = client
            .post(format!("{}{path}", gw.url))
            .json(&serde_json::json!({"qr": "RRT1.x.y"}))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200, "{path}");
    }
    assert_eq!((booking.hits(), others.hits()), (3, 0));
}
