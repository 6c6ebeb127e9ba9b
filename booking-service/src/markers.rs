//! Booked markers in Redis mirror the live seats in PostgreSQL. They are rebuilt at start
//! and whenever Redis comes back empty (its sentinel key is gone), so a Redis restart never
//! lets a sold seat look free for long; even then PostgreSQL's unique index refuses a second
//! sale. Single seats that disagree (a release or marker write that failed half-way) are
//! repaired trip by trip by `crate::reconcile`.

use crate::seats::{SeatStore, booked_value};
use crate::store;
use anyhow::Context;
use servicekit::db::{DbError, PgPool};
use servicekit::service;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

fn sentinel(seats: &SeatStore) -> String {
    seats.keys().key("markers:built")
}

/// Writes a booked marker for every live seat, then the sentinel.
pub async fn rebuild(pool: &PgPool, seats: &SeatStore) -> anyhow::Result<usize> {
    let live = async { store::live_seats(&pool.get().await.map_err(DbError::from)?).await }
        .await
        .context("reading the live seats")?;
    let mut conn = seats.pool().get().await.context("writing the markers")?;
    // One trip per pipeline: its keys share the `{trip}` hash tag, so on a Redis Cluster the
    // whole pipeline goes to the one shard that owns them.
    let trips = live.chunk_by(|a, b| a.0 == b.0);
    for chunk in trips.flat_map(|trip| trip.chunks(1_000)) {
        let mut pipe = redis::pipe();
        for (trip, seat, booking, user) in chunk {
            pipe.set(seats.seat_key(*trip, *seat), booked_value(*booking, *user))
                .ignore();
            pipe.sadd(seats.user_key(*trip, *user), *seat).ignore();
        }
        pipe.query_async::<()>(&mut conn)
            .await
            .context("writing the markers")?;
    }
    redis::cmd("SET")
        .arg(sentinel(seats))
        .arg(chrono::Utc::now().to_rfc3339())
        .query_async::<()>(&mut conn)
        .await
        .context("writing the markers' sentinel")?;
    Ok(live.len())
}

/// [`rebuild`] before serving; a failure is left to [`watch`], which retries.
pub async fn rebuild_at_start(pool: &PgPool, seats: &SeatStore) {
    if let Err(error) = rebuild(pool, seats).await {
        tracing::warn!(
            error = format!("{error:#}"),
            "booked markers not rebuilt at start; the watcher will retry"
        );
    }
}

/// Checks the sentinel every `every` and rebuilds when Redis lost it, until `stop`.
pub async fn watch(pool: PgPool, seats: SeatStore, every: Duration, stop: CancellationToken) {
    service::every(every, stop, || async {
        let present = async {
            let mut conn = seats.pool().get().await.ok()?;
            redis::cmd("EXISTS")
                .arg(sentinel(&seats))
                .query_async::<bool>(&mut conn)
                .await
                .ok()
        }
        .await;
        if present == Some(false) {
            match rebuild(&pool, &seats).await {
                Ok(n) => tracing::warn!(seats = n, "redis had lost the booked markers: rebuilt"),
                Err(error) => {
                    tracing::warn!(
                        error = format!("{error:#}"),
                        "rebuilding booked markers failed; will retry"
                    )
                }
            }
        }
        false
    })
    .await;
}
