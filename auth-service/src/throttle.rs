//! Failed-login throttling per login identifier (known or not, so it reveals nothing):
//! after `max_failures` failures within `window_secs`, logins for it answer 429 until the
//! window ends. A successful login clears the count.
//!
//! Check and count are one step: [`LoginThrottle::reserve`] counts the attempt in a Lua
//! script before the password is checked, and refuses once `max_failures` attempts are
//! counted. A wrong password leaves its attempt counted; a right one clears the count
//! ([`LoginThrottle::clear`]); an attempt that could not be decided (the hasher was busy) is
//! given back ([`LoginThrottle::release`]). So N parallel wrong passwords never get more than
//! `max_failures` tries.

use crate::settings::LoginSettings;
use servicekit::ApiError;
use servicekit::cache::{CacheError, Keys, RedisPool};
use servicekit::error::Code;
use std::sync::LazyLock;

/// Counts an attempt unless ARGV[1] are counted already. Returns {1, ttl} when counted,
/// {0, ttl} when refused.
static RESERVE: LazyLock<redis::Script> = LazyLock::new(|| {
    redis::Script::new(
        r"
        local n = tonumber(redis.call('GET', KEYS[1]) or '0')
        if n >= tonumber(ARGV[1]) then
            return {0, redis.call('TTL', KEYS[1])}
        end
        redis.call('INCR', KEYS[1])
        if redis.call('TTL', KEYS[1]) < 0 then redis.call('EXPIRE', KEYS[1], ARGV[2]) end
        return {1, redis.call('TTL', KEYS[1])}
    ",
    )
});

/// Gives an attempt back (never below zero).
static RELEASE: LazyLock<redis::Script> = LazyLock::new(|| {
    redis::Script::new(
        r"
        if tonumber(redis.call('GET', KEYS[1]) or '0') > 0 then redis.call('DECR', KEYS[1]) end
    ",
    )
});

/// Why a login is not tried now.
#[derive(Debug, thiserror::Error)]
pub enum ThrottleError {
    /// Too many failures; logins for this identifier resume in `retry_after` seconds.
    #[error("too many failed logins; wait before trying again")]
    CoolingDown { retry_after: u64 },
    #[error(transparent)]
    Cache(#[from] CacheError),
}

impl From<ThrottleError> for ApiError {
    fn from(e: ThrottleError) -> Self {
        match e {
            ThrottleError::CoolingDown { retry_after } => {
                ApiError::new(Code::TooManyAttempts, e.to_string()).with_retry_after(retry_after)
            }
            ThrottleError::Cache(e) => e.into(),
        }
    }
}

pub struct LoginThrottle {
    pool: RedisPool,
    keys: Keys,
    settings: LoginSettings,
}

impl LoginThrottle {
    pub fn new(pool: RedisPool, keys: Keys, settings: LoginSettings) -> Self {
        Self {
            pool,
            keys,
            settings,
        }
    }

    fn key(&self, login: &str) -> String {
        self.keys.key(&format!("login:fail:{login}"))
    }

    /// Counts an attempt for `login`, or [`ThrottleError::CoolingDown`] when
    /// `max_failures` attempts are already counted in the window.
    pub async fn reserve(&self, login: &str) -> Result<(), ThrottleError> {
        let mut conn = self.pool.get().await.map_err(CacheError::from)?;
        let (counted, ttl): (i64, i64) = RESERVE
            .key(self.key(login))
            .arg(self.settings.max_failures)
            .arg(self.settings.window_secs)
            .invoke_async(&mut conn)
            .await
            .map_err(CacheError::from)?;
        if counted == 0 {
            return Err(ThrottleError::CoolingDown {
                retry_after: u64::try_from(ttl)
                    .ok()
                    .filter(|t| *t > 0)
                    .unwrap_or(self.settings.window_secs),
            });
        }
        Ok(())
    }

    /// Gives back an attempt [`reserve`](Self::reserve) counted but that decided nothing.
    pub async fn release(&self, login: &str) -> Result<(), CacheError> {
        let mut conn = self.pool.get().await?;
        RELEASE
            .key(self.key(login))
            .invoke_async::<()>(&mut conn)
            .await?;
        Ok(())
    }

    pub async fn clear(&self, login: &str) -> Result<(), CacheError> {
        let mut conn = self.pool.get().await?;
        redis::cmd("DEL")
            .arg(self.key(login))
            .query_async::<()>(&mut conn)
            .await?;
        Ok(())
    }
}
