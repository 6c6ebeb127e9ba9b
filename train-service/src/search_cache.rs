//! Search results cached in Redis for a few seconds, and invalidated when availability (or
//! the trips) of a route and date change, so that a confirmation shows in the next search.
//!
//! Each route and date has two keys sharing a hash tag (one slot on Redis Cluster): the
//! cached body and a generation counter. A lookup reads both in one `MGET`; a fill writes the
//! body only if the generation is still the one read before the database query (a Lua
//! compare-and-set), so a search racing with an invalidation can never store stale results.
//! Invalidation bumps the generation and deletes the body. Every command goes over the
//! pool's multiplexed connection (the worker's own: no checkout and its `PING`). Redis being
//! down only costs the cache: searches go to PostgreSQL.

use crate::catalogue::Route;
use redis::Script;
use servicekit::cache::{Keys, RedisPool};
use std::sync::LazyLock;
use std::time::Duration;

const GENERATION_TTL_SECS: u64 = 24 * 60 * 60;

static FILL: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        "local g = redis.call('GET', KEYS[2]) or '' \
         if g == ARGV[1] then redis.call('SET', KEYS[1], ARGV[2], 'EX', ARGV[3]) return 1 end \
         return 0",
    )
});

#[derive(Clone)]
pub struct SearchCache {
    pool: RedisPool,
    keys: Keys,
    ttl_secs: u64,
    timeout: Duration,
}

/// What a lookup found.
pub enum Lookup {
    Hit(Vec<u8>),
    /// Not cached; fill with this generation after querying.
    Miss(String),
    /// Redis did not answer: query and do not fill.
    Unavailable,
}

impl SearchCache {
    pub fn new(pool: RedisPool, keys: Keys, ttl_secs: u64, timeout: Duration) -> Self {
        Self {
            pool,
            keys,
            ttl_secs,
            timeout,
        }
    }

    fn keys_of(&self, route: &Route) -> (String, String) {
        let tag = format!("search:{{{}:{}:{}}}", route.from, route.to, route.date);
        (
            self.keys.key(&format!("{tag}:trips")),
            self.keys.key(&format!("{tag}:gen")),
        )
    }

    async fn bounded<T>(&self, work: impl Future<Output = anyhow::Result<T>>) -> anyhow::Result<T> {
        tokio::time::timeout(self.timeout, work)
            .await
            .map_err(|_| anyhow::anyhow!("redis timed out"))?
    }

    pub async fn lookup(&self, route: &Route) -> Lookup {
        let (body, generation) = self.keys_of(route);
        let found = self
            .bounded(async {
                let mut conn = self.pool.multiplexed().await?;
                let (cached, generation): (Option<Vec<u8>>, Option<String>) = redis::cmd("MGET")
                    .arg(&body)
                    .arg(&generation)
                    .query_async(&mut conn)
                    .await?;
                Ok((cached, generation))
            })
            .await;
        match found {
            Ok((Some(cached), _)) => Lookup::Hit(cached),
            Ok((None, generation)) => Lookup::Miss(generation.unwrap_or_default()),
            Err(error) => {
                tracing::warn!(%error, "search cache unavailable");
                Lookup::Unavailable
            }
        }
    }

    /// Stores `json` unless the route was invalidated since the lookup that gave `generation`.
    pub async fn fill(&self, route: &Route, generation: &str, json: &[u8]) {
        let (body, gen_key) = self.keys_of(route);
        let stored = self
            .bounded(async {
                let mut conn = self.pool.multiplexed().await?;
                let n: i64 = FILL
                    .key(&body)
                    .key(&gen_key)
                    .arg(generation)
                    .arg(json)
                    .arg(self.ttl_secs.max(1))
                    .invoke_async(&mut conn)
                    .await?;
                Ok(n)
            })
            .await;
        if let Err(error) = stored {
            tracing::warn!(%error, "could not fill the search cache");
        }
    }

    /// Drops the cached results of `route` and fences out fills of searches in flight.
    pub async fn invalidate(&self, route: &Route) -> anyhow::Result<()> {
        let (body, generation) = self.keys_of(route);
        self.bounded(async {
            let mut conn = self.pool.multiplexed().await?;
            redis::pipe()
                .atomic()
                .incr(&generation, 1)
                .ignore()
                .expire(&generation, GENERATION_TTL_SECS as i64)
                .ignore()
                .del(&body)
                .ignore()
                .query_async::<()>(&mut conn)
                .await?;
            Ok(())
        })
        .await
    }
}
