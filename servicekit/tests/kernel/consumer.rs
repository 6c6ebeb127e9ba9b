//! What the kernel does with each outcome of a handler: `Ok(label)` acks and counts the
//! label; `Reject` (a payload that does not decode, a body that is not an envelope, a check
//! constraint) parks at once; `Retry` (any other store error) redelivers until the queue's
//! delivery limit, then parks. Each is counted in `railrush_consumer_messages_total`.

use crate::support::{
    self, Running, count, depth, eventually, migrations, publish_all, publish_raw, queue,
};
use prometheus::{IntCounterVec, Opts};
use serde::Deserialize;
use serde_json::json;
use servicekit::amqp::Envelope;
use servicekit::consumer::{HandleError, Handler, Meta, Outcomes, Subscription, decode};
use servicekit::db::PgPool;
use servicekit::service::Kernel;
use servicekit::testing::{TestEnv, wait_for_queue};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use uuid::Uuid;

const QUEUE: &str = "kernel.scripted";
const KIND: &str = "kernel.scripted";
const DELIVERY_LIMIT: u32 = 2;

#[derive(Deserialize)]
struct Script {
    /// `ok`, `reject`, `retry`, `flaky` (retry but on the last allowed delivery), `check`
    /// (an insert a check constraint refuses) or `missing table` (any other store error).
    act: String,
    #[serde(default)]
    n: u32,
}

/// A handler that does what each event's payload says, and remembers each delivery.
struct Scripted {
    db: PgPool,
    outcomes: IntCounterVec,
    /// (event id, redelivered) of every delivery that reached the handler.
    seen: Arc<Mutex<Vec<(Uuid, bool)>>>,
}

impl Handler for Scripted {
    fn subscription(&self) -> Subscription {
        Subscription::new(QUEUE, &[KIND]).delivery_limit(DELIVERY_LIMIT)
    }

    fn outcomes(&self) -> Option<Outcomes> {
        Some(Outcomes::labelled(self.outcomes.clone(), &["scripted"]))
    }

    async fn handle(&self, event: Envelope, meta: Meta) -> Result<&'static str, HandleError> {
        let delivery = {
            let mut seen = self.seen.lock().unwrap();
            seen.push((event.event_id, meta.redelivered));
            seen.iter().filter(|(id, _)| *id == event.event_id).count()
        };
        let script: Script = decode(&event)?;
        match script.act.as_str() {
            "ok" => Ok("done"),
            // Fails until the last delivery the queue allows.
            "flaky" if delivery <= DELIVERY_LIMIT as usize => {
                Err(HandleError::retry(anyhow::anyhow!("not yet")))
            }
            "flaky" => Ok("done"),
            "reject" => Err(HandleError::reject(anyhow::anyhow!("poison"))),
            "retry" => Err(HandleError::retry(anyhow::anyhow!("not now"))),
            "check" => {
                let n = -i32::try_from(script.n).unwrap_or(1);
                let client = self.db.get().await?;
                client
                    .execute("INSERT INTO positives (n) VALUES ($1)", &[&n])
                    .await?;
                Ok("inserted")
            }
            "missing table" => {
                let client = self.db.get().await?;
                client.execute("SELECT * FROM no_such_table", &[]).await?;
                Ok("impossible")
            }
            other => Err(HandleError::reject(anyhow::anyhow!("unknown act {other}"))),
        }
    }
}

struct Consumer {
    app: Running,
    env: TestEnv,
    queue: String,
    seen: Arc<Mutex<Vec<(Uuid, bool)>>>,
}

impl Consumer {
    async fn start() -> Self {
        let env = TestEnv::new("kernel").await.unwrap();
        let queue = queue(&env, QUEUE);
        let mut kernel = Kernel::new(support::SERVICE, &support::http()).unwrap();
        let db = kernel.postgres(&env.database, migrations()).await.unwrap();
        kernel.broker(&env.amqp);
        let outcomes = IntCounterVec::new(
            Opts::new("scripted_total", "What the scripted handler did"),
            &["handler", "outcome"],
        )
        .unwrap();
        kernel
            .metrics()
            .registry()
            .register(Box::new(outcomes.clone()))
            .unwrap();
        let seen = Arc::new(Mutex::new(Vec::new()));
        kernel
            .consume(Scripted {
                db,
                outcomes,
                seen: seen.clone(),
            })
            .unwrap();
        let app = Running::start(kernel.serve(|_| {}).unwrap());
        wait_for_queue(&queue).await.unwrap();
        Self {
            app,
            env,
            queue,
            seen,
        }
    }

