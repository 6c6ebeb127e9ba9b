//! Seat state in Redis. Every key of a trip carries the hash tag `{trip_id}`, so one trip's
//! keys live on one Redis Cluster shard and its scripts stay valid there.
//!
//! - `seat:{T}:<seat>` — `h:<hold_id>:<user_id>` while held (expires with the hold), or
//!   `b:<booking_id>:<user_id>` once booked (no expiry; rebuilt from PostgreSQL when lost).
//! - `user:{T}:<user>` — set of the seat ids the user holds or owns on the trip (members are
//!   checked against the seat keys, so expired holds drop out lazily; a set of holds only
//!   expires with them).
//! - `hold:<hold_id>` — the hold record (trip, user, seats, expiry), kept an hour past the
//!   hold so a late confirm can be told `hold_expired` rather than "unknown".
//!
//! Every call answers within [`REDIS_DEADLINE`] or fails with [`CacheError::Timeout`].

use redis::Script;
use servicekit::cache::{CacheError, Keys, RedisConnection, RedisPool, within};
use std::sync::LazyLock;
use std::time::Duration;
use uuid::Uuid;

/// The select path answers within this even when Redis hangs.
pub const REDIS_DEADLINE: Duration = Duration::from_secs(1);

/// All-or-nothing hold of KEYS[2..] (seat keys), respecting the per-user limit kept in
/// KEYS[1] (the user's seat set). ARGV: hold value, ttl ms, max seats, user suffix
/// (":<user>"), seat key prefix, then the seat ids. Returns {"ok"}, {"taken", ids...} or
/// {"limit", live}.
static SELECT: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
        local n = #KEYS - 1
        local taken = {'taken'}
        for i = 1, n do
            if redis.call('EXISTS', KEYS[i + 1]) == 1 then taken[#taken + 1] = ARGV[5 + i] end
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
            redis.call('SET', KEYS[i + 1], ARGV[1], 'PX', ARGV[2])
            redis.call('SADD', KEYS[1], ARGV[5 + i])
        end
        -- A set of holds only lives as long as they do; one with booked seats stays.
        if not owns then redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
        return {'ok'}
    ",
    )
});

/// Sets KEYS[2..] to ARGV[2] where they still equal ARGV[1] (or are gone), adding ARGV[3..]
/// to the user set KEYS[1], which then never expires. Used to turn a hold into booked
/// markers. Returns how many.
static REPLACE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
        local done = 0
        for i = 2, #KEYS do
            local v = redis.call('GET', KEYS[i])
            if v == false or v == ARGV[1] then
                redis.call('SET', KEYS[i], ARGV[2])
                redis.call('SADD', KEYS[1], ARGV[1 + i])
                done = done + 1
            end
        end
        redis.call('PERSIST', KEYS[1])
        return done
    ",
    )
});

/// Deletes KEYS[2..] where they still equal ARGV[1]; removes ARGV[2..] from KEYS[1].
static RELEASE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
        local done = 0
        for i = 2, #KEYS do
            if redis.call('GET', KEYS[i]) == ARGV[1] then
                redis.call('DEL', KEYS[i])
                redis.call('SREM', KEYS[1], ARGV[i])
                done = done + 1
            end
        end
        return done
    ",
    )
});

pub enum SelectOutcome {
    Held,
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

    async fn hot(&self) -> Result<RedisConnection, CacheError> {
        Ok(self.pool.multiplexed().await?)
    }

    pub fn pool(&self) -> &RedisPool {
        &self.pool
    }

    pub fn seat_key(&self, trip: i64, seat: i32) -> String {
        self.keys.key(&format!("seat:{{{trip}}}:{seat}"))
    }

    fn seat_prefix(&self, trip: i64) -> String {
        self.keys.key(&format!("seat:{{{trip}}}:"))
    }

    pub fn user_key(&self, trip: i64, user: Uuid) -> String {
        self.keys.key(&format!("user:{{{trip}}}:{user}"))
    }

    pub fn hold_key(&self, hold: Uuid) -> String {
        self.keys.key(&format!("hold:{hold}"))
    }

    pub fn keys(&self) -> &Keys {
        &self.keys
    }

    /// One round trip: hold every seat or none.
    pub async fn select(
        &self,
        trip: i64,
        seats: &[i32],
        user: Uuid,
        hold: Uuid,
        ttl_ms: u64,
        max_seats: u32,
    ) -> Result<SelectOutcome, CacheError> {
        bounded(async {
            let mut conn = self.hot().await?;
            let mut inv = SELECT.key(self.user_key(trip, user));
            for &s in seats {
                inv.key(self.seat_key(trip, s));
            }
            inv.arg(hold_value(hold, user))
                .arg(ttl_ms)
                .arg(max_seats)
                .arg(format!(":{user}"))
                .arg(self.seat_prefix(trip));
            for &s in seats {
                inv.arg(s);
            }
            let reply: Vec<String> = inv.invoke_async(&mut conn).await?;
            Ok(match reply.first().map(String::as_str) {
                Some("ok") => SelectOutcome::Held,
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

    /// Replaces `from` (or a vanished key) with `to` on the seats; returns how many changed.
    pub async fn replace(
        &self,
        trip: i64,
        seats: &[i32],
        user: Uuid,
        from: &str,
        to: &str,
    ) -> Result<usize, CacheError> {
        bounded(async {
            let mut conn = self.pool.get().await?;
            let mut inv = REPLACE.key(self.user_key(trip, user));
            for &s in seats {
                inv.key(self.seat_key(trip, s));
            }
            inv.arg(from).arg(to);
            for &s in seats {
                inv.arg(s);
            }
            Ok(inv.invoke_async(&mut conn).await?)
        })
        .await
    }

    /// Deletes the seats' keys where they still hold `value`; returns how many.
    pub async fn release(
        &self,
        trip: i64,
        seats: &[i32],
        user: Uuid,
        value: &str,
    ) -> Result<usize, CacheError> {
        bounded(async {
            let mut conn = self.pool.get().await?;
            let mut inv = RELEASE.key(self.user_key(trip, user));
            for &s in seats {
                inv.key(self.seat_key(trip, s));
            }
            inv.arg(value);
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
