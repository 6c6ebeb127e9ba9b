//! Errors the gateway makes itself: each is JSON in the error shape, with the same headers
//! as every other answer.

use crate::support::{self, FakeUpstream, WebRoot, assert_error_shape};
use e2e::gateway::Profile;

#[tokio::test]
async fn unknown_api_routes_and_operator_endpoints_are_json_404s_that_reach_no_service() {
    let upstream = FakeUpstream::start().await;
    let web = WebRoot::new();
    let gw = support::gateway_with(&upstream, &web, Profile::Default, &[]).await;
    let client = support::client();

    for path in [
        "/api",
        "/api/",
        "/api/nope",
        "/api/authx/login",
        "/health/ready",
        "/health/live",
        "/metrics",
        "/internal/trips/1/inventory",
    ] {
        let res = client
            .get(format!("{}{path}", gw.url))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 404, "{path}");
        assert_eq!(res.headers()["content-type"], "application/json", "{path}");
        assert_error_shape(&res.text().await.unwrap(), "not_found");
    }
    assert_eq!(upstream.hits(), 0);

    // A missing hashed asset is a 404 too, never the app's index.html.
    let res = client
        .get(format!("{}/assets/index-00000000.js", gw.url))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 404);
    assert_error_shape(&res.text().await.unwrap(), "not_found");
}

#[tokio::test]
async fn a_body_over_1_mib_is_a_json_413_and_one_of_1_mib_passes() {
    let upstream = FakeUpstream::start().await;
    let web = WebRoot::new();
    let gw = support::gateway_with(&upstream, &web, Profile::Default, &[]).await;
    let client = support::client();
    let url = format!("{}/api/bookings/seats/confirm", gw.url);

    let res = client
        .post(&url)
        .body(vec![b' '; 1024 * 1024 + 1])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 413);
    assert_eq!(res.headers()["content-type"], "application/json");
    assert_error_shape(&res.text().await.unwrap(), "payload_too_large");
    assert_eq!(upstream.hits(), 0);

    let res = client
        .post(&url)
        .body(vec![b' '; 1024 * 1024])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(upstream.hits(), 1);
}

#[tokio::test]
async fn a_stopped_service_is_a_json_502_and_the_gateway_recovers_when_it_is_back() {
    let mut upstream = FakeUpstream::start().await;
    let web = WebRoot::new();
    let gw = support::gateway_with(&upstream, &web, Profile::Default, &[]).await;
    let client = support::client();
    let url = format!("{}/api/trains/stations", gw.url);

    // A first call leaves a kept-alive connection in nginx's pool; stopping the upstream
    // closes it and the port.
    assert_eq!(client.get(&url).send().await.unwrap().status(), 200);
    let addr = upstream.addr.clone();
    upstream.stop().await;

    for _ in 0..3 {
        let res = client.get(&url).send().await.unwrap();
        let status = res.status().as_u16();
        assert!(status == 502 || status == 503, "status {status}");
        assert_eq!(res.headers()["content-type"], "application/json");
        assert!(res.headers().contains_key("x-request-id"));
        assert_error_shape(&res.text().await.unwrap(), "unavailable");
    }
    // A POST, which nginx never retries on another connection, fails the same way.
    let res = client
        .post(format!("{}/api/bookings/seats/select", gw.url))
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 502);
    assert_error_shape(&res.text().await.unwrap(), "unavailable");

    // The service comes back on the same address: answers flow again.
    let listener = tokio::net::TcpListener::bind(&addr).await.unwrap();
    let back = tokio::spawn(async move {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let (mut socket, _) = listener.accept().await.unwrap();
        let mut buf = [0u8; 4096];
        let _ = socket.read(&mut buf).await.unwrap();
        let body = r#"{"stations":[]}"#;
        let reply = format!(
            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        );
        socket.write_all(reply.as_bytes()).await.unwrap();
    });
    let res = client.get(&url).send().await.unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.text().await.unwrap(), r#"{"stations":[]}"#);
    back.await.unwrap();
}
