//! Seat state in Redis. Every key of a trip carries the hash tag `{trip_id}`, so one trip's
//! keys live on one Redis Cluster shard and its scripts stay valid there.
//!
//! - `seat:{T}:<seat>` — `h:<hold_id>:<user_id>` while held (expires with the hold), or
//!   `b:<booking_id>:<user_id>` once booked (no expiry; rebuilt from PostgreSQL when lost).
//! - `user:{T}:<user>` — set of the seat ids the user holds or owns on the trip (members are
//!   checked against the seat keys, so expired holds drop out lazily; a set of holds only
//!   expires with them).
//! - `hold:{T}:<hold_id>` — the hold record (trip, user, seats, expiry), written by the
//!   select script with the hold, kept an hour past the hold so a late confirm can be told
//!   `hold_expired` rather than "unknown". The hold id carries T (`crate::holds::new_id`);
//!   records of older ids are `hold:<hold_id>`.
//! - `expiring:{T}` — the trip's holds by expiry (`crate::expiries`), written by the same
//!   script that takes the hold; the sweep announces their lapse.
//!
//! Every call answers within [`REDIS_DEADLINE`] or fails with [`CacheError::Timeout`].

use crate::{expiries, holds};
use redis::Script;
use servicekit::cache::{CacheError, Keys, RedisConnection, RedisPool, within};
use std::sync::LazyLock;
use std::time::Duration;
use uuid::Uuid;

/// The select path answers within this even when Redis hangs.
pub const REDIS_DEADLINE: Duration = Duration::from_secs(1);

/// All-or-nothing hold of KEYS[4..] (seat keys), respecting the per-user limit kept in
/// KEYS[1] (the user's seat set), with the hold's entry in the trip's expiry set KEYS[2] and
/// its record KEYS[3]. ARGV: hold value, ttl ms, max seats, user suffix (":<user>"), seat key
/// prefix, expiry member, expiry score (ms), "stale before" score (ms), expiry set ttl ms,
/// record, record ttl ms, then the seat ids. Returns {"ok"} or {"ok", "index"} (the trip
/// must be put in the index of trips with expiries: its set was empty, or nobody swept it),
/// {"taken", ids...} or {"limit", live}.
static SELECT: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
        local n = #KEYS - 3
        local taken = {'taken'}
        for i = 1, n do
            if redis.call('EXISTS', KEYS[i + 3]) == 1 then taken[#taken + 1] = ARGV[11 + i] end
        end
        if #taken > 1 then return taken end
        local live, owns = 0, false
        for _, m in ipairs(redis.call('SMEMBERS', KEYS[1])) do
            local v = redis.call('GET', ARGV[5] .. m)
            if v and string.sub(v, -#ARGV[4]) == ARGV[4] then
                live = live + 1
                if string.sub(v, 1, 1) == 'b' then owns = true end
            else
                redis.call('SREM', KEYS[1], m)
            end
        end
        if live + n > tonumber(ARGV[3]) then return {'limit', tostring(live)} end
        for i = 1, n do
            redis.call('SET', KEYS[i + 3], ARGV[1], 'PX', ARGV[2])
            redis.call('SADD', KEYS[1], ARGV[11 + i])
        end
        redis.call('SET', KEYS[3], ARGV[10], 'PX', ARGV[11])
        -- A set of holds only lives as long as they do; one with booked seats stays.
        if not owns then redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
        local oldest = redis.call('ZRANGE', KEYS[2], 0, 0, 'WITHSCORES')
        local index = #oldest == 0 or tonumber(oldest[2]) < tonumber(ARGV[8])
        redis.call('ZADD', KEYS[2], ARGV[7], ARGV[6])
        redis.call('PEXPIRE', KEYS[2], ARGV[9])
        if index then return {'ok', 'index'} end
        return {'ok'}
    ",
    )
});

