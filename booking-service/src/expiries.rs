//! Hold expiries, announced from Redis so that they survive a restart. Redis lets a hold's
//! seat keys lapse silently; live seat maps still need an `available` notice.
//!
//! - `expiring:{T}` — a sorted set per trip: one member per hold
//!   (`<hold_id>:<user_id>:<seat>,<seat>`), scored by its expiry in ms. The select script
//!   adds it in the same round trip that takes the hold (same `{T}` slot); confirm and
//!   release remove it.
//! - `expiring:trips` — the set of trips whose sorted set may hold members. The select
//!   script answers `index` when the trip's set was empty or has a member overdue by
//!   [`STALE_MS`] (nobody swept it, e.g. an index entry lost in a crash); the select route
//!   then adds the trip (a second round trip only then).
//!
//! Every replica sweeps every `booking.expiry_sweep_ms`: for each indexed trip, one script
//! claims the due members whose seats no longer carry the hold (ZREM inside the script, so
//! one replica only claims each), and answers the claimed seats that are now free; those are
//! announced `available`. A trip whose set is empty leaves the index: SREM, then a second
//! look at the set, and SADD again if a select added a member in between (a select that
//! found the set empty adds the trip itself after its script, so one of the two re-adds it).

use crate::seats::SeatStore;
use crate::state::BookingState;
use redis::Script;
use servicekit::cache::CacheError;
use servicekit::service;
use std::sync::{Arc, LazyLock};
use std::time::Duration;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

/// A member this far past its expiry means nobody sweeps the trip: the next select indexes
/// it again.
pub const STALE_MS: i64 = 10_000;

/// A trip's expiry set outlives its newest hold by this much.
pub const KEPT_MS: i64 = 60 * 60 * 1000;

/// Members claimed per trip and round.
const BATCH: usize = 500;

/// Claims the due members of KEYS[1] (score <= ARGV[1]) whose seats (keys ARGV[2] .. seat)
/// no longer carry the hold, at most ARGV[3]. Returns {members left, holds claimed, free
/// seats of the claimed holds...}.
static SWEEP: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
        local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, ARGV[3])
        local claimed, free = 0, {}
        for _, m in ipairs(due) do
            local hold, user, list = string.match(m, '^([^:]+):([^:]+):(.*)$')
            local value = hold and ('h:' .. hold .. ':' .. user)
            local alive, gone = false, {}
            for s in string.gmatch(list or '', '[^,]+') do
                local v = redis.call('GET', ARGV[2] .. s)
                if v == value then alive = true elseif not v then gone[#gone + 1] = s end
            end
            if not alive and redis.call('ZREM', KEYS[1], m) == 1 then
                claimed = claimed + 1
                for _, s in ipairs(gone) do free[#free + 1] = s end
            end
        end
        local out = {tostring(redis.call('ZCARD', KEYS[1])), tostring(claimed)}
        for _, s in ipairs(free) do out[#out + 1] = s end
        return out
    ",
    )
});

/// The member of a hold in its trip's expiry set.
pub fn member(hold: Uuid, user: Uuid, seats: &[i32]) -> String {
    let seats: Vec<String> = seats.iter().map(i32::to_string).collect();
    format!("{hold}:{user}:{}", seats.join(","))
}

fn index_key(seats: &SeatStore) -> String {
    seats.keys().key("expiring:trips")
}

/// Puts `trip` in the index of trips with expiries (after a select answered `index`).
pub async fn index(seats: &SeatStore, trip: i64) -> Result<(), CacheError> {
    let mut conn = seats.pool().get().await?;
    redis::cmd("SADD")
        .arg(index_key(seats))
        .arg(trip)
        .query_async::<()>(&mut conn)
        .await?;
    Ok(())
}

/// Sweeps every `booking.expiry_sweep_ms` until `stop`.
pub async fn run(state: Arc<BookingState>, stop: CancellationToken) {
    let every = Duration::from_millis(state.settings.expiry_sweep_ms);
    service::every(every, stop, || async {
        if let Err(error) = sweep(&state).await {
            tracing::debug!(%error, "hold expiries not swept; retrying next round");
        }
        false
    })
    .await;
}

/// One round over every indexed trip; returns the holds claimed.
pub async fn sweep(state: &BookingState) -> Result<usize, CacheError> {
    let seats = &state.seats;
    let trips: Vec<i64> = {
        let mut conn = seats.pool().get().await?;
        redis::cmd("SMEMBERS")
            .arg(index_key(seats))
            .query_async(&mut conn)
            .await?
    };
    let mut claimed = 0;
    for trip in trips {
        claimed += sweep_trip(state, trip).await?;
    }
    Ok(claimed)
}

async fn sweep_trip(state: &BookingState, trip: i64) -> Result<usize, CacheError> {
    let seats = &state.seats;
    let mut conn = seats.pool().get().await?;
    let reply: Vec<String> = SWEEP
        .key(seats.expiry_key(trip))
        .arg(chrono::Utc::now().timestamp_millis())
        .arg(seats.seat_prefix(trip))
        .arg(BATCH)
        .invoke_async(&mut conn)
        .await?;
    let number = |i: usize| reply.get(i).and_then(|n| n.parse::<usize>().ok());
    let (left, claimed) = (number(0).unwrap_or(0), number(1).unwrap_or(0));
    let free: Vec<i32> = reply
        .iter()
        .skip(2)
        .filter_map(|s| s.parse().ok())
        .collect();
    state.live.publish(trip, &free, "available");
    state.metrics.holds_expired.inc_by(claimed as u64);
    if left == 0 {
        redis::cmd("SREM")
            .arg(index_key(seats))
            .arg(trip)
            .query_async::<()>(&mut conn)
            .await?;
        let again: usize = redis::cmd("ZCARD")
            .arg(seats.expiry_key(trip))
            .query_async(&mut conn)
            .await?;
        if again > 0 {
            index(seats, trip).await?;
        }
    }
    Ok(claimed)
}
