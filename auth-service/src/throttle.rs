//! Failed-login throttling (docs/architecture.md, "Login throttling and lockout", has the policy
//! and its reasons). A subject is an account (`user:<id>`; its e-mail and phone share it) or,
//! for an identifier with no account, the identifier itself, so throttling reveals nothing.
//!
//! - **Per (subject, source address)**: after `max_failures` failures within `window_secs`
//!   from one address, that address waits until the window ends (429 with Retry-After). A
//!   successful login from the address clears its count.
//! - **Per subject, from addresses it has not logged in from**: past `account_max_failures`
//!   failures in the window, each further attempt from such an address waits a back-off that
//!   doubles with each failure (1 s, 2 s, 4 s ... up to `window_secs`). So many addresses
//!   together still get only a trickle of guesses.
//! - **Known addresses**: an address the subject logged in from (password or OTP) within
//!   `trusted_days` is not held by the per-subject back-off, only by its own per-address
//!   count: strangers cannot lock the owner out from where they usually log in.
//!
//! Check and count are one step: [`LoginThrottle::reserve`] counts the attempt in one Lua
//! script (keys of one subject share the hash tag `{subject}`) before the password is
//! checked. A wrong password leaves its attempt counted; a right one clears the address's
//! count and remembers the address ([`LoginThrottle::succeeded`]); an attempt that could not
//! be decided is given back ([`LoginThrottle::release`]). So N parallel wrong passwords never
//! get more than `max_failures` tries from one address.

use crate::settings::LoginSettings;
use servicekit::ApiError;
use servicekit::cache::{CacheError, Keys, RedisPool};
use servicekit::error::Code;
use std::sync::LazyLock;

/// KEYS: 1 the address's count, 2 the subject's count, 3 the subject's back-off gate, 4 the
/// address's known mark. ARGV: 1 max per address, 2 window, 3 subject cap, 4 longest
/// back-off. Returns {1, counted for the subject (1/0)} when the attempt is counted, {0, wait}
/// when refused.
static RESERVE: LazyLock<redis::Script> = LazyLock::new(|| {
    redis::Script::new(
        r"
        local window = tonumber(ARGV[2])
        local n = tonumber(redis.call('GET', KEYS[1]) or '0')
        if n >= tonumber(ARGV[1]) then
            return {0, redis.call('TTL', KEYS[1])}
        end
        local known = redis.call('EXISTS', KEYS[4]) == 1
        local cap = tonumber(ARGV[3])
        if not known and tonumber(redis.call('GET', KEYS[2]) or '0') >= cap then
            local wait = redis.call('PTTL', KEYS[3])
            if wait > 0 then return {0, math.ceil(wait / 1000)} end
        end
        redis.call('INCR', KEYS[1])
        if redis.call('TTL', KEYS[1]) < 0 then redis.call('EXPIRE', KEYS[1], window) end
        if known then return {1, 0} end
        local all = redis.call('INCR', KEYS[2])
        if redis.call('TTL', KEYS[2]) < 0 then redis.call('EXPIRE', KEYS[2], window) end
        if all >= cap then
            local backoff = math.min(2 ^ math.min(all - cap, 30), tonumber(ARGV[4]))
            redis.call('SET', KEYS[3], '1', 'EX', math.max(1, math.floor(backoff)))
        end
        return {1, 1}
    ",
    )
});

/// Gives an attempt back (never below zero): KEYS[1] always, KEYS[2] when ARGV[1] is 1.
static RELEASE: LazyLock<redis::Script> = LazyLock::new(|| {
    redis::Script::new(
        r"
        if tonumber(redis.call('GET', KEYS[1]) or '0') > 0 then redis.call('DECR', KEYS[1]) end
        if ARGV[1] == '1' and tonumber(redis.call('GET', KEYS[2]) or '0') > 0 then
            redis.call('DECR', KEYS[2])
        end
    ",
    )
});

/// Why a login is not tried now.
#[derive(Debug, thiserror::Error)]
pub enum ThrottleError {
    /// Too many failures; logins for this identifier from this address resume in
    /// `retry_after` seconds.
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

/// An attempt [`LoginThrottle::reserve`] counted.
#[must_use]
pub struct Reservation {
    subject: String,
    source: String,
    /// Counted against the subject too (the address is not a known one).
    subject_counted: bool,
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

    fn key(&self, subject: &str, rest: &str) -> String {
        self.keys.key(&format!("login:{{{subject}}}:{rest}"))
    }

    fn source_key(&self, subject: &str, source: &str) -> String {
        self.key(subject, &format!("fail:{source}"))
    }

    fn known_key(&self, subject: &str, source: &str) -> String {
        self.key(subject, &format!("known:{source}"))
    }

    /// Counts an attempt for `subject` from `source`, or [`ThrottleError::CoolingDown`]
    /// with the wait.
    pub async fn reserve(&self, subject: &str, source: &str) -> Result<Reservation, ThrottleError> {
        let mut conn = self.pool.multiplexed().await.map_err(CacheError::from)?;
        let (counted, value): (i64, i64) = RESERVE
            .key(self.source_key(subject, source))
            .key(self.key(subject, "fail"))
            .key(self.key(subject, "gate"))
            .key(self.known_key(subject, source))
            .arg(self.settings.max_failures)
            .arg(self.settings.window_secs)
            .arg(self.settings.account_max_failures)
            .arg(self.settings.window_secs)
            .invoke_async(&mut conn)
            .await
            .map_err(CacheError::from)?;
        if counted == 0 {
            return Err(ThrottleError::CoolingDown {
                retry_after: u64::try_from(value)
                    .ok()
                    .filter(|t| *t > 0)
                    .unwrap_or(self.settings.window_secs),
            });
        }
        Ok(Reservation {
            subject: subject.to_owned(),
            source: source.to_owned(),
            subject_counted: value == 1,
        })
    }

    /// Gives back an attempt that decided nothing (the hasher was busy).
    pub async fn release(&self, reservation: Reservation) -> Result<(), CacheError> {
        let mut conn = self.pool.multiplexed().await?;
        RELEASE
            .key(self.source_key(&reservation.subject, &reservation.source))
            .key(self.key(&reservation.subject, "fail"))
            .arg(if reservation.subject_counted {
                "1"
            } else {
                "0"
            })
            .invoke_async::<()>(&mut conn)
            .await?;
        Ok(())
    }

    /// The right password: the attempt was no failure (given back), the address's count is
    /// cleared and the address remembered as one `subject` logs in from. The failures
    /// counted against the subject stay (they expire with their window), so a login of the
    /// owner does not hand strangers fresh attempts.
    pub async fn succeeded(&self, reservation: Reservation) -> Result<(), CacheError> {
        let (subject, source) = (reservation.subject.clone(), reservation.source.clone());
        self.release(reservation).await?;
        self.remember(&subject, &source).await
    }

    /// Remembers `source` as an address `subject` logs in from (also after an OTP login)
    /// and clears its failures there.
    pub async fn remember(&self, subject: &str, source: &str) -> Result<(), CacheError> {
        let mut conn = self.pool.multiplexed().await?;
        redis::pipe()
            .atomic()
            .del(self.source_key(subject, source))
            .ignore()
            .cmd("SET")
            .arg(self.known_key(subject, source))
            .arg("1")
            .arg("EX")
            .arg(self.settings.trusted_days.saturating_mul(86_400).max(1))
            .ignore()
            .query_async::<()>(&mut conn)
            .await?;
        Ok(())
    }
}

/// The throttle subject of an account.
pub fn account_subject(user: uuid::Uuid) -> String {
    format!("user:{user}")
}
