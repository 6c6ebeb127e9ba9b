//! The retention job against the real PostgreSQL: expired rows go, recent rows and unsent
//! outbox rows stay, batches are bounded, and pruners running at once (replicas) delete each
//! row once without waiting for each other or for rows another transaction holds.

use crate::support::{self, Running, count, eventually, migrations};
use servicekit::config::RetentionSettings;
use servicekit::db::PgPool;
use servicekit::retention::{Table, prune_batch};
use servicekit::service::Kernel;
use servicekit::testing::TestEnv;
use std::time::Duration;

const DAY: Duration = Duration::from_secs(24 * 60 * 60);

/// Outbox rows: `sent` sent `sent_days_ago` days ago (NULL: unsent), created 30 days ago.
async fn outbox_rows(db: &PgPool, n: i64, sent_days_ago: Option<i32>) {
    db.get()
        .await
        .unwrap()
        .execute(
            "INSERT INTO outbox (event_id, kind, payload, occurred_at, sent_at) \
             SELECT gen_random_uuid(), 'kernel.scripted', '{}', now() - interval '30 days', \
                    now() - make_interval(days => $2) \
             FROM generate_series(1, $1::bigint)",
            &[&n, &sent_days_ago],
        )
        .await
        .unwrap();
}

/// `n` dedupe records of `consumer` processed `days_ago` days ago.
async fn processed_rows(db: &PgPool, consumer: &str, n: i64, days_ago: i32) {
    db.get()
        .await
        .unwrap()
        .execute(
            "INSERT INTO processed_events (consumer, event_id, processed_at) \
             SELECT $1, gen_random_uuid(), now() - make_interval(days => $3) \
             FROM generate_series(1, $2::bigint)",
            &[&consumer, &n, &days_ago],
        )
        .await
        .unwrap();
}

/// `n` idempotency keys created `hours_ago` hours ago, answered or still claims.
async fn key_rows(db: &PgPool, n: i64, hours_ago: i32, answered: bool) {
    let status: Option<i16> = answered.then_some(201);
    db.get()
        .await
        .unwrap()
        .execute(
            "INSERT INTO idempotency_keys (scope, key, request_hash, status, created_at) \
             SELECT 'user:1', gen_random_uuid()::text, 'h', $3, now() - make_interval(hours => $2) \
             FROM generate_series(1, $1::bigint)",
            &[&n, &hours_ago, &status],
        )
        .await
        .unwrap();
}

async fn test_db() -> (TestEnv, PgPool) {
    let env = TestEnv::new("kernel").await.unwrap();
    let db = support::pool(&env);
    servicekit::db::migrate(&db, migrations()).await.unwrap();
    (env, db)
}

#[tokio::test]
async fn the_job_deletes_expired_rows_and_keeps_recent_and_unsent_ones() {
    let env = TestEnv::new("kernel").await.unwrap();
    let mut kernel = Kernel::new(support::SERVICE, &support::http()).unwrap();
    let db = kernel.postgres(&env.database, migrations()).await.unwrap();
    outbox_rows(&db, 5, Some(8)).await; // sent 8 days ago: past 7
    outbox_rows(&db, 2, Some(1)).await; // sent yesterday
    outbox_rows(&db, 3, None).await; // never sent (30 days old)
    processed_rows(&db, "a", 4, 15).await; // past 14 days
    processed_rows(&db, "b", 3, 13).await;
    key_rows(&db, 3, 25, true).await; // answers past their 24 hours
    key_rows(&db, 1, 25, false).await; // a claim long dead
    key_rows(&db, 2, 23, true).await;
    let settings = RetentionSettings {
        batch: 2, // several batches a table, one after the other
        interval_secs: 3600,
        ..RetentionSettings::default()
    };
    kernel.retention(&db, &settings).await.unwrap();
    let app = Running::start(kernel.serve(|_| {}).unwrap());

    eventually("every expired row deleted", || async {
        app.metric("pruned_rows_total", &[("table", "outbox")])
            .await
            == 5.0
            && app
                .metric("pruned_rows_total", &[("table", "processed_events")])
                .await
                == 4.0
            && app
                .metric("pruned_rows_total", &[("table", "idempotency_keys")])
                .await
                == 4.0
    })
    .await;
    assert_eq!(count(&db, "SELECT count(*) FROM outbox").await, 5);
    assert_eq!(
        count(&db, "SELECT count(*) FROM outbox WHERE sent_at IS NULL").await,
        3,
        "unsent rows stay whatever their age"
    );
    assert_eq!(
        count(
            &db,
            "SELECT count(*) FROM outbox WHERE sent_at > now() - interval '2 days'"
        )
        .await,
        2
    );
    assert_eq!(
        count(
            &db,
            "SELECT count(*) FROM processed_events WHERE consumer = 'b'"
        )
        .await,
        3
    );
    assert_eq!(count(&db, "SELECT count(*) FROM processed_events").await, 3);
    assert_eq!(count(&db, "SELECT count(*) FROM idempotency_keys").await, 2);
    app.stop().await;
}

#[tokio::test]
async fn a_batch_deletes_at_most_its_size() {
    let (_env, db) = test_db().await;
    processed_rows(&db, "a", 5, 20).await;
    processed_rows(&db, "a", 1, 0).await;
    let keep = 14 * DAY;
    let mut batches = Vec::new();
    loop {
        let deleted = prune_batch(&db, Table::ProcessedEvents, keep, 2)
            .await
            .unwrap();
        batches.push(deleted);
        if deleted == 0 {
            break;
        }
    }
    assert_eq!(batches, vec![2, 2, 1, 0]);
    assert_eq!(count(&db, "SELECT count(*) FROM processed_events").await, 1);
}

#[tokio::test]
async fn pruners_at_once_delete_each_row_once_and_skip_rows_another_transaction_holds() {
    let (_env, db) = test_db().await;
    outbox_rows(&db, 1_000, Some(30)).await;
    outbox_rows(&db, 10, None).await;

    // The relay (or anyone) holds one expired row: pruners skip it instead of waiting.
    let mut holder = db.get().await.unwrap();
    let tx = holder.transaction().await.unwrap();
    let held: i64 = tx
        .query_one(
            "SELECT id FROM outbox WHERE sent_at IS NOT NULL ORDER BY id LIMIT 1 FOR UPDATE",
            &[],
        )
        .await
        .unwrap()
        .get(0);

    let keep = 7 * DAY;
    let pruner = |db: PgPool| async move {
        let mut deleted = 0;
        loop {
            let n = prune_batch(&db, Table::Outbox, keep, 37).await.unwrap();
            assert!(n <= 37);
            if n == 0 {
                return deleted;
            }
            deleted += n;
        }
    };
    let all = tokio::time::timeout(
        Duration::from_secs(60),
        futures_util::future::join_all((0..3).map(|_| tokio::spawn(pruner(db.clone())))),
    )
    .await
    .expect("pruners wait for nobody");
    let deleted: u64 = all.into_iter().map(Result::unwrap).sum();
    assert_eq!(deleted, 999, "each row once, the held one skipped");
    assert_eq!(count(&db, "SELECT count(*) FROM outbox").await, 11);
    tx.commit().await.unwrap();
    assert_eq!(prune_batch(&db, Table::Outbox, keep, 37).await.unwrap(), 1);
    let left = count(
        &db,
        &format!("SELECT count(*) FROM outbox WHERE id = {held}"),
    )
    .await;
    assert_eq!(left, 0);
    assert_eq!(
        count(&db, "SELECT count(*) FROM outbox WHERE sent_at IS NULL").await,
        10
    );
}
