//! A sale's waiting room in Redis. Every key of a room carries the hash tag `{sale_id}`, so a
//! room lives on one Redis Cluster shard and its scripts stay valid there.
//!
//! - `queue:{S}:meta` — hash: `opened` (the pre-queue is closed), `seed` (of its shuffle),
//!   `assigned` (the shuffled numbers are written), `tail` (numbers given), `serving` (the
//!   serving counter: every number up to it has had its turn), `last_ms` and `credit` (the
//!   admission clock), `ended` (the queue drained after the opening: no pass needed),
//!   `minute`, `this_minute` and `last_minute` (admissions counted per minute).
//! - `queue:{S}:pre` — set of the users who joined before the opening (the pre-queue).
//! - `queue:{S}:num` / `queue:{S}:byn` — user → number and number → user.
//! - `queue:{S}:seen` — sorted set, user → when they last asked for their place (ms).
//! - `queue:{S}:joined` — user → when they joined (ms), for the time-waited histogram.
//! - `queue:{S}:adm` — user → when they first saw themselves admitted (ms): the pass runs
//!   from then.
//! - `queue:{S}:gone` — users who lost their place (stale when their turn came, or whose pass
//!   ran out); joining again puts them at the back.
//! - `queue:{S}:free` — users who joined a sale with no waiting room (answered admitted).
//! - `queue:active` — the ids of the sales whose waiting room is active (select and confirm
//!   need a pass for their trips). Not in a room's slot: only ever touched alone.

use redis::Script;
use servicekit::cache::{CacheError, Keys, RedisPool, within};
use std::sync::LazyLock;
use std::time::Duration;
use uuid::Uuid;

/// Every call answers within this or fails with [`CacheError::Timeout`].
pub const DEADLINE: Duration = Duration::from_secs(1);

/// Creates the room KEYS[1] if missing. ARGV: opening (ms), now (ms). Returns 1 if created.
static CREATE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
        if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
        redis.call('HSET', KEYS[1], 'opens_ms', ARGV[1], 'opened', 0, 'assigned', 0,
            'tail', 0, 'serving', 0, 'last_ms', ARGV[2], 'credit', 0, 'ended', 0)
        return 1
    ",
    )
});

/// Joins KEYS (meta, pre, num, byn, seen, joined, adm, gone). ARGV: user, now (ms), pass
/// lifetime (ms). Returns {'none'} (no room, or a room that ended: nobody waits, so the
/// caller is let in at once), {'pre'} or {'number', n}. A user who lost their place (gone,
/// or admitted and their pass ran out) joins again at the back.
static JOIN: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
        if redis.call('EXISTS', KEYS[1]) == 0 then return {'none'} end
        if redis.call('HGET', KEYS[1], 'ended') == '1' then return {'none'} end
        local user, now = ARGV[1], tonumber(ARGV[2])
        local n = redis.call('HGET', KEYS[3], user)
        local lost = redis.call('SISMEMBER', KEYS[8], user) == 1
        if n and not lost then
            local a = redis.call('HGET', KEYS[7], user)
            if a and now >= tonumber(a) + tonumber(ARGV[3]) then lost = true end
        end
        redis.call('ZADD', KEYS[5], now, user)
        if n and not lost then return {'number', n} end
        if lost then
            redis.call('SREM', KEYS[8], user)
            redis.call('HDEL', KEYS[7], user)
            redis.call('HSET', KEYS[6], user, now)
        else
            if redis.call('SISMEMBER', KEYS[2], user) == 1 then return {'pre'} end
            redis.call('HSET', KEYS[6], user, now)
            if redis.call('HGET', KEYS[1], 'opened') ~= '1' then
                redis.call('SADD', KEYS[2], user)
                return {'pre'}
            end
        end
        local t = redis.call('HINCRBY', KEYS[1], 'tail', 1)
        redis.call('HSET', KEYS[3], user, t)
        redis.call('HSET', KEYS[4], t, user)
        return {'number', tostring(t)}
    ",
    )
});

/// Closes the pre-queue of KEYS (meta, pre): later joiners are numbered after it. ARGV: the
/// shuffle's seed, used only by the first close. Returns {size of the pre-queue, seed}.
static CLOSE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
        if redis.call('HGET', KEYS[1], 'opened') ~= '1' then
            local size = redis.call('SCARD', KEYS[2])
            redis.call('HSET', KEYS[1], 'opened', 1, 'seed', ARGV[1], 'tail', size,
                'pre_size', size)
        end
        return redis.call('HMGET', KEYS[1], 'pre_size', 'seed')
    ",
    )
});