    async fn publish(&self, payload: serde_json::Value) -> Uuid {
        let event = Envelope::new(KIND, &payload).unwrap();
        publish_all(&self.env.amqp.exchange, std::slice::from_ref(&event)).await;
        event.event_id
    }

    fn parking(&self) -> String {
        format!("{}.parked", self.queue)
    }

    async fn wait_parked(&self, n: u32) {
        let parking = self.parking();
        eventually(&format!("{n} message(s) parked"), || async {
            depth(&parking).await == n
        })
        .await;
    }

    /// The deliveries of `event` that reached the handler: their `redelivered` flags.
    fn deliveries(&self, event: Uuid) -> Vec<bool> {
        self.seen
            .lock()
            .unwrap()
            .iter()
            .filter(|(id, _)| *id == event)
            .map(|(_, r)| *r)
            .collect()
    }

    /// `railrush_consumer_messages_total` of this queue for `outcome`.
    async fn messages(&self, outcome: &str) -> f64 {
        self.app
            .metric(
                "consumer_messages_total",
                &[("queue", &self.queue), ("outcome", outcome)],
            )
            .await
    }

    /// The handler's own outcome counter for `outcome`.
    async fn outcome(&self, outcome: &str) -> f64 {
        self.app
            .metric(
                "scripted_total",
                &[("handler", "scripted"), ("outcome", outcome)],
            )
            .await
    }

    /// Asserts the consumer's counters, outcome by outcome.
    async fn assert_messages(&self, expected: &[(&str, f64)]) {
        for (outcome, n) in expected {
            assert_eq!(self.messages(outcome).await, *n, "outcome {outcome}");
        }
    }
}

#[tokio::test]
async fn a_handled_event_is_acked_and_its_label_counted() {
    let c = Consumer::start().await;
    let event = c.publish(json!({"act": "ok"})).await;
    eventually("the event acked", || async {
        c.messages("acked").await == 1.0
    })
    .await;
    assert_eq!(c.outcome("done").await, 1.0);
    c.assert_messages(&[
        ("received", 1.0),
        ("retried", 0.0),
        ("rejected", 0.0),
        ("redelivered", 0.0),
        ("parked", 0.0),
    ])
    .await;
    assert_eq!(c.deliveries(event), vec![false]);

    // Acked, not merely handled: once the stopped service's connection is gone (closed
    // within moments of the stop), nothing comes back to the queue.
    let parking = c.parking();
    c.app.stop().await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(depth(&c.queue).await, 0);
    assert_eq!(depth(&parking).await, 0);
}

#[tokio::test]
async fn a_rejected_event_is_parked_at_once_without_a_retry() {
    let c = Consumer::start().await;
    let event = c.publish(json!({"act": "reject"})).await;
    c.wait_parked(1).await;
    assert_eq!(c.deliveries(event), vec![false]);
    assert_eq!(c.outcome("rejected").await, 1.0);
    c.assert_messages(&[
        ("received", 1.0),
        ("acked", 0.0),
        ("retried", 0.0),
        ("rejected", 1.0),
        ("parked", 1.0),
    ])
    .await;
    assert_eq!(depth(&c.queue).await, 0);
    c.app.stop().await;
}

#[tokio::test]
async fn a_retried_event_is_redelivered_up_to_the_delivery_limit_then_parked() {
    let c = Consumer::start().await;
    let event = c.publish(json!({"act": "retry"})).await;
    c.wait_parked(1).await;
    // The broker dead-letters a message once it has been returned more than
    // `delivery_limit` times: the first delivery and `delivery_limit` redeliveries.
    let attempts = DELIVERY_LIMIT as usize + 1;
    let mut expected = vec![true; attempts];
    expected[0] = false;
    assert_eq!(c.deliveries(event), expected);
    assert_eq!(c.outcome("retried").await, attempts as f64);
    c.assert_messages(&[
        ("received", attempts as f64),
        ("redelivered", attempts as f64 - 1.0),
        ("retried", attempts as f64),
        ("acked", 0.0),
        ("rejected", 0.0),
        ("parked", 1.0),
    ])
    .await;
    assert_eq!(depth(&c.queue).await, 0);
    c.app.stop().await;
}