/// Sets KEYS[4..] to ARGV[2] where they still equal ARGV[1] (or are gone), adding ARGV[4..]
/// to the user set KEYS[1], which then never expires, removes ARGV[3] from the expiry set
/// KEYS[2] and deletes the hold record KEYS[3]. Used to turn a hold into booked markers.
/// Returns how many seats.
static REPLACE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
        local done = 0
        for i = 4, #KEYS do
            local v = redis.call('GET', KEYS[i])
            if v == false or v == ARGV[1] then
                redis.call('SET', KEYS[i], ARGV[2])
                redis.call('SADD', KEYS[1], ARGV[i])
                done = done + 1
            end
        end
        redis.call('PERSIST', KEYS[1])
        redis.call('ZREM', KEYS[2], ARGV[3])
        redis.call('DEL', KEYS[3])
        return done
    ",
    )
});

/// Deletes KEYS[3..] where they still equal ARGV[1]; removes ARGV[3..] from KEYS[1] and the
/// expiry member ARGV[2] (when not empty) from the expiry set KEYS[2].
static RELEASE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
        local done = 0
        for i = 3, #KEYS do
            if redis.call('GET', KEYS[i]) == ARGV[1] then
                redis.call('DEL', KEYS[i])
                redis.call('SREM', KEYS[1], ARGV[i])
                done = done + 1
            end
        end
        if ARGV[2] ~= '' then redis.call('ZREM', KEYS[2], ARGV[2]) end
        return done
    ",
    )
});

pub enum SelectOutcome {
    /// Held; `index` when the trip must join the index of trips with expiries.
    Held {
        index: bool,
    },
    Taken(Vec<i32>),
    Limit,
}

/// The hot paths (select, seat map) use the pool's one multiplexed, self-reconnecting
/// connection: one round trip per call, pipelined across concurrent requests (a pool
/// checkout would add a PING round trip to every call).
#[derive(Clone)]
pub struct SeatStore {
    pool: RedisPool,
    keys: Keys,
}

/// A hold to take: who, which seats of which trip, for how long.
pub struct NewHold<'a> {
    pub trip: i64,
    pub seats: &'a [i32],
    pub user: Uuid,
    pub hold: Uuid,
    pub ttl_ms: u64,
    pub max_seats: u32,
    /// The hold record (JSON), kept `ttl_ms` + [`holds::GRACE_MS`].
    pub record: &'a str,
}

pub fn hold_value(hold: Uuid, user: Uuid) -> String {
    format!("h:{hold}:{user}")
}

pub fn booked_value(booking: Uuid, user: Uuid) -> String {
    format!("b:{booking}:{user}")
}

async fn bounded<T>(f: impl Future<Output = Result<T, CacheError>>) -> Result<T, CacheError> {
    within(REDIS_DEADLINE, f).await
}

impl SeatStore {
    pub fn new(pool: RedisPool, keys: Keys) -> Self {
        Self { pool, keys }
    }

    /// The connection of the request paths (select, confirm, release): the pool's multiplexed
    /// one, on the calling worker's own thread and with no checkout (a pooled connection
    /// costs a PING each time it is taken).
    pub(crate) async fn hot(&self) -> Result<RedisConnection, CacheError> {
        Ok(self.pool.multiplexed().await?)
    }

    pub fn pool(&self) -> &RedisPool {
        &self.pool
    }

    pub fn seat_key(&self, trip: i64, seat: i32) -> String {
        self.keys.key(&format!("seat:{{{trip}}}:{seat}"))
    }

    pub fn seat_prefix(&self, trip: i64) -> String {
        self.keys.key(&format!("seat:{{{trip}}}:"))
    }

    pub fn user_key(&self, trip: i64, user: Uuid) -> String {
        format!("{}{user}", self.user_prefix(trip))
    }

    /// The trip's user sets are this followed by the user id.
    pub fn user_prefix(&self, trip: i64) -> String {
        self.keys.key(&format!("user:{{{trip}}}:"))
    }

    pub fn hold_key(&self, hold: Uuid) -> String {
        match holds::trip_of(hold) {
            Some(trip) => self.keys.key(&format!("hold:{{{trip}}}:{hold}")),
            None => self.keys.key(&format!("hold:{hold}")),
        }
    }

    pub fn keys(&self) -> &Keys {
        &self.keys
    }

    /// The trip's holds by expiry (see [`crate::expiries`]).
    pub fn expiry_key(&self, trip: i64) -> String {
        self.keys.key(&format!("expiring:{{{trip}}}"))
    }