/// Moves the serving counter of KEYS (meta, byn, seen, gone) by the admissions the clock
/// allows since the last move, skipping (and marking gone) users who stopped asking. ARGV:
/// now (ms), admissions per minute, stale-before (ms), most numbers looked at. Returns
/// {admitted, lost, serving, tail}.
static ADVANCE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
        local m = redis.call('HMGET', KEYS[1], 'assigned', 'serving', 'tail', 'last_ms', 'credit')
        if m[1] ~= '1' then return {0, 0, 0, 0} end
        local serving, tail = tonumber(m[2]), tonumber(m[3])
        local now = tonumber(ARGV[1])
        local credit = tonumber(m[5]) + math.max(0, now - tonumber(m[4])) * tonumber(ARGV[2])
        local admit = math.floor(credit / 60000)
        credit = credit - admit * 60000
        local admitted, lost, steps = 0, 0, 0
        local stale, most = tonumber(ARGV[3]), tonumber(ARGV[4])
        while admitted < admit and serving < tail and steps < most do
            serving = serving + 1
            steps = steps + 1
            local user = redis.call('HGET', KEYS[2], serving)
            if user then
                local seen = redis.call('ZSCORE', KEYS[3], user)
                if seen and tonumber(seen) >= stale
                    and redis.call('SISMEMBER', KEYS[4], user) == 0 then
                    admitted = admitted + 1
                else
                    redis.call('SADD', KEYS[4], user)
                    lost = lost + 1
                end
            end
        end
        -- An empty queue banks nothing: a later crowd is let in at the rate, not at once.
        if serving >= tail then credit = 0 end
        redis.call('HSET', KEYS[1], 'serving', serving, 'last_ms', now, 'credit', credit)
        -- Admissions counted per minute (this one and the last), for admitted_per_minute.
        local minute = math.floor(now / 60000)
        local w = redis.call('HMGET', KEYS[1], 'minute', 'this_minute')
        local current = tonumber(w[1] or '-1')
        if current ~= minute then
            local last = 0
            if current == minute - 1 then last = tonumber(w[2] or '0') end
            redis.call('HSET', KEYS[1], 'minute', minute, 'this_minute', 0, 'last_minute', last)
        end
        redis.call('HINCRBY', KEYS[1], 'this_minute', admitted)
        return {admitted, lost, serving, tail}
    ",
    )
});

/// The place of ARGV[1] in KEYS (meta, num, seen, adm, gone, pre, joined), asked at ARGV[2]
/// (ms), passes lasting ARGV[3] ms. Asking counts as being there (the user's heartbeat).
/// Returns {'none'}, {'gone', n}, {'pre'}, {'waiting', n, serving},
/// {'admitted', n, admitted_ms, waited_ms (or -1 when seen before)}.
static PLACE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
        local user, now = ARGV[1], tonumber(ARGV[2])
        local n = redis.call('HGET', KEYS[2], user)
        if not n then
            if redis.call('SISMEMBER', KEYS[6], user) == 1 then
                redis.call('ZADD', KEYS[3], now, user)
                return {'pre'}
            end
            return {'none'}
        end
        if redis.call('SISMEMBER', KEYS[5], user) == 1 then return {'gone', n} end
        local serving = tonumber(redis.call('HGET', KEYS[1], 'serving') or '0')
        if tonumber(n) > serving then
            redis.call('ZADD', KEYS[3], now, user)
            return {'waiting', n, tostring(serving)}
        end
        local a = redis.call('HGET', KEYS[4], user)
        local waited = -1
        if not a then
            a = tostring(now)
            redis.call('HSET', KEYS[4], user, a)
            waited = now - tonumber(redis.call('HGET', KEYS[7], user) or now)
        end
        if now >= tonumber(a) + tonumber(ARGV[3]) then
            redis.call('SADD', KEYS[5], user)
            return {'gone', n}
        end
        redis.call('ZADD', KEYS[3], now, user)
        return {'admitted', n, a, tostring(waited)}
    ",
    )
});

/// What a room says about itself.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RoomStatus {
    pub opened: bool,
    pub assigned: bool,
    pub ended: bool,
    pub serving: i64,
    pub tail: i64,
    pub pre_queue: i64,
    /// Admissions in the last minute (a sliding estimate over two fixed minutes).
    pub admitted_per_minute: i64,
}

