//! Redis and PostgreSQL agree: a trip's seat keys are checked against its live bookings and
//! repaired, so a release or marker write that failed half-way does not leave a seat shown
//! booked (unsellable) or a sold seat without its marker.
//!
//! A trip is reconciled
//! - soon after a write that failed or changed fewer seats than asked ([`soon`]): the trip
//!   goes into `reconcile:dirty` (a sorted set by due time; in process memory when Redis
//!   does not answer), claimed by one replica with ZREM;
//! - and periodically, every `booking.reconcile_full_ms`, for every trip with a booking
//!   created or changed in the last `booking.reconcile_lookback_secs`, by the one replica
//!   that takes `reconcile:lock` for the period (`SET NX PX`).
//!
//! One reconciliation reads the seat keys (MGET) first, then PostgreSQL (the live seats and
//! which of the held holds were already confirmed, in one snapshot), and writes each repair
//! with a compare-and-set on the value it read. The order is the argument: a marker is
//! written only after its booking committed, so a marker seen in Redis has its booking in
//! the later snapshot, and a committing booking never loses its marker to a stale read.
//! Whatever changes a key after the read makes the compare fail and the repair is skipped;
//! a booking that ends after the snapshot has its release find the repaired key, changes
//! fewer seats than asked, and marks the trip again (see `docs/architecture.md`).

use crate::seats::booked_value;
use crate::state::BookingState;
use anyhow::Context;
use redis::Script;
use servicekit::cache::CacheError;
use servicekit::error::chain;
use servicekit::service;
use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::{Arc, LazyLock, Mutex};
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

/// Dirty trips claimed per round.
const BATCH: isize = 100;

/// Sets KEYS[i] to its new value (ARGV[3i]; '' deletes) where it still holds the value that
/// was read (ARGV[3i - 1]; '' for none), keeping the owners' seat sets (prefix ARGV[1]) in
/// step; ARGV[3i + 1] is the seat id. Returns {freed seats, booked seats}.
static REPAIR: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
        local freed, booked = {}, {}
        for i = 1, #KEYS do
            local read, new, seat = ARGV[3 * i - 1], ARGV[3 * i], ARGV[3 * i + 1]
            local v = redis.call('GET', KEYS[i])
            if (v or '') == read then
                if v then redis.call('SREM', ARGV[1] .. string.match(v, ':([^:]+)$'), seat) end
                if new == '' then
                    redis.call('DEL', KEYS[i])
                    freed[#freed + 1] = seat
                else
                    local owner = ARGV[1] .. string.match(new, ':([^:]+)$')
                    redis.call('SET', KEYS[i], new)
                    redis.call('SADD', owner, seat)
                    redis.call('PERSIST', owner)
                    booked[#booked + 1] = seat
                end
            end
        end
        return {freed, booked}
    ",
    )
});

/// Trips to reconcile that could not be written to Redis; drained by this replica.
#[derive(Default)]
pub struct Pending(Mutex<BTreeSet<i64>>);

impl Pending {
    fn add(&self, trip: i64) {
        if let Ok(mut trips) = self.0.lock() {
            trips.insert(trip);
        }
    }

    fn take(&self) -> Vec<i64> {
        self.0
            .lock()
            .map(|mut trips| std::mem::take(&mut *trips).into_iter().collect())
            .unwrap_or_default()
    }
}

fn dirty_key(state: &BookingState) -> String {
    state.seats.keys().key("reconcile:dirty")
}

/// Marks `trip` for reconciliation within `booking.reconcile_ms` (by any replica).
pub async fn soon(state: &BookingState, trip: i64) {
    let marked = async {
        let mut conn = state.seats.pool().get().await?;
        redis::cmd("ZADD")
            .arg(dirty_key(state))
            .arg(chrono::Utc::now().timestamp_millis())
            .arg(trip)
            .query_async::<()>(&mut conn)
            .await?;
        Ok::<_, CacheError>(())
    }
    .await;
    if marked.is_err() {
        state.unreconciled.add(trip);
    }
}