    /// One round trip: hold every seat or none, with the hold's record and expiry entry.
    pub async fn select(&self, hold: &NewHold<'_>) -> Result<SelectOutcome, CacheError> {
        let (trip, user) = (hold.trip, hold.user);
        let now = chrono::Utc::now().timestamp_millis();
        let ttl = i64::try_from(hold.ttl_ms).unwrap_or(i64::MAX / 4);
        bounded(async {
            let mut conn = self.hot().await?;
            let mut inv = SELECT.key(self.user_key(trip, user));
            inv.key(self.expiry_key(trip)).key(self.hold_key(hold.hold));
            for &s in hold.seats {
                inv.key(self.seat_key(trip, s));
            }
            inv.arg(hold_value(hold.hold, user))
                .arg(hold.ttl_ms)
                .arg(hold.max_seats)
                .arg(format!(":{user}"))
                .arg(self.seat_prefix(trip))
                .arg(expiries::member(hold.hold, user, hold.seats))
                .arg(now + ttl)
                .arg(now - expiries::STALE_MS)
                .arg(ttl + expiries::KEPT_MS)
                .arg(hold.record)
                .arg(hold.ttl_ms + holds::GRACE_MS);
            for &s in hold.seats {
                inv.arg(s);
            }
            let reply: Vec<String> = inv.invoke_async(&mut conn).await?;
            Ok(match reply.first().map(String::as_str) {
                Some("ok") => SelectOutcome::Held {
                    index: reply.len() > 1,
                },
                Some("limit") => SelectOutcome::Limit,
                _ => SelectOutcome::Taken(
                    reply
                        .iter()
                        .skip(1)
                        .filter_map(|s| s.parse().ok())
                        .collect(),
                ),
            })
        })
        .await
    }

    /// Replaces `from` (or a vanished key) with `to` on the seats of `hold` and drops the
    /// hold's `expiry` entry and its record, in one round trip; returns how many seats
    /// changed.
    pub async fn replace(
        &self,
        (trip, hold): (i64, Uuid),
        seats: &[i32],
        user: Uuid,
        (from, to): (&str, &str),
        expiry: &str,
    ) -> Result<usize, CacheError> {
        bounded(async {
            let mut conn = self.hot().await?;
            let mut inv = REPLACE.key(self.user_key(trip, user));
            inv.key(self.expiry_key(trip)).key(self.hold_key(hold));
            for &s in seats {
                inv.key(self.seat_key(trip, s));
            }
            inv.arg(from).arg(to).arg(expiry);
            for &s in seats {
                inv.arg(s);
            }
            Ok(inv.invoke_async(&mut conn).await?)
        })
        .await
    }

    /// Deletes the seats' keys where they still hold `value`, and the hold's `expiry` entry
    /// when one is given; returns how many seats.
    pub async fn release(
        &self,
        trip: i64,
        seats: &[i32],
        user: Uuid,
        value: &str,
        expiry: Option<&str>,
    ) -> Result<usize, CacheError> {
        bounded(async {
            let mut conn = self.hot().await?;
            let mut inv = RELEASE.key(self.user_key(trip, user));
            inv.key(self.expiry_key(trip));
            for &s in seats {
                inv.key(self.seat_key(trip, s));
            }
            inv.arg(value).arg(expiry.unwrap_or(""));
            for &s in seats {
                inv.arg(s);
            }
            Ok(inv.invoke_async(&mut conn).await?)
        })
        .await
    }

    /// The raw values of the seats' keys, in order (one MGET).
    pub async fn values(
        &self,
        trip: i64,
        seats: &[i32],
    ) -> Result<Vec<Option<String>>, CacheError> {
        if seats.is_empty() {
            return Ok(Vec::new());
        }
        bounded(async {
            let mut conn = self.hot().await?;
            let keys: Vec<String> = seats.iter().map(|&s| self.seat_key(trip, s)).collect();
            Ok(redis::cmd("MGET").arg(&keys).query_async(&mut conn).await?)
        })
        .await
    }
}

/// Status of a seat from its key's value.
pub fn status_of(value: Option<&str>) -> &'static str {
    match value.and_then(|v| v.bytes().next()) {
        Some(b'h') => "held",
        Some(b'b') => "booked",
        _ => "available",
    }
}
