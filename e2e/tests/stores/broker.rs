//! The broker link when the broker accepts a connection and never answers its handshake (a
//! link cut half-way through a handshake, a stalled proxy): the supervisor gives the attempt
//! up and tries again, instead of waiting for good (the chaos harness's seed 2033 found a
//! booking-service that never published again).

use e2e::proxy::Proxy;
use servicekit::amqp::Broker;
use servicekit::config::AmqpSettings;
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_handshake_the_broker_never_answers_is_given_up_and_tried_again() {
    let proxy = Proxy::start("127.0.0.1:5672".parse().unwrap())
        .await
        .unwrap();
    proxy.stall();
    let settings = AmqpSettings {
        url: format!("amqp://guest:guest@127.0.0.1:{}/%2f", proxy.port()).into(),
        exchange: format!("test.stall.{}", uuid::Uuid::new_v4().simple()),
        queue_prefix: "test.stall.".into(),
    };
    let broker = Broker::start(&settings, "stalled-handshake");
    // The first attempt is sent into the black hole.
    assert!(!broker.wait_connected(Duration::from_secs(2)).await);
    // New connections pass again; the first stays open and unanswered. Only an attempt
    // given up makes room for the next one, which reaches the broker.
    proxy.restore();
    assert!(
        broker.wait_connected(Duration::from_secs(30)).await,
        "the broker link never came back after a stalled handshake"
    );
    broker.close().await;
    // The exchange the link declared is this test's own.
    servicekit::testing::delete_exchanges(&[settings.exchange])
        .await
        .unwrap();
}
