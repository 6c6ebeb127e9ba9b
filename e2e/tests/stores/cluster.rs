//! Redis Cluster, as the prod overlay's ElastiCache in cluster mode: each test starts its
//! own three-shard cluster. The handle routes every command to the shard owning its key,
//! multi-key work stays on one slot through hash tags, and the passenger's path of
//! `path.rs` runs with every service's Redis on the cluster.

use crate::path;
use servicekit::cache::RedisPool;
use servicekit::config::RedisSettings;
use servicekit::testing::TestEnv;
use servicekit::testing::servers::RedisCluster;

fn settings(cluster: &RedisCluster, key_prefix: String) -> RedisSettings {
    RedisSettings {
        url: cluster.url().into(),
        cluster: true,
        key_prefix,
        ..RedisSettings::default()
    }
}

/// How many keys each node holds.
async fn keys_per_node(cluster: &RedisCluster) -> Vec<u64> {
    let mut counts = Vec::new();
    for port in &cluster.ports {
        let client = redis::Client::open(format!("redis://127.0.0.1:{port}")).unwrap();
        let mut conn = client.get_multiplexed_async_connection().await.unwrap();
        counts.push(redis::cmd("DBSIZE").query_async(&mut conn).await.unwrap());
    }
    counts
}

#[tokio::test]
async fn the_handle_routes_each_key_to_its_shard() {
    let cluster = RedisCluster::start(3).unwrap();
    let pool: RedisPool = servicekit::cache::pool(&settings(&cluster, "t:".into())).unwrap();
    assert!(pool.is_cluster());

    // 60 keys over random slots: written through both kinds of connection, read back.
    let mut conn = pool.get().await.unwrap();
    let mut hot = pool.multiplexed().await.unwrap();
    for i in 0..60 {
        let key = format!("t:key:{i}");
        let conn = if i % 2 == 0 { &mut conn } else { &mut hot };
        let _: () = redis::cmd("SET")
            .arg(&key)
            .arg(i)
            .query_async(conn)
            .await
            .unwrap();
    }
    for i in 0..60 {
        let got: i32 = redis::cmd("GET")
            .arg(format!("t:key:{i}"))
            .query_async(&mut hot)
            .await
            .unwrap();
        assert_eq!(got, i);
    }
    let counts = keys_per_node(&cluster).await;
    assert_eq!(counts.iter().sum::<u64>(), 60, "{counts:?}");
    assert!(
        counts.iter().all(|&n| n > 0),
        "every shard holds some of 60 keys: {counts:?}"
    );

    // Keys under one hash tag go together (a script and MGET over them work); keys of
    // different slots in one script are refused by the cluster, which is why every
    // multi-key use in the services carries a tag.
    let script = redis::Script::new(
        "redis.call('SET', KEYS[1], ARGV[1]); redis.call('SET', KEYS[2], ARGV[1]); return 1",
    );
    let ok: i32 = script
        .key("t:seat:{42}:1")
        .key("t:seat:{42}:2")
        .arg("h")
        .invoke_async(&mut hot)
        .await
        .unwrap();
    assert_eq!(ok, 1);
    let both: Vec<String> = redis::cmd("MGET")
        .arg("t:seat:{42}:1")
        .arg("t:seat:{42}:2")
        .query_async(&mut hot)
        .await
        .unwrap();
    assert_eq!(both, ["h", "h"]);
    let err = script
        .key("t:seat:{42}:1")
        .key("t:seat:{43}:1")
        .arg("h")
        .invoke_async::<i32>(&mut hot)
        .await
        .unwrap_err();
    assert!(
        err.to_string().to_lowercase().contains("crossslot"),
        "{err}"
    );

    let status = pool.status();
    assert_eq!((status.size, status.available), (1, 1));
}

#[tokio::test]
async fn a_passenger_books_seats_with_every_service_on_a_redis_cluster() {
    let cluster = RedisCluster::start(3).unwrap();
    // PostgreSQL and the broker are the shared ones, with this test's own names.
    let bus = TestEnv::new("e2e_cluster").await.unwrap();
    let stack = path::start(&bus, async |_, env| {
        env.redis = settings(&cluster, env.redis.key_prefix.clone());
    })
    .await;
    stack.passenger_path([6, 7]).await;

    // The services' keys are on the cluster, spread as their slots fall.
    let counts = keys_per_node(&cluster).await;
    assert!(counts.iter().sum::<u64>() >= 6, "{counts:?}");
}

/// A primary dies while 64 callers hammer the shared cluster connection: its shard refuses
/// until the replica is promoted, the other shards answer throughout, and afterwards every
/// shard answers again on the same handle. (Without the handle's watchdog the redis crate's
/// connection wedges under this load and answers nothing, on any shard, for good.)
#[tokio::test]
async fn the_handle_serves_again_after_a_primary_dies_under_load() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
    use std::time::{Duration, Instant};

    let mut cluster = RedisCluster::with_replicas(3, 1).unwrap();
    let pool: RedisPool = servicekit::cache::pool(&settings(&cluster, "t:".into())).unwrap();
    let primary = cluster.primary_of("{dead}").unwrap().unwrap();
    // A key on another shard, which goes on answering.
    let other = (0..100)
        .map(|i| format!("{{alive{i}}}"))
        .find(|k| cluster.primary_of(k).unwrap() != Some(primary))
        .unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let other_answers = Arc::new(AtomicU64::new(0));
    let callers: Vec<_> = (0..64)
        .map(|i| {
            let (pool, stop, other, other_answers) = (
                pool.clone(),
                stop.clone(),
                other.clone(),
                other_answers.clone(),
            );
            tokio::spawn(async move {
                while !stop.load(Ordering::Relaxed) {
                    let key = if i % 2 == 0 {
                        "{dead}".to_owned()
                    } else {
                        other.clone()
                    };
                    let Ok(mut conn) = pool.multiplexed().await else {
                        continue;
                    };
                    let mut set = redis::cmd("SET");
                    set.arg(&key).arg(i);
                    let answered = tokio::time::timeout(
                        Duration::from_secs(1),
                        set.query_async::<()>(&mut conn),
                    )
                    .await;
                    if key != "{dead}" && matches!(answered, Ok(Ok(()))) {
                        other_answers.fetch_add(1, Ordering::Relaxed);
                    }
                }
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(500)).await;
    cluster.kill(primary).unwrap();
    let cluster = tokio::task::spawn_blocking(move || {
        cluster
            .wait_promoted("{dead}", primary, Duration::from_secs(30))
            .unwrap();
        cluster
    })
    .await
    .unwrap();
    let promoted = Instant::now();
    let mut conn = pool.multiplexed().await.unwrap();
    let mut served = false;
    while promoted.elapsed() < Duration::from_secs(15) && !served {
        let mut write = redis::cmd("SET");
        write.arg("{dead}").arg("after");
        served = matches!(
            tokio::time::timeout(Duration::from_secs(1), write.query_async::<()>(&mut conn)).await,
            Ok(Ok(()))
        );
        if !served {
            conn = pool.multiplexed().await.unwrap();
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    stop.store(true, Ordering::Relaxed);
    for caller in callers {
        caller.await.unwrap();
    }
    assert!(
        served,
        "the dead primary's shard serves again after the promotion"
    );
    let before = other_answers.load(Ordering::Relaxed);
    let got: String = redis::cmd("GET")
        .arg(&other)
        .query_async(&mut pool.multiplexed().await.unwrap())
        .await
        .unwrap();
    assert!(!got.is_empty());
    assert!(before > 0, "the other shard answered during the run");
    drop(cluster);
}
