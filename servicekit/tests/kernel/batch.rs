//! A batched subscription: the deliveries that arrive while a batch is handled make the next
//! one (never more than the batch's size), and each delivery is settled by its own result, as
//! a lone one would be: acked, parked at once, or redelivered until the delivery limit; a
//! batch that all succeeded is acked at once.

use crate::support::{self, Running, depth, eventually, migrations, publish_all, queue};
use serde::Deserialize;
use serde_json::json;
use servicekit::amqp::Envelope;
use servicekit::consumer::{HandleError, Handler, Meta, Subscription, decode};
use servicekit::service::Kernel;
use servicekit::testing::{TestEnv, wait_for_queue};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use uuid::Uuid;

const QUEUE: &str = "kernel.batched";
const KIND: &str = "kernel.batched";
const BATCH: u16 = 4;
const DELIVERY_LIMIT: u32 = 1;

#[derive(Deserialize)]
struct Script {
    /// `ok`, `slow` (ok after a while), `reject` or `retry`.
    act: String,
}

/// Handles batches as their payloads say, and remembers each batch's event ids.
struct Batched {
    batches: Arc<Mutex<Vec<Vec<Uuid>>>>,
}

impl Handler for Batched {
    fn subscription(&self) -> Subscription {
        Subscription::new(QUEUE, &[KIND])
            .prefetch(16)
            .batched(BATCH)
            .delivery_limit(DELIVERY_LIMIT)
    }

    async fn handle(&self, _: Envelope, _: Meta) -> Result<&'static str, HandleError> {
        Err(HandleError::reject(anyhow::anyhow!(
            "a batched subscription hands every event to handle_batch"
        )))
    }

    async fn handle_batch(
        &self,
        events: Vec<(Envelope, Meta)>,
    ) -> Vec<Result<&'static str, HandleError>> {
        self.batches
            .lock()
            .unwrap()
            .push(events.iter().map(|(e, _)| e.event_id).collect());
        let mut results = Vec::new();
        for (event, _) in &events {
            results.push(match decode::<Script>(event) {
                Err(e) => Err(e),
                Ok(script) => match script.act.as_str() {
                    "slow" => {
                        tokio::time::sleep(Duration::from_millis(500)).await;
                        Ok("done")
                    }
                    "ok" => Ok("done"),
                    "reject" => Err(HandleError::reject(anyhow::anyhow!("poison"))),
                    _ => Err(HandleError::retry(anyhow::anyhow!("not now"))),
                },
            });
        }
        results
    }
}

/// The batched consumer, running on its own queue.
struct Consumer {
    env: TestEnv,
    queue: String,
    app: Running,
    batches: Arc<Mutex<Vec<Vec<Uuid>>>>,
}

impl Consumer {
    async fn start() -> Self {
        let env = TestEnv::new("kernel").await.unwrap();
        let queue = queue(&env, QUEUE);
        let mut kernel = Kernel::new(support::SERVICE, &support::http()).unwrap();
        kernel.postgres(&env.database, migrations()).await.unwrap();
        kernel.broker(&env.amqp);
        let batches = Arc::new(Mutex::new(Vec::new()));
        kernel
            .consume(Batched {
                batches: batches.clone(),
            })
            .unwrap();
        let app = Running::start(kernel.serve(|_| {}).unwrap());
        wait_for_queue(&queue).await.unwrap();
        Self {
            env,
            queue,
            app,
            batches,
        }
    }

    /// Publishes a slow event and waits until the consumer holds it, so that what is
    /// published next arrives during that batch; returns it.
    async fn hold(&self) -> Envelope {
        let slow = event("slow");
        self.publish(std::slice::from_ref(&slow)).await;
        eventually("the slow event to be taken", || async {
            !self.batches.lock().unwrap().is_empty()
        })
        .await;
        slow
    }

    async fn publish(&self, events: &[Envelope]) {
        publish_all(&self.env.amqp.exchange, events).await;
    }

    async fn messages(&self, outcome: &str) -> f64 {
        let labels = [("queue", self.queue.as_str()), ("outcome", outcome)];
        self.app.metric("consumer_messages_total", &labels).await
    }

    fn batches(&self) -> Vec<Vec<Uuid>> {
        self.batches.lock().unwrap().clone()
    }
}

fn event(act: &str) -> Envelope {
    Envelope::new(KIND, &json!({ "act": act })).unwrap()
}

#[tokio::test]
async fn what_arrives_during_a_batch_makes_the_next_and_each_delivery_is_settled_by_its_own_result()
{
    let c = Consumer::start().await;
    let parking = format!("{}.parked", c.queue);
    let slow = c.hold().await;
    // While the slow batch runs: 6 that succeed, one poison, one that keeps failing.
    let rest: Vec<Envelope> = ["ok", "ok", "reject", "ok", "retry", "ok", "ok", "ok"]
        .iter()
        .map(|act| event(act))
        .collect();
    c.publish(&rest).await;

    eventually("the slow and the 6 good events acked", || async {
        c.messages("acked").await == 7.0
    })
    .await;
    eventually("the poison and the failing event parked", || async {
        depth(&parking).await == 2
    })
    .await;
    assert_eq!(depth(&c.queue).await, 0);

    let batches = c.batches();
    assert_eq!(
        batches[0],
        vec![slow.event_id],
        "the first batch is what had arrived"
    );
    assert!(
        batches.iter().all(|b| b.len() <= usize::from(BATCH)),
        "no batch above {BATCH}: {batches:?}"
    );
    assert_eq!(
        batches[1].len(),
        usize::from(BATCH),
        "what arrived during the slow batch fills the next: {batches:?}"
    );
    // Every event reached the handler once, but the failing one: once and once more.
    let retried = rest[4].event_id;
    let mut seen: Vec<Uuid> = batches.iter().flatten().copied().collect();
    assert_eq!(seen.iter().filter(|id| **id == retried).count(), 2);
    seen.sort();
    seen.dedup();
    let mut all: Vec<Uuid> = rest.iter().map(|e| e.event_id).collect();
    all.push(slow.event_id);
    all.sort();
    assert_eq!(seen, all);
    for (outcome, n) in [
        ("received", 10.0),
        ("acked", 7.0),
        ("rejected", 1.0),
        ("retried", 2.0),
        ("parked", 2.0),
    ] {
        assert_eq!(c.messages(outcome).await, n, "{outcome}");
    }
    c.app.stop().await;
}

#[tokio::test]
async fn a_batch_whose_events_all_succeeded_is_acked_at_once_and_none_comes_back() {
    let c = Consumer::start().await;
    c.hold().await;
    let rest: Vec<Envelope> = (0..BATCH).map(|_| event("ok")).collect();
    c.publish(&rest).await;
    eventually("the slow and the batch behind it acked", || async {
        c.messages("acked").await == f64::from(BATCH) + 1.0
    })
    .await;
    assert_eq!(c.batches()[1].len(), usize::from(BATCH));
    // One ack of the batch's last delivery (`multiple`) settled all of them: once the stopped
    // service's connection is gone, none of them is back in the queue.
    let queue = c.queue.clone();
    c.app.stop().await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(depth(&queue).await, 0);
}
