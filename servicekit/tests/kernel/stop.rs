//! Stopping a service under load loses nothing: the deliveries it holds are finished and
//! acked, the ones it had not started go back to the queue, every task is joined, and the
//! events its last messages committed to the outbox are published before the stop returns.

use crate::support::{self, Running, count, depth, eventually, migrations, publish_all, queue};
use serde::Deserialize;
use serde_json::json;
use servicekit::amqp::Envelope;
use servicekit::consumer::{HandleError, Handler, Meta, Subscription, decode, first_delivery};
use servicekit::db::PgPool;
use servicekit::outbox::{self, OutboxRelay};
use servicekit::service::Kernel;
use servicekit::testing::{Listener, TestEnv};
use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;
use uuid::Uuid;

const QUEUE: &str = "kernel.work";
const WORK: &str = "kernel.work.requested";
const APPLIED: &str = "kernel.work.applied";
const CONSUMER: &str = "kernel.work";

/// What each handler invocation did, shared with the test.
#[derive(Default)]
struct Probe {
    started: AtomicUsize,
    finished: AtomicUsize,
    duplicates: AtomicUsize,
}

impl Probe {
    fn started(&self) -> usize {
        self.started.load(Ordering::SeqCst)
    }

    fn finished(&self) -> usize {
        self.finished.load(Ordering::SeqCst)
    }

    fn in_flight(&self) -> usize {
        self.started() - self.finished()
    }
}

#[derive(Deserialize)]
struct Work {
    /// How long the work takes before its effect is committed.
    ms: u64,
}

/// A consumer whose every message takes a while, then records its effect (and, with a
/// relay, an outgoing event) in one transaction guarded by `first_delivery`.
struct Worker {
    db: PgPool,
    instance: &'static str,
    prefetch: u16,
    relay: Option<OutboxRelay>,
    probe: Arc<Probe>,
}

impl Handler for Worker {
    fn subscription(&self) -> Subscription {
        Subscription::new(QUEUE, &[WORK]).prefetch(self.prefetch)
    }

    async fn handle(&self, event: Envelope, _: Meta) -> Result<&'static str, HandleError> {
        self.probe.started.fetch_add(1, Ordering::SeqCst);
        let work: Work = decode(&event)?;
        tokio::time::sleep(Duration::from_millis(work.ms)).await;
        let mut client = self.db.get().await?;
        let tx = client.transaction().await?;
        let label = if first_delivery(&tx, CONSUMER, event.event_id).await? {
            tx.execute(
                "INSERT INTO effects (event_id, instance) VALUES ($1, $2)",
                &[&event.event_id, &self.instance],
            )
            .await?;
            if self.relay.is_some() {
                let applied = Envelope::new(APPLIED, &json!({ "of": event.event_id }))
                    .map_err(HandleError::reject)?;
                outbox::enqueue(&tx, &applied, None).await?;
            }
            "applied"
        } else {
            self.probe.duplicates.fetch_add(1, Ordering::SeqCst);
            "duplicate"
        };
        tx.commit().await?;
        if let Some(relay) = &self.relay {
            relay.wake();
        }
        self.probe.finished.fetch_add(1, Ordering::SeqCst);
        Ok(label)
    }
}

/// Starts one instance of the test service consuming [`QUEUE`].
async fn start_worker(
    env: &TestEnv,
    instance: &'static str,
    prefetch: u16,
    with_outbox: bool,
    probe: Arc<Probe>,
) -> Running {
    let mut kernel = Kernel::new(support::SERVICE, &support::http()).unwrap();
    let mut database = env.database.clone();
    database.max_size = 32;
    let db = kernel.postgres(&database, migrations()).await.unwrap();
    kernel.broker(&env.amqp);
    let relay = with_outbox.then(|| kernel.outbox(&db).unwrap());
    kernel
        .consume(Worker {
            db,
            instance,
            prefetch,
            relay,
            probe,
        })
        .unwrap();
    Running::start(kernel.serve(|_| {}).unwrap())
}

