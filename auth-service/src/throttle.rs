//! Failed-login throttling per login identifier (known or not, so it reveals nothing):
//! after `max_failures` failures within `window_secs`, logins for it answer 429 until the
//! window ends. A successful login clears the count.

use crate::settings::LoginSettings;
use servicekit::ApiError;
use servicekit::cache::{CacheError, Keys, RedisPool};
use servicekit::error::Code;

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

    /// [`ThrottleError::CoolingDown`] while `login` is cooling down.
    pub async fn check(&self, login: &str) -> Result<(), ThrottleError> {
        let mut conn = self.pool.get().await.map_err(CacheError::from)?;
        let (failures, ttl): (Option<u32>, i64) = redis::pipe()
            .get(self.key(login))
            .ttl(self.key(login))
            .query_async(&mut conn)
            .await
            .map_err(CacheError::from)?;
        if failures.unwrap_or(0) >= self.settings.max_failures {
            return Err(ThrottleError::CoolingDown {
                retry_after: u64::try_from(ttl).unwrap_or(self.settings.window_secs),
            });
        }
        Ok(())
    }

    pub async fn record_failure(&self, login: &str) -> Result<(), CacheError> {
        let mut conn = self.pool.get().await?;
        redis::pipe()
            .atomic()
            .incr(self.key(login), 1)
            .ignore()
            .cmd("EXPIRE")
            .arg(self.key(login))
            .arg(self.settings.window_secs)
            .arg("NX")
            .ignore()
            .query_async::<()>(&mut conn)
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