#[tokio::test]
async fn an_event_that_succeeds_on_its_last_allowed_delivery_is_acked_and_not_counted_parked() {
    let c = Consumer::start().await;
    let event = c.publish(json!({"act": "flaky"})).await;
    eventually("the event acked", || async {
        c.messages("acked").await == 1.0
    })
    .await;
    assert_eq!(c.deliveries(event).len(), DELIVERY_LIMIT as usize + 1);
    c.assert_messages(&[
        ("retried", f64::from(DELIVERY_LIMIT)),
        ("acked", 1.0),
        ("parked", 0.0),
    ])
    .await;
    assert_eq!(depth(&c.parking()).await, 0);
    c.app.stop().await;
}

#[tokio::test]
async fn a_message_being_retried_when_the_service_stops_goes_back_to_the_queue() {
    let c = Consumer::start().await;
    let event = c.publish(json!({"act": "retry"})).await;
    eventually("the first delivery", || async {
        !c.deliveries(event).is_empty()
    })
    .await;
    // The stop waits for the back-off, then the message is requeued, not acked or lost.
    let (parking, seen) = (c.parking(), c.seen.clone());
    c.app.stop().await;
    eventually("the message back in the queue", || async {
        depth(&c.queue).await == 1
    })
    .await;
    assert_eq!(
        seen.lock().unwrap().len(),
        1,
        "handled once before the stop"
    );
    assert_eq!(depth(&parking).await, 0);
}

#[tokio::test]
async fn a_body_that_is_not_an_event_envelope_is_parked_without_reaching_the_handler() {
    let c = Consumer::start().await;
    publish_raw(&c.env.amqp.exchange, KIND, b"this is not an envelope").await;
    publish_raw(
        &c.env.amqp.exchange,
        KIND,
        br#"{"type": "kernel.scripted"}"#,
    )
    .await;
    c.wait_parked(2).await;
    assert!(c.seen.lock().unwrap().is_empty());
    assert_eq!(c.outcome("rejected").await, 2.0);
    c.assert_messages(&[
        ("received", 2.0),
        ("acked", 0.0),
        ("retried", 0.0),
        ("rejected", 2.0),
        ("parked", 2.0),
    ])
    .await;
    c.app.stop().await;
}

#[tokio::test]
async fn a_payload_that_does_not_decode_is_rejected_and_parked_at_once() {
    let c = Consumer::start().await;
    let event = c.publish(json!({"act": "ok", "n": "not a number"})).await;
    c.wait_parked(1).await;
    assert_eq!(c.deliveries(event), vec![false]);
    assert_eq!(c.outcome("rejected").await, 1.0);
    assert_eq!(c.outcome("done").await, 0.0);
    c.assert_messages(&[("rejected", 1.0), ("retried", 0.0), ("parked", 1.0)])
        .await;
    c.app.stop().await;
}

#[tokio::test]
async fn a_check_constraint_refusal_is_parked_at_once_but_other_store_errors_are_retried() {
    let c = Consumer::start().await;
    let refused = c.publish(json!({"act": "check", "n": 3})).await;
    c.wait_parked(1).await;
    assert_eq!(c.deliveries(refused), vec![false]);
    assert_eq!(c.messages("rejected").await, 1.0);

    let failing = c.publish(json!({"act": "missing table"})).await;
    c.wait_parked(2).await;
    assert_eq!(c.deliveries(failing).len(), DELIVERY_LIMIT as usize + 1);
    assert_eq!(c.messages("rejected").await, 1.0);
    assert_eq!(c.messages("retried").await, f64::from(DELIVERY_LIMIT) + 1.0);
    let db = support::pool(&c.env);
    assert_eq!(count(&db, "SELECT count(*) FROM positives").await, 0);
    c.app.stop().await;
}

#[tokio::test]
async fn messages_keep_flowing_past_a_parked_one() {
    let c = Consumer::start().await;
    let poison = c.publish(json!({"act": "reject"})).await;
    let fine = c.publish(json!({"act": "ok"})).await;
    c.wait_parked(1).await;
    eventually("the good event acked", || async {
        c.messages("acked").await == 1.0
    })
    .await;
    assert_eq!(c.deliveries(poison).len(), 1);
    assert_eq!(c.deliveries(fine).len(), 1);
    c.app.stop().await;
}
