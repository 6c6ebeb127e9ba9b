//! Parked messages listed, replayed and dropped (`servicekit::parked`) with a real consumer
//! on the real RabbitMQ, in the test's own queues: a poison message parks; replayed before
//! its cause is fixed it parks again; replayed after, it is applied exactly once, even when
//! two copies of the event were parked; dropped, it is gone; a queue that is not the
//! service's is refused with the names of its queues.

use crate::support::{self, Running, count, depth, eventually, migrations, publish_all, queue};
use serde::Deserialize;
use serde_json::json;
use servicekit::amqp::Envelope;
use servicekit::consumer::{HandleError, Handler, Meta, Subscription, decode, first_delivery};
use servicekit::db::PgPool;
use servicekit::parked::{Parked, ParkedError, Which};
use servicekit::service::Kernel;
use servicekit::testing::{TestEnv, wait_for_queue};

const QUEUE: &str = "kernel.ledger";
const KIND: &str = "kernel.ledger";

#[derive(Deserialize)]
struct Entry {
    n: i32,
}

/// Applies an entry once per event id, and only for a number the `positives` table knows:
/// an unknown one is refused (parked at once) until the table has it (the cause fixed).
struct Ledger {
    db: PgPool,
}

impl Handler for Ledger {
    fn subscription(&self) -> Subscription {
        Subscription::new(QUEUE, &[KIND]).delivery_limit(2)
    }

    async fn handle(&self, event: Envelope, _meta: Meta) -> Result<&'static str, HandleError> {
        let entry: Entry = decode(&event)?;
        let mut client = self.db.get().await?;
        let tx = client.transaction().await?;
        if !first_delivery(&tx, "ledger", event.event_id).await? {
            return Ok("duplicate");
        }
        let known = tx
            .query_opt("SELECT 1 FROM positives WHERE n = $1", &[&entry.n])
            .await?;
        if known.is_none() {
            return Err(HandleError::reject(anyhow::anyhow!(
                "no positive {} yet",
                entry.n
            )));
        }
        tx.execute(
            "INSERT INTO effects (event_id, instance) VALUES ($1, 'ledger')",
            &[&event.event_id],
        )
        .await?;
        tx.commit().await?;
        Ok("applied")
    }
}

struct Setup {
    app: Running,
    env: TestEnv,
    db: PgPool,
    parked: Parked,
    parking: String,
}

async fn start() -> Setup {
    let env = TestEnv::new("kernel").await.unwrap();
    let source = queue(&env, QUEUE);
    let mut kernel = Kernel::new(support::SERVICE, &support::http()).unwrap();
    let db = kernel.postgres(&env.database, migrations()).await.unwrap();
    let broker = kernel.broker(&env.amqp);
    kernel.consume(Ledger { db: db.clone() }).unwrap();
    let app = Running::start(kernel.serve(|_| {}).unwrap());
    wait_for_queue(&source).await.unwrap();
    Setup {
        app,
        parked: Parked::new(broker, &[QUEUE]),
        parking: format!("{source}.parked"),
        env,
        db,
    }
}

impl Setup {
    async fn publish(&self, events: &[Envelope]) {
        publish_all(&self.env.amqp.exchange, events).await;
    }

    async fn wait_parked(&self, n: u32) {
        eventually(&format!("{n} message(s) parked"), || async {
            depth(&self.parking).await == n
        })
        .await;
    }

    /// Fixes the cause: the ledger knows `numbers` from now on.
    async fn know(&self, numbers: &str) {
        let sql = format!("INSERT INTO positives (n) SELECT unnest('{{{numbers}}}'::int[])");
        self.db
            .get()
            .await
            .unwrap()
            .execute(&sql, &[])
            .await
            .unwrap();
    }

    async fn effects(&self, event: &Envelope) -> i64 {
        count(
            &self.db,
            &format!(
                "SELECT count(*) FROM effects WHERE event_id = '{}'",
                event.event_id
            ),
        )
        .await
    }
}