/// `n` work requests taking between `from` and `to` ms each (spread evenly).
fn work(n: usize, from: u64, to: u64) -> Vec<Envelope> {
    (0..n)
        .map(|i| {
            let ms = from + (i as u64 * 37) % (to - from + 1);
            Envelope::new(WORK, &json!({ "ms": ms })).unwrap()
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn stopping_under_load_finishes_and_acks_what_is_in_flight_and_requeues_the_rest() {
    const N: usize = 60;
    let env = TestEnv::new("kernel").await.unwrap();
    let queue = queue(&env, QUEUE);
    let db = support::pool(&env);
    let first = Arc::new(Probe::default());
    let app = start_worker(&env, "first", 12, false, first.clone()).await;
    servicekit::testing::wait_for_queue(&queue).await.unwrap();

    publish_all(&env.amqp.exchange, &work(N, 60, 240)).await;
    eventually("a dozen effects and more messages in flight", || async {
        count(&db, "SELECT count(*) FROM effects").await >= 12 && first.in_flight() > 0
    })
    .await;
    let in_flight_at_stop = first.in_flight();
    // The consumer and its queue-depth gauge, both joined by the stop.
    assert_eq!(app.tasks.running(), 2);
    app.stop().await;

    // Every handler that had begun ran to the end: none was dropped half-way.
    assert!(in_flight_at_stop > 0);
    assert_eq!(first.in_flight(), 0, "a handler was abandoned by the stop");
    let applied = usize::try_from(count(&db, "SELECT count(*) FROM effects").await).unwrap();
    assert_eq!(
        applied,
        first.finished(),
        "every finished handler committed"
    );
    eprintln!(
        "stopped with {in_flight_at_stop} in flight: {applied} of {N} applied, the rest requeued"
    );
    assert!(
        applied < N,
        "the queue drained before the stop took effect; nothing was left in the queue"
    );
    // What was applied was acked; what was not (held in the prefetch buffer, or never
    // delivered) is back in the queue: none lost, none both applied and requeued.
    let rest = N - applied;
    eventually(&format!("{rest} messages back in the queue"), || async {
        let ready = depth(&queue).await as usize;
        assert!(
            ready <= rest,
            "{ready} messages in the queue, {rest} expected: an applied one was not acked"
        );
        ready == rest
    })
    .await;
    assert_eq!(depth(&format!("{queue}.parked")).await, 0);

    // A second instance finds exactly the rest, and applies each once.
    let second = Arc::new(Probe::default());
    let app = start_worker(&env, "second", 12, false, second.clone()).await;
    eventually("every message applied", || async {
        count(&db, "SELECT count(*) FROM effects").await == N as i64
    })
    .await;
    app.stop().await;
    assert_eq!(
        second.started(),
        rest,
        "the second instance got something the first had acked, or missed something"
    );
    assert_eq!(first.duplicates.load(Ordering::SeqCst), 0);
    assert_eq!(second.duplicates.load(Ordering::SeqCst), 0);
    let distinct = count(&db, "SELECT count(DISTINCT event_id) FROM effects").await;
    assert_eq!(distinct, N as i64, "an effect was applied twice");
    assert_eq!(
        count(&db, "SELECT count(*) FROM effects WHERE instance = 'first'").await,
        applied as i64
    );
    assert_eq!(depth(&queue).await, 0);
    assert_eq!(depth(&format!("{queue}.parked")).await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn events_committed_while_stopping_are_published_before_the_stop_returns() {
    const N: usize = 16;
    let env = TestEnv::new("kernel").await.unwrap();
    let queue = queue(&env, QUEUE);
    let db = support::pool(&env);
    let mut listener = Listener::bind(&env.amqp.exchange, APPLIED).await.unwrap();
    let probe = Arc::new(Probe::default());
    let app = start_worker(&env, "only", N as u16, true, probe.clone()).await;
    servicekit::testing::wait_for_queue(&queue).await.unwrap();

    // Every message is in flight at once and takes long enough for the stop to come first.
    publish_all(&env.amqp.exchange, &work(N, 400, 700)).await;
    eventually("every message in flight", || async { probe.started() == N }).await;
    assert_eq!(probe.finished(), 0, "the work was quicker than the test");
    // The consumer, its queue-depth gauge, and the outbox relay (the flusher).
    assert_eq!(app.tasks.running(), 3);
    app.stop().await;

    // All of them finished during the stop, and their events left before it returned.
    assert_eq!(probe.finished(), N);
    assert_eq!(count(&db, "SELECT count(*) FROM effects").await, N as i64);
    assert_eq!(count(&db, "SELECT count(*) FROM outbox").await, N as i64);
    assert_eq!(
        count(&db, "SELECT count(*) FROM outbox WHERE sent_at IS NULL").await,
        0,
        "the outbox relay stopped before publishing what the last messages committed"
    );
    assert_eq!(depth(&queue).await, 0);

    let mut published = HashSet::new();
    while published.len() < N {
        let Some(event) = listener.next_json(Duration::from_secs(10)).await else {
            panic!(
                "only {} of {N} events reached the exchange",
                published.len()
            );
        };
        assert_eq!(event["type"], APPLIED);
        let of: Uuid = serde_json::from_value(event["payload"]["of"].clone()).unwrap();
        assert!(published.insert(of), "{of} was published twice");
    }
    let applied: HashSet<Uuid> = db
        .get()
        .await
        .unwrap()
        .query("SELECT event_id FROM effects", &[])
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(published, applied);
}
