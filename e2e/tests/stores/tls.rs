//! TLS to the stores, as the prod overlay runs it (`sslmode=require`, `rediss://`): each test
//! starts its own PostgreSQL and Redis that accept nothing but TLS, signed by a throwaway CA.
//!
//! The pools are checked to use TLS and to verify the server (a client that does not trust
//! the CA, or asks for plain text, gets nothing), and then the passenger's path of
//! `path.rs` runs over them.

use crate::path;
use servicekit::config::{DatabaseSettings, RedisSettings};
use servicekit::testing::TestEnv;
use servicekit::testing::servers::{TestCa, TlsPostgres, TlsRedis};
use std::path::PathBuf;

fn database(pg: &TlsPostgres, name: &str, sslmode: &str, ca: Option<PathBuf>) -> DatabaseSettings {
    DatabaseSettings {
        url: pg.url(name, sslmode).into(),
        ca_file: ca,
        max_size: 4,
        ..DatabaseSettings::default()
    }
}

fn redis(server: &TlsRedis, url: String, ca: Option<PathBuf>) -> RedisSettings {
    RedisSettings {
        url: url.into(),
        key_prefix: format!("tls:{}:", server.port),
        ca_file: ca,
        ..RedisSettings::default()
    }
}

#[tokio::test]
async fn the_database_pool_speaks_verified_tls_and_nothing_else() {
    let ca = TestCa::new().unwrap();
    let pg = TlsPostgres::start(&ca).unwrap();

    let trusted = servicekit::db::pool(&database(
        &pg,
        "postgres",
        "require",
        Some(ca.ca_file.clone()),
    ))
    .unwrap();
    let client = trusted.get().await.unwrap();
    let row = client
        .query_one(
            "SELECT ssl, version FROM pg_stat_ssl WHERE pid = pg_backend_pid()",
            &[],
        )
        .await
        .unwrap();
    assert!(row.get::<_, bool>(0), "the connection is not TLS");
    assert!(
        row.get::<_, String>(1).starts_with("TLSv1."),
        "{}",
        row.get::<_, String>(1)
    );

    // The same through the one-off connection the consistency check uses.
    let single = servicekit::db::connect(&database(
        &pg,
        "postgres",
        "require",
        Some(ca.ca_file.clone()),
    ))
    .await
    .unwrap();
    let ssl: bool = single
        .query_one(
            "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert!(ssl);

    // A CA it does not know (the system's roots, or another test CA) is refused.
    let stranger = TestCa::new().unwrap();
    for ca_file in [None, Some(stranger.ca_file.clone())] {
        let pool =
            servicekit::db::pool(&database(&pg, "postgres", "require", ca_file.clone())).unwrap();
        let err = pool.get().await.err().map(|e| format!("{e:?}"));
        let err = err.unwrap_or_else(|| panic!("connected while trusting {ca_file:?}"));
        assert!(
            err.contains("Certificate") || err.contains("certificate"),
            "{err}"
        );
    }

    // Without sslmode=require the pool speaks plain text, which this server rejects; so do
    // the defaults (`prefer`): TLS is never a silent guess.
    for mode in ["disable", "prefer"] {
        let pool = servicekit::db::pool(&database(&pg, "postgres", mode, Some(ca.ca_file.clone())))
            .unwrap();
        let err = pool.get().await.err().map(|e| format!("{e:?}"));
        let err = err.unwrap_or_else(|| panic!("sslmode={mode} connected"));
        assert!(
            err.contains("no encryption") || err.contains("pg_hba"),
            "{err}"
        );
    }
}

#[tokio::test]
async fn the_redis_pool_speaks_verified_tls_and_nothing_else() {
    let ca = TestCa::new().unwrap();
    let server = TlsRedis::start(&ca).unwrap();

    let settings = redis(&server, server.url(), Some(ca.ca_file.clone()));
    let pool = servicekit::cache::pool(&settings).unwrap();
    let mut conn = pool.get().await.unwrap();
    let key = settings.key_prefix.clone() + "greeting";
    let _: () = redis::cmd("SET")
        .arg(&key)
        .arg("salaam")
        .query_async(&mut conn)
        .await
        .unwrap();
    let got: String = redis::cmd("GET")
        .arg(&key)
        .query_async(&mut conn)
        .await
        .unwrap();
    assert_eq!(got, "salaam");
    // The multiplexed connection booking-service's hot path uses.
    let mut hot = pool.multiplexed().await.unwrap();
    let got: String = redis::cmd("GET")
        .arg(&key)
        .query_async(&mut hot)
        .await
        .unwrap();
    assert_eq!(got, "salaam");

    let stranger = TestCa::new().unwrap();
    for ca_file in [None, Some(stranger.ca_file.clone())] {
        let pool = servicekit::cache::pool(&redis(&server, server.url(), ca_file.clone())).unwrap();
        assert!(
            pool.get().await.is_err(),
            "connected while trusting {ca_file:?}"
        );
    }
    // Plain text to the TLS port gets no answer that counts as a connection.
    let plain = server.url().replacen("rediss://", "redis://", 1);
    let pool = servicekit::cache::pool(&redis(&server, plain, Some(ca.ca_file.clone()))).unwrap();
    assert!(pool.get().await.is_err(), "a plain-text connection worked");
    // Turning verification off is refused at start.
    let insecure = format!("{}/#insecure", server.url());
    let err = servicekit::cache::pool(&redis(&server, insecure, None)).unwrap_err();
    assert!(format!("{err:#}").contains("#insecure"), "{err:#}");
}

/// Creates `name` on the TLS server, over TLS.
async fn create_database(pg: &TlsPostgres, ca: &TestCa, name: &str) -> DatabaseSettings {
    let admin = database(pg, "postgres", "require", Some(ca.ca_file.clone()));
    let client = servicekit::db::connect(&admin).await.unwrap();
    client
        .batch_execute(&format!("CREATE DATABASE {name}"))
        .await
        .unwrap();
    database(pg, name, "require", Some(ca.ca_file.clone()))
}

#[tokio::test]
async fn a_passenger_books_seats_with_every_store_behind_tls() {
    let ca = TestCa::new().unwrap();
    let pg = TlsPostgres::start(&ca).unwrap();
    let cache = TlsRedis::start(&ca).unwrap();
    // The shared broker, under this test's own exchange and queue names.
    let bus = TestEnv::new("e2e_tls").await.unwrap();
    let stack = path::start(&bus, async |service, env| {
        env.database = create_database(&pg, &ca, service).await;
        env.redis = RedisSettings {
            key_prefix: env.redis.key_prefix.clone(),
            ..redis(&cache, cache.url(), Some(ca.ca_file.clone()))
        };
    })
    .await;
    let booking = stack.passenger_path([3, 4]).await;

    // Everything above went to the TLS servers: the booking is in their database.
    let check = servicekit::db::connect(&database(
        &pg,
        "booking",
        "require",
        Some(ca.ca_file.clone()),
    ))
    .await
    .unwrap();
    let count: i64 = check
        .query_one("SELECT count(*) FROM bookings WHERE id = $1", &[&booking])
        .await
        .unwrap()
        .get(0);
    assert_eq!(count, 1);
}