#[tokio::test]
async fn a_parked_message_is_listed_replayed_once_its_cause_is_fixed_and_applied_once() {
    let s = start().await;
    let a = Envelope::new(KIND, &json!({"n": 7})).unwrap();
    let b = Envelope::new(KIND, &json!({"n": 8})).unwrap();
    // Two copies of `a` (a relay that published it twice) and one of `b`: all refused.
    s.publish(&[a.clone(), a.clone(), b.clone()]).await;
    s.wait_parked(3).await;

    let listing = s.parked.list(QUEUE, 10).await.unwrap();
    assert_eq!(listing.queue, QUEUE);
    assert_eq!(listing.count, 3);
    let ids: Vec<_> = listing.messages.iter().map(|m| m.event_id).collect();
    assert_eq!(ids.iter().filter(|id| **id == Some(a.event_id)).count(), 2);
    assert_eq!(ids.iter().filter(|id| **id == Some(b.event_id)).count(), 1);
    for m in &listing.messages {
        assert_eq!(m.kind.as_deref(), Some(KIND));
        assert_eq!(m.reason.as_deref(), Some("rejected"));
        assert_eq!(m.times_parked, 1);
        let age = chrono::Utc::now() - m.parked_at.unwrap();
        assert!(
            age < chrono::Duration::minutes(5),
            "parked at {:?}",
            m.parked_at
        );
    }
    // Listing takes nothing away; a limit shows fewer but counts all. The parking queue's
    // name is understood too.
    let short = s.parked.list("kernel.ledger.parked", 1).await.unwrap();
    assert_eq!((short.count, short.messages.len()), (3, 1));
    s.wait_parked(3).await;

    // Replayed before the cause is fixed: handled again, refused again, parked again.
    let replay_a = || s.parked.replay(QUEUE, Which::Event(a.event_id));
    assert_eq!(replay_a().await.unwrap(), 2);
    s.wait_parked(3).await;
    let again = s.parked.list(QUEUE, 10).await.unwrap();
    let a_again: Vec<_> = again
        .messages
        .iter()
        .filter(|m| m.event_id == Some(a.event_id))
        .collect();
    assert_eq!(a_again.len(), 2);
    assert!(a_again.iter().all(|m| m.times_parked == 2), "{a_again:?}");
    assert_eq!(s.effects(&a).await, 0);

    // The cause fixed, both copies replayed: applied once, the other copy a duplicate.
    s.know("7").await;
    assert_eq!(replay_a().await.unwrap(), 2);
    eventually("a applied", || async { s.effects(&a).await == 1 }).await;
    s.wait_parked(1).await;
    eventually("the source queue drained", || async {
        depth(&s.env.queue(QUEUE)).await == 0
    })
    .await;
    assert_eq!(s.effects(&a).await, 1, "applied exactly once");
    // Nothing of `a` is parked any more.
    let gone = replay_a().await;
    assert!(
        matches!(gone, Err(ParkedError::NotFound { .. })),
        "{gone:?}"
    );

    // Dropped: gone for good, never applied.
    assert_eq!(
        s.parked
            .discard(QUEUE, Which::Event(b.event_id))
            .await
            .unwrap(),
        1
    );
    s.wait_parked(0).await;
    let empty = s.parked.list(QUEUE, 10).await.unwrap();
    assert_eq!((empty.count, empty.messages.len()), (0, 0));
    assert_eq!(s.effects(&b).await, 0);
    assert_eq!(count(&s.db, "SELECT count(*) FROM effects").await, 1);
    s.app.stop().await;
}

#[tokio::test]
async fn replay_all_and_drop_all_take_every_parked_message() {
    let s = start().await;
    let events: Vec<Envelope> = (1..=3)
        .map(|n| Envelope::new(KIND, &json!({"n": n})).unwrap())
        .collect();
    s.publish(&events).await;
    s.wait_parked(3).await;
    s.know("1,2").await;
    // Twice: the second replay finds only the one still refused, applied ones stay once.
    assert_eq!(s.parked.replay(QUEUE, Which::All).await.unwrap(), 3);
    eventually("two applied, one parked again", || async {
        count(&s.db, "SELECT count(*) FROM effects").await == 2 && depth(&s.parking).await == 1
    })
    .await;
    assert_eq!(s.parked.replay(QUEUE, Which::All).await.unwrap(), 1);
    s.wait_parked(1).await;
    assert_eq!(count(&s.db, "SELECT count(*) FROM effects").await, 2);
    assert_eq!(s.parked.discard(QUEUE, Which::All).await.unwrap(), 1);
    s.wait_parked(0).await;
    assert_eq!(s.parked.discard(QUEUE, Which::All).await.unwrap(), 0);
    s.app.stop().await;
}

#[tokio::test]
async fn a_queue_that_is_not_the_services_is_refused_with_its_queues() {
    let s = start().await;
    let wrong = s.parked.list("kernel.nope", 10).await;
    match wrong {
        Err(e @ ParkedError::UnknownQueue { .. }) => assert_eq!(
            e.to_string(),
            "no queue \"kernel.nope\" here; the queues are kernel.ledger"
        ),
        other => panic!("{other:?}"),
    }
    let wrong = s.parked.replay("kernel.nope", Which::All).await;
    assert!(matches!(wrong, Err(ParkedError::UnknownQueue { .. })));
    // One of ours by name, but never declared on this broker (no consumer ever started).
    let broker = servicekit::amqp::Broker::start(&s.env.amqp, "parked-test");
    assert!(
        broker
            .wait_connected(std::time::Duration::from_secs(10))
            .await
    );
    let never = Parked::new(broker.clone(), &["kernel.never"]);
    let missing = never.list("kernel.never", 10).await;
    assert!(
        matches!(&missing, Err(ParkedError::NotDeclared(q)) if q.ends_with("kernel.never.parked")),
        "{missing:?}"
    );
    broker.close().await;
    s.app.stop().await;
}
