//! The hot-path Redis connection (`RedisPool::multiplexed`): one per thread that runs a
//! runtime of its own (each actix-web worker), so a command and its answer stay on the
//! worker's thread; one shared connection on the multi-threaded runtime; and a thread whose
//! runtime ended gets a new one. A connection is told apart by Redis's `CLIENT ID`.

use servicekit::cache::{self, RedisPool};
use servicekit::config::RedisSettings;
use servicekit::testing;

fn redis() -> RedisPool {
    cache::pool(&RedisSettings {
        url: testing::redis_url().into(),
        ..RedisSettings::default()
    })
    .unwrap()
}

async fn client_id(pool: &RedisPool) -> i64 {
    let mut conn = pool.multiplexed().await.unwrap();
    redis::cmd("CLIENT")
        .arg("ID")
        .query_async(&mut conn)
        .await
        .unwrap()
}

/// The client ids `pool` answers with on a thread of its own running a current-thread
/// runtime (an actix-web worker's kind): twice on one runtime, then once on a second
/// runtime of the same thread after the first ended.
fn on_a_worker_thread(pool: RedisPool) -> (i64, i64, i64) {
    std::thread::spawn(move || {
        let runtime = || {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap()
        };
        let (first, again) = runtime().block_on(async {
            let first = client_id(&pool).await;
            (first, client_id(&pool).await)
        });
        let after_restart = runtime().block_on(client_id(&pool));
        (first, again, after_restart)
    })
    .join()
    .unwrap()
}

#[test]
fn each_worker_thread_has_its_own_connection_kept_for_its_runtime() {
    let pool = redis();
    let (first, again, after_restart) = on_a_worker_thread(pool.clone());
    assert_eq!(first, again, "one connection for the thread's runtime");
    assert_ne!(
        first, after_restart,
        "a runtime that ended took its connection with it: the next one connects anew"
    );
    let (other, _, _) = on_a_worker_thread(pool.clone());
    assert_ne!(first, other, "another worker thread, another connection");

    // Another handle on the same thread is another connection (its own settings).
    let (with_two, of_other_handle) = std::thread::spawn(move || {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(async { (client_id(&pool).await, client_id(&redis()).await) })
    })
    .join()
    .unwrap();
    assert_ne!(with_two, of_other_handle);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_multi_threaded_runtime_shares_one_connection() {
    let pool = redis();
    let ids: Vec<i64> = futures_util::future::join_all((0..8).map(|_| {
        let pool = pool.clone();
        tokio::spawn(async move { client_id(&pool).await })
    }))
    .await
    .into_iter()
    .map(Result::unwrap)
    .collect();
    assert!(ids.iter().all(|id| *id == ids[0]), "{ids:?}");
}
