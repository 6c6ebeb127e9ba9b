//! Waiting for what happens in the background (a consumer, a relay, a sweeper): one
//! policy for every test. A check is polled every 50 ms for up to [`WAIT`], and the test
//! fails naming what it waited for. A passing test never waits for the limit; it bounds how
//! long a failing one takes on a loaded machine. The rare test whose point is a tighter
//! bound says so with [`eventually_within`].

use std::fmt::Display;
use std::future::Future;
use std::time::{Duration, Instant};

/// How long a test waits for anything before it fails.
pub const WAIT: Duration = Duration::from_secs(20);

const POLL: Duration = Duration::from_millis(50);

/// Polls `check` until it returns true; panics after [`WAIT`].
pub async fn eventually<F, Fut>(what: &str, check: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    eventually_within(WAIT, what, check).await;
}

/// Polls `check` until it returns true; panics after `limit`.
pub async fn eventually_within<F, Fut>(limit: Duration, what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    poll_within(limit, what, || {
        let done = check();
        async move { if done.await { Ok(()) } else { Err("not yet") } }
    })
    .await;
}

/// Polls `probe` until it returns `Ok`, and returns that; panics after [`WAIT`] with the
/// last `Err` (the state it was stuck in).
pub async fn poll<T, E, F, Fut>(what: &str, probe: F) -> T
where
    E: Display,
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, E>>,
{
    poll_within(WAIT, what, probe).await
}

async fn poll_within<T, E, F, Fut>(limit: Duration, what: &str, mut probe: F) -> T
where
    E: Display,
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, E>>,
{
    let deadline = Instant::now() + limit;
    loop {
        match probe().await {
            Ok(done) => return done,
            Err(last) if Instant::now() >= deadline => {
                panic!("timed out after {limit:?} waiting for {what}; last: {last}")
            }
            Err(_) => tokio::time::sleep(POLL).await,
        }
    }
}

/// Waits until `n` connections to `db`'s database wait for a lock (a test holding a row
/// or key in an open transaction, to line deliveries up behind it); panics after [`WAIT`].
pub async fn lock_waiters(db: &tokio_postgres::Client, n: i64) {
    eventually(&format!("{n} connection(s) waiting for a lock"), || async {
        let waiting = db
            .query_one(
                "SELECT count(*) FROM pg_stat_activity \
                 WHERE datname = current_database() AND wait_event_type = 'Lock'",
                &[],
            )
            .await
            .map(|row| row.get::<_, i64>(0));
        waiting.is_ok_and(|waiting| waiting == n)
    })
    .await;
}

/// How many events `consumer` recorded in `db`'s `processed_events`, and in how many
/// transactions: `processed_at` is its transaction's start, so a batch applied in one
/// transaction shares one.
pub async fn processed_transactions(db: &tokio_postgres::Client, consumer: &str) -> (i64, i64) {
    match db
        .query_one(
            "SELECT count(*), count(DISTINCT processed_at) FROM processed_events WHERE consumer = $1",
            &[&consumer],
        )
        .await
    {
        Ok(row) => (row.get(0), row.get(1)),
        Err(e) => panic!("reading processed_events: {e}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[tokio::test]
    async fn poll_returns_the_first_ok_and_eventually_stops_at_true() {
        let calls = AtomicUsize::new(0);
        let got = poll("the third call", || async {
            match calls.fetch_add(1, Ordering::SeqCst) {
                n if n >= 2 => Ok(n),
                n => Err(n),
            }
        })
        .await;
        assert_eq!(got, 2);
        eventually("a true check", || async { true }).await;
    }

    #[tokio::test]
    #[should_panic(expected = "waiting for the impossible; last: still 7")]
    async fn a_check_that_never_holds_fails_naming_what_and_the_last_state() {
        poll_within(Duration::from_millis(120), "the impossible", || async {
            Err::<(), _>("still 7")
        })
        .await;
    }
}