impl RoomStatus {
    /// People with a place not yet reached by the serving counter.
    pub fn waiting(&self) -> i64 {
        if self.assigned {
            (self.tail - self.serving).max(0)
        } else {
            self.pre_queue.max(self.tail)
        }
    }
}

/// A user's place as the room keeps it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Spot {
    /// Never joined.
    None,
    /// In the pre-queue: no number until the shuffle at the opening.
    PreQueue,
    Waiting {
        number: i64,
        serving: i64,
    },
    /// Their turn came: the pass runs from `since_ms`; `waited_ms` is set the first time.
    Admitted {
        number: i64,
        since_ms: i64,
        waited_ms: Option<i64>,
    },
    /// Lost for not asking, or the pass ran out: joining again puts them at the back.
    Gone {
        number: i64,
    },
}

/// What joining did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Joined {
    /// The sale has no room (none was made, or it ended): the caller is let in at once.
    NoRoom,
    /// In the pre-queue: numbered at the opening.
    PreQueue,
    Number(i64),
}

/// The result of one move of the serving counter.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Advance {
    pub admitted: i64,
    pub lost: i64,
    pub serving: i64,
    pub tail: i64,
}

/// Admissions in the minute up to `now_ms`, from the counts of the fixed minute `minute`
/// (`this`) and the one before it (`last`): the last one weighted by how much of it the
/// sliding minute still covers.
fn per_minute(minute: i64, this: i64, last: i64, now_ms: i64) -> i64 {
    let now_minute = now_ms.div_euclid(60_000);
    let into = now_ms.rem_euclid(60_000);
    match now_minute - minute {
        0 => this + last * (60_000 - into) / 60_000,
        1 => this * (60_000 - into) / 60_000,
        _ => 0,
    }
}

#[derive(Clone)]
pub struct Rooms {
    pool: RedisPool,
    keys: Keys,
}

fn number(s: Option<&String>) -> i64 {
    s.and_then(|s| s.parse().ok()).unwrap_or(0)
}

impl Rooms {
    pub fn new(pool: RedisPool, keys: Keys) -> Self {
        Self { pool, keys }
    }

    fn key(&self, sale: &str, part: &str) -> String {
        self.keys.key(&format!("queue:{{{sale}}}:{part}"))
    }

    fn active_key(&self) -> String {
        self.keys.key("queue:active")
    }

    /// Opens the room of `sale` (if it has none) and marks it active. Returns whether it was
    /// made now.
    pub async fn create(&self, sale: &str, opens_ms: i64, now_ms: i64) -> Result<bool, CacheError> {
        within(DEADLINE, async {
            let mut conn = self.pool.get().await?;
            let made: i64 = CREATE
                .key(self.key(sale, "meta"))
                .arg(opens_ms)
                .arg(now_ms)
                .invoke_async(&mut conn)
                .await?;
            let () = redis::cmd("SADD")
                .arg(self.active_key())
                .arg(sale)
                .query_async(&mut conn)
                .await?;
            Ok(made == 1)
        })
        .await
    }

    /// Whether `sale` has a room (active or ended).
    pub async fn exists(&self, sale: &str) -> Result<bool, CacheError> {
        within(DEADLINE, async {
            let mut conn = self.pool.multiplexed().await?;
            Ok(redis::cmd("EXISTS")
                .arg(self.key(sale, "meta"))
                .query_async::<i64>(&mut conn)
                .await?
                == 1)
        })
        .await
    }

    /// The ids of the sales whose room is active.
    pub async fn active(&self) -> Result<Vec<String>, CacheError> {
        within(DEADLINE, async {
            let mut conn = self.pool.multiplexed().await?;
            Ok(redis::cmd("SMEMBERS")
                .arg(self.active_key())
                .query_async(&mut conn)
                .await?)
        })
        .await
    }

    /// Ends the room of `sale`: its trips need no pass any more.
    pub async fn end(&self, sale: &str) -> Result<(), CacheError> {
        within(DEADLINE, async {
            let mut conn = self.pool.get().await?;
            let () = redis::cmd("HSET")
                .arg(self.key(sale, "meta"))
                .arg("ended")
                .arg(1)
                .query_async(&mut conn)
                .await?;
            let () = redis::cmd("SREM")
                .arg(self.active_key())
                .arg(sale)
                .query_async(&mut conn)
                .await?;
            Ok(())
        })
        .await
    }

