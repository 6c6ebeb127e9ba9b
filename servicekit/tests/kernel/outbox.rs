//! The outbox relay publishes `mandatory`: an event no queue is bound for is returned by the
//! broker and stays unsent (counted and set aside), while the other types keep flowing; it
//! goes out once a queue is bound.

use crate::support::{self, Running, count, eventually, migrations};
use serde_json::json;
use servicekit::amqp::Envelope;
use servicekit::outbox;
use servicekit::service::Kernel;
use servicekit::testing::{Listener, TestEnv};
use std::time::Duration;

const NOBODY: &str = "kernel.nobody.listens";
const ROUTED: &str = "kernel.somebody.listens";

async fn sent(db: &servicekit::db::PgPool, event: &Envelope) -> bool {
    let client = db.get().await.unwrap();
    let row = client
        .query_one(
            "SELECT sent_at IS NOT NULL FROM outbox WHERE event_id = $1",
            &[&event.event_id],
        )
        .await
        .unwrap();
    row.get(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_event_no_queue_is_bound_for_stays_in_the_outbox_until_one_is() {
    let env = TestEnv::new("kernel").await.unwrap();
    let mut kernel = Kernel::new(support::SERVICE, &support::http()).unwrap();
    let db = kernel.postgres(&env.database, migrations()).await.unwrap();
    kernel.broker(&env.amqp);
    let relay = kernel.outbox(&db).unwrap();
    let app = Running::start(kernel.serve(|_| {}).unwrap());
    let mut routed_listener = Listener::bind(&env.amqp.exchange, ROUTED).await.unwrap();

    // The unroutable event is committed first, so its batch is the routed one's or earlier.
    let unroutable = Envelope::new(NOBODY, &json!({ "n": 1 })).unwrap();
    let routed = Envelope::new(ROUTED, &json!({ "n": 2 })).unwrap();
    {
        let mut client = db.get().await.unwrap();
        let tx = client.transaction().await.unwrap();
        outbox::enqueue(&tx, &unroutable, None).await.unwrap();
        outbox::enqueue(&tx, &routed, None).await.unwrap();
        tx.commit().await.unwrap();
    }
    relay.wake();
    let arrived = routed_listener
        .next_event(ROUTED, Duration::from_secs(30))
        .await
        .expect("the routed event is published");
    assert_eq!(arrived["event_id"], json!(routed.event_id));
    // Both went out in one batch (the relay marks a batch sent in one transaction).
    eventually("the routed event to be marked sent", || sent(&db, &routed)).await;
    assert!(
        !sent(&db, &unroutable).await,
        "an event the broker returned was marked sent"
    );
    eventually("the returned event to be counted", || async {
        app.metric("outbox_unroutable_total", &[("kind", NOBODY)])
            .await
            >= 1.0
    })
    .await;
    assert_eq!(
        count(&db, "SELECT count(*) FROM outbox WHERE sent_at IS NULL").await,
        1
    );

    // Its consumer appears (declares its queue): the event goes out after the back-off.
    let mut late_listener = Listener::bind(&env.amqp.exchange, NOBODY).await.unwrap();
    let arrived = late_listener
        .next_event(NOBODY, Duration::from_secs(30))
        .await
        .expect("the set-aside event is published once a queue is bound");
    assert_eq!(arrived["event_id"], json!(unroutable.event_id));
    eventually("the late event to be marked sent", || {
        sent(&db, &unroutable)
    })
    .await;
    app.stop().await;
}