/// After a marker write or release meant to change `expected` seats of `trip`: a failure,
/// or fewer seats changed, marks the trip (`what` names the write in the log).
pub async fn unless_all(
    state: &BookingState,
    trip: i64,
    changed: Result<usize, CacheError>,
    expected: usize,
    what: &str,
) {
    match changed {
        Ok(n) if n == expected => return,
        Ok(_) => {}
        Err(e) => {
            tracing::warn!(error = %chain(&e), trip, "{what} failed; the trip will be reconciled")
        }
    }
    soon(state, trip).await;
}

/// Checks every seat key of `trip` against PostgreSQL and repairs the ones that disagree;
/// the repaired seats are announced on live seat maps.
pub async fn trip(state: &BookingState, trip: i64) -> anyhow::Result<()> {
    let inventory = state.inventory.trip(trip).await?;
    let ids: Vec<i32> = inventory.seats.iter().map(|s| s.seat_id).collect();
    let values = state.seats.values(trip, &ids).await?;
    let held: Vec<Uuid> = values
        .iter()
        .flatten()
        .filter_map(|v| v.strip_prefix("h:")?.split(':').next()?.parse().ok())
        .collect();
    let (live, confirmed) = truth(state, trip, &held).await?;
    let mut repairs = Vec::new();
    for (&seat, value) in ids.iter().zip(&values) {
        let want = live.get(&seat);
        let read = value.as_deref().unwrap_or("");
        let new = match (value.as_deref(), want) {
            (_, Some(marker)) if read != marker => marker.as_str(),
            (Some(v), None) if v.starts_with("b:") => "",
            (Some(v), None) if consumed(v, &confirmed) => "",
            _ => continue,
        };
        repairs.push((seat, read.to_owned(), new.to_owned()));
    }
    if repairs.is_empty() {
        return Ok(());
    }
    let mut inv = REPAIR.prepare_invoke();
    inv.arg(state.seats.user_prefix(trip));
    for (seat, read, new) in &repairs {
        inv.key(state.seats.seat_key(trip, *seat))
            .arg(read)
            .arg(new)
            .arg(seat);
    }
    let mut conn = state.seats.pool().get().await?;
    let (freed, booked): (Vec<i32>, Vec<i32>) = inv.invoke_async(&mut conn).await?;
    state.live.publish(trip, &freed, "available");
    state.live.publish(trip, &booked, "booked");
    if !freed.is_empty() || !booked.is_empty() {
        tracing::warn!(
            trip,
            ?freed,
            ?booked,
            "seat keys disagreed with PostgreSQL: repaired"
        );
    }
    Ok(())
}

/// Whether a hold value names a hold that was confirmed (its booking owns the seat or ended).
fn consumed(value: &str, confirmed: &HashSet<Uuid>) -> bool {
    value
        .strip_prefix("h:")
        .and_then(|v| v.split(':').next()?.parse().ok())
        .is_some_and(|hold| confirmed.contains(&hold))
}

/// The trip's live seats with their markers, and which of `holds` were confirmed, from one
/// snapshot.
async fn truth(
    state: &BookingState,
    trip: i64,
    holds: &[Uuid],
) -> anyhow::Result<(HashMap<i32, String>, HashSet<Uuid>)> {
    let mut db = state.db.get().await?;
    let tx = db
        .build_transaction()
        .isolation_level(tokio_postgres::IsolationLevel::RepeatableRead)
        .read_only(true)
        .start()
        .await?;
    let live = tx
        .query(
            "SELECT s.seat_id, b.id, b.user_id FROM booking_seats s \
             JOIN bookings b ON b.id = s.booking_id WHERE s.trip_id = $1 AND s.live",
            &[&trip],
        )
        .await
        .context("reading the trip's live seats")?
        .iter()
        .map(|r| (r.get(0), booked_value(r.get(1), r.get(2))))
        .collect();
    let confirmed = tx
        .query(
            "SELECT hold_id FROM bookings WHERE hold_id = ANY($1)",
            &[&holds],
        )
        .await
        .context("reading the confirmed holds")?
        .iter()
        .map(|r| r.get(0))
        .collect();
    tx.commit().await?;
    Ok((live, confirmed))
}