    pub async fn status(&self, sale: &str) -> Result<Option<RoomStatus>, CacheError> {
        within(DEADLINE, async {
            let mut conn = self.pool.multiplexed().await?;
            let (meta, pre): (Vec<Option<String>>, i64) = redis::pipe()
                .cmd("HMGET")
                .arg(self.key(sale, "meta"))
                .arg(&[
                    "opened",
                    "assigned",
                    "ended",
                    "serving",
                    "tail",
                    "minute",
                    "this_minute",
                    "last_minute",
                ])
                .cmd("SCARD")
                .arg(self.key(sale, "pre"))
                .query_async(&mut conn)
                .await?;
            if meta.iter().all(Option::is_none) {
                return Ok(None);
            }
            let flag = |i: usize| meta[i].as_deref() == Some("1");
            Ok(Some(RoomStatus {
                opened: flag(0),
                assigned: flag(1),
                ended: flag(2),
                serving: number(meta[3].as_ref()),
                tail: number(meta[4].as_ref()),
                pre_queue: pre,
                admitted_per_minute: per_minute(
                    number(meta[5].as_ref()),
                    number(meta[6].as_ref()),
                    number(meta[7].as_ref()),
                    chrono::Utc::now().timestamp_millis(),
                ),
            }))
        })
        .await
    }

    /// Joins `user` to the room of `sale`.
    pub async fn join(
        &self,
        sale: &str,
        user: Uuid,
        now_ms: i64,
        pass_ms: i64,
    ) -> Result<Joined, CacheError> {
        let parts = ["meta", "pre", "num", "byn", "seen", "joined", "adm", "gone"];
        let reply = self
            .for_user(&JOIN, sale, &parts, user, now_ms, pass_ms)
            .await?;
        Ok(match reply.first().map(String::as_str) {
            Some("none") | None => Joined::NoRoom,
            Some("pre") => Joined::PreQueue,
            Some(_) => Joined::Number(number(reply.get(1))),
        })
    }

    /// Runs `script` with the room's keys `parts` and ARGV user, now (ms), pass lifetime (ms).
    async fn for_user(
        &self,
        script: &Script,
        sale: &str,
        parts: &[&str],
        user: Uuid,
        now_ms: i64,
        pass_ms: i64,
    ) -> Result<Vec<String>, CacheError> {
        within(DEADLINE, async {
            let mut conn = self.pool.get().await?;
            let mut inv = script.prepare_invoke();
            for part in parts {
                inv.key(self.key(sale, part));
            }
            Ok(inv
                .arg(user.to_string())
                .arg(now_ms)
                .arg(pass_ms)
                .invoke_async(&mut conn)
                .await?)
        })
        .await
    }

    pub async fn place(
        &self,
        sale: &str,
        user: Uuid,
        now_ms: i64,
        pass_ms: i64,
    ) -> Result<Spot, CacheError> {
        let parts = ["meta", "num", "seen", "adm", "gone", "pre", "joined"];
        let reply = self
            .for_user(&PLACE, sale, &parts, user, now_ms, pass_ms)
            .await?;
        let at = |i: usize| number(reply.get(i));
        Ok(match reply.first().map(String::as_str) {
            Some("pre") => Spot::PreQueue,
            Some("waiting") => Spot::Waiting {
                number: at(1),
                serving: at(2),
            },
            Some("admitted") => Spot::Admitted {
                number: at(1),
                since_ms: at(2),
                waited_ms: Some(at(3)).filter(|&w| w >= 0),
            },
            Some("gone") => Spot::Gone { number: at(1) },
            _ => Spot::None,
        })
    }

    /// Closes the pre-queue (the first call wins the seed). Returns its size and the seed.
    pub async fn close(&self, sale: &str, seed: u64) -> Result<(i64, u64), CacheError> {
        within(DEADLINE, async {
            let mut conn = self.pool.get().await?;
            let reply: Vec<Option<String>> = CLOSE
                .key(self.key(sale, "meta"))
                .key(self.key(sale, "pre"))
                .arg(seed.to_string())
                .invoke_async(&mut conn)
                .await?;
            let size = number(reply.first().and_then(Option::as_ref));
            let seed = reply
                .get(1)
                .and_then(Option::as_ref)
                .and_then(|s| s.parse().ok())
                .unwrap_or(seed);
            Ok((size, seed))
        })
        .await
    }

    /// The pre-queue's members, sorted (so every replica shuffles the same list).
    pub async fn pre_queue(&self, sale: &str) -> Result<Vec<String>, CacheError> {
        let mut members: Vec<String> = within(Duration::from_secs(10), async {
            let mut conn = self.pool.get().await?;
            Ok(redis::cmd("SMEMBERS")
                .arg(self.key(sale, "pre"))
                .query_async(&mut conn)
                .await?)
        })
        .await?;
        members.sort_unstable();
        Ok(members)
    }

    /// Writes numbers 1.. to `order` (never overwriting one already written) and marks the
    /// room assigned, starting the admission clock at `now_ms` (nothing banked before).
    pub async fn assign(
        &self,
        sale: &str,
        order: &[String],
        now_ms: i64,
    ) -> Result<(), CacheError> {
        let (num, byn) = (self.key(sale, "num"), self.key(sale, "byn"));
        within(Duration::from_secs(30), async {
            let mut conn = self.pool.get().await?;
            for (chunk_index, chunk) in order.chunks(1_000).enumerate() {
                let mut pipe = redis::pipe();
                for (i, user) in chunk.iter().enumerate() {
                    let n = chunk_index * 1_000 + i + 1;
                    pipe.cmd("HSETNX").arg(&num).arg(user).arg(n).ignore();
                    pipe.cmd("HSETNX").arg(&byn).arg(n).arg(user).ignore();
                }
                let () = pipe.query_async(&mut conn).await?;
            }
            let () = redis::cmd("HSET")
                .arg(self.key(sale, "meta"))
                .arg(&["assigned", "1", "credit", "0", "last_ms"])
                .arg(now_ms)
                .query_async(&mut conn)
                .await?;
            Ok(())
        })
        .await
    }

    pub async fn advance(
        &self,
        sale: &str,
        now_ms: i64,
        per_minute: u64,
        stale_before_ms: i64,
    ) -> Result<Advance, CacheError> {
        within(DEADLINE, async {
            let mut conn = self.pool.get().await?;
            let reply: Vec<i64> = ADVANCE
                .key(self.key(sale, "meta"))
                .key(self.key(sale, "byn"))
                .key(self.key(sale, "seen"))
                .key(self.key(sale, "gone"))
                .arg(now_ms)
                .arg(per_minute)
                .arg(stale_before_ms)
                .arg(10_000)
                .invoke_async(&mut conn)
                .await?;
            let at = |i: usize| reply.get(i).copied().unwrap_or(0);
            Ok(Advance {
                admitted: at(0),
                lost: at(1),
                serving: at(2),
                tail: at(3),
            })
        })
        .await
    }

    /// Records that `user` joined `sale`, which has no room (kept a day).
    pub async fn join_free(&self, sale: &str, user: Uuid) -> Result<(), CacheError> {
        within(DEADLINE, async {
            let mut conn = self.pool.get().await?;
            let key = self.key(sale, "free");
            let () = redis::pipe()
                .cmd("SADD")
                .arg(&key)
                .arg(user.to_string())
                .ignore()
                .cmd("EXPIRE")
                .arg(&key)
                .arg(86_400)
                .ignore()
                .query_async(&mut conn)
                .await?;
            Ok(())
        })
        .await
    }

    pub async fn joined_free(&self, sale: &str, user: Uuid) -> Result<bool, CacheError> {
        within(DEADLINE, async {
            let mut conn = self.pool.multiplexed().await?;
            Ok(redis::cmd("SISMEMBER")
                .arg(self.key(sale, "free"))
                .arg(user.to_string())
                .query_async::<i64>(&mut conn)
                .await?
                == 1)
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::per_minute;

    #[test]
    fn admissions_per_minute_slide_over_two_fixed_minutes() {
        // Half-way into minute 10: all of minute 10's count, half of minute 9's.
        assert_eq!(per_minute(10, 30, 60, 10 * 60_000 + 30_000), 60);
        // A quarter into minute 11 with minute 10 the last counted: three quarters of it.
        assert_eq!(per_minute(10, 40, 60, 11 * 60_000 + 15_000), 30);
        // Nothing counted for two minutes: nothing.
        assert_eq!(per_minute(10, 40, 60, 12 * 60_000), 0);
    }
}