/// Reconciles the dirty trips every `booking.reconcile_ms`, and the recent ones every
/// `booking.reconcile_full_ms`, until `stop`.
pub async fn run(state: Arc<BookingState>, stop: CancellationToken) {
    let every = Duration::from_millis(state.settings.reconcile_ms);
    let full = Duration::from_millis(state.settings.reconcile_full_ms);
    let mut last_full: Option<Instant> = None;
    service::every(every, stop, || {
        let state = state.clone();
        let due = last_full.is_none_or(|at| at.elapsed() >= full);
        if due {
            last_full = Some(Instant::now());
        }
        async move {
            let mut trips = state.unreconciled.take();
            match claim_dirty(&state).await {
                Ok(claimed) => trips.extend(claimed),
                Err(error) => tracing::debug!(error = format!("{error:#}"), "dirty trips not read"),
            }
            if due {
                match recent(&state).await {
                    Ok(recent) => trips.extend(recent),
                    Err(error) => tracing::warn!(
                        error = format!("{error:#}"),
                        "periodic reconciliation skipped"
                    ),
                }
            }
            trips.sort_unstable();
            trips.dedup();
            for trip in trips {
                if let Err(error) = self::trip(&state, trip).await {
                    tracing::warn!(
                        trip,
                        error = format!("{error:#}"),
                        "trip not reconciled; retrying"
                    );
                    soon(&state, trip).await;
                }
            }
            false
        }
    })
    .await;
}

/// The due dirty trips this replica claimed (ZREM answered 1 to it alone).
async fn claim_dirty(state: &BookingState) -> anyhow::Result<Vec<i64>> {
    let mut conn = state.seats.pool().get().await?;
    let key = dirty_key(state);
    let due: Vec<i64> = redis::cmd("ZRANGEBYSCORE")
        .arg(&key)
        .arg("-inf")
        .arg(chrono::Utc::now().timestamp_millis())
        .arg("LIMIT")
        .arg(0)
        .arg(BATCH)
        .query_async(&mut conn)
        .await?;
    let mut claimed = Vec::with_capacity(due.len());
    for trip in due {
        let won: i64 = redis::cmd("ZREM")
            .arg(&key)
            .arg(trip)
            .query_async(&mut conn)
            .await?;
        if won == 1 {
            claimed.push(trip);
        }
    }
    Ok(claimed)
}

/// The trips with a booking created or changed within the lookback, when this replica holds
/// the period's lock; none otherwise.
async fn recent(state: &BookingState) -> anyhow::Result<Vec<i64>> {
    let mut conn = state.seats.pool().get().await?;
    let locked: Option<String> = redis::cmd("SET")
        .arg(state.seats.keys().key("reconcile:lock"))
        .arg(1)
        .arg("NX")
        .arg("PX")
        .arg(state.settings.reconcile_full_ms)
        .query_async(&mut conn)
        .await?;
    if locked.is_none() {
        return Ok(Vec::new());
    }
    let lookback = f64::from(state.settings.reconcile_lookback_secs);
    let rows = state
        .db
        .get()
        .await?
        .query(
            "SELECT DISTINCT trip_id FROM bookings \
             WHERE updated_at > now() - make_interval(secs => $1)",
            &[&lookback],
        )
        .await
        .context("reading the recently booked trips")?;
    Ok(rows.iter().map(|r| r.get(0)).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::seats::hold_value;

    #[test]
    fn a_hold_is_consumed_only_when_its_booking_exists() {
        let (hold, user) = (Uuid::new_v4(), Uuid::new_v4());
        let confirmed: HashSet<Uuid> = [hold].into();
        assert!(consumed(&hold_value(hold, user), &confirmed));
        assert!(!consumed(&hold_value(Uuid::new_v4(), user), &confirmed));
        assert!(!consumed(&booked_value(hold, user), &confirmed));
    }
}
