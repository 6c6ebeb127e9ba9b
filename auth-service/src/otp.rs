//! One-time codes in Redis: 6 digits from a CSPRNG, stored as an HMAC (never the code) for
//! `ttl_secs`, single use, compared in constant time. Wrong codes are counted per issued
//! code: after `max_attempts` wrong codes the code is destroyed and further tries answer 429
//! until a new code is issued (which starts a fresh count) or the counter expires, so a
//! stranger's guesses cost the owner one code, not the way in. Requests are limited per
//! (phone, source address) per minute and per hour, and per phone from all addresses by a
//! higher hourly cap (counted only for requests the per-address limits let through), for
//! any phone, known or not. The policy: docs/architecture.md, "Login throttling and lockout".
//!
//! A phone's keys share the hash tag `{phone}`, so its scripts and pipelines stay on one
//! Redis Cluster slot.

use crate::settings::{OtpSettings, load_secret};
use hmac::{Hmac, Mac};
use rand::Rng;
use redis::Script;
use secrecy::{ExposeSecret, SecretString};
use servicekit::ApiError;
use servicekit::cache::{CacheError, Keys, RedisPool};
use servicekit::error::Code;
use sha2::Sha256;
use std::sync::LazyLock;
use subtle::ConstantTimeEq;

pub struct OtpStore {
    pool: RedisPool,
    keys: Keys,
    secret: SecretString,
    settings: OtpSettings,
}

/// Why a code cannot be requested now.
#[derive(Debug, thiserror::Error)]
pub enum OtpError {
    /// The phone asked too often; it may ask again in `retry_after` seconds.
    #[error("too many code requests for this phone; wait before asking again")]
    RateLimited { retry_after: u64 },
    #[error(transparent)]
    Cache(#[from] CacheError),
}

impl From<OtpError> for ApiError {
    fn from(e: OtpError) -> Self {
        match e {
            OtpError::RateLimited { retry_after } => {
                ApiError::new(Code::RateLimited, e.to_string()).with_retry_after(retry_after)
            }
            OtpError::Cache(e) => e.into(),
        }
    }
}

/// What a verification found.
pub enum Verdict {
    Valid,
    Invalid,
    Locked,
}

/// Counts a request: KEYS 1 and 2 the address's minute and hour counts (counted even when
/// refused), 3 the phone's hour count from all addresses (counted only when admitted). ARGV:
/// per minute, per hour, per phone per hour. Returns {1, 0} admitted or {0, wait}.
static REQUEST: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
        local m = redis.call('INCR', KEYS[1])
        if redis.call('TTL', KEYS[1]) < 0 then redis.call('EXPIRE', KEYS[1], 60) end
        local h = redis.call('INCR', KEYS[2])
        if redis.call('TTL', KEYS[2]) < 0 then redis.call('EXPIRE', KEYS[2], 3600) end
        if h > tonumber(ARGV[2]) then return {0, redis.call('TTL', KEYS[2])} end
        if m > tonumber(ARGV[1]) then return {0, redis.call('TTL', KEYS[1])} end
        if tonumber(redis.call('GET', KEYS[3]) or '0') >= tonumber(ARGV[3]) then
            return {0, redis.call('TTL', KEYS[3])}
        end
        redis.call('INCR', KEYS[3])
        if redis.call('TTL', KEYS[3]) < 0 then redis.call('EXPIRE', KEYS[3], 3600) end
        return {1, 0}
    ",
    )
});

/// Counts this attempt; past the limit destroys the code. Returns {attempts, stored hmac}.
static ATTEMPT: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
        local n = redis.call('INCR', KEYS[2])
        if n == 1 then redis.call('EXPIRE', KEYS[2], ARGV[1]) end
        if n > tonumber(ARGV[2]) then
            redis.call('DEL', KEYS[1])
            return {n, false}
        end
        return {n, redis.call('GET', KEYS[1])}
    ",
    )
});

/// Consumes the code if it is still the one we matched; clears the attempt counter.
static CONSUME: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
        if redis.call('GET', KEYS[1]) == ARGV[1] then
            redis.call('DEL', KEYS[1], KEYS[2])
            return 1
        end
        return 0
    ",
    )
});

impl OtpStore {
    pub fn new(pool: RedisPool, keys: Keys, settings: OtpSettings) -> anyhow::Result<Self> {
        let configured = load_secret(
            settings.secret.as_ref(),
            settings.secret_path.as_deref(),
            "OTP secret",
        )?;
        let secret = match configured {
            Some(s) => s,
            None => {
                tracing::warn!("no OTP secret configured: using a random per-process key");
                let mut bytes = [0u8; 32];
                rand::rng().fill(&mut bytes);
                hex::encode(bytes).into()
            }
        };
        Ok(Self {
            pool,
            keys,
            secret,
            settings,
        })
    }

    pub fn ttl_secs(&self) -> u64 {
        self.settings.ttl_secs
    }

    fn mac(&self, phone: &str, code: &str) -> String {
        // HMAC accepts keys of any length.
        let mut mac = match Hmac::<Sha256>::new_from_slice(self.secret.expose_secret().as_bytes()) {
            Ok(m) => m,
            Err(_) => return String::new(),
        };
        mac.update(phone.as_bytes());
        mac.update(b":");
        mac.update(code.as_bytes());
        hex::encode(mac.finalize().into_bytes())
    }

    /// Applies the request limits of `phone` asked from `source`; [`OtpError::RateLimited`]
    /// with the wait when exceeded.
    pub async fn check_request_limit(&self, phone: &str, source: &str) -> Result<(), OtpError> {
        let mut conn = self.pool.multiplexed().await.map_err(CacheError::from)?;
        let (admitted, wait): (i64, i64) = REQUEST
            .key(self.keys.key(&format!("otp:{{{phone}}}:req:m:{source}")))
            .key(self.keys.key(&format!("otp:{{{phone}}}:req:h:{source}")))
            .key(self.keys.key(&format!("otp:{{{phone}}}:req:h")))
            .arg(self.settings.per_minute)
            .arg(self.settings.per_hour)
            .arg(self.settings.per_phone_per_hour)
            .invoke_async(&mut conn)
            .await
            .map_err(CacheError::from)?;
        if admitted == 1 {
            Ok(())
        } else {
            Err(limited(wait))
        }
    }

    /// Makes and stores a new code for `phone`, replacing any earlier one and its count of
    /// wrong codes.
    pub async fn issue(&self, phone: &str) -> Result<String, CacheError> {
        let code = format!("{:06}", rand::rng().random_range(0..1_000_000u32));
        let mut conn = self.pool.multiplexed().await?;
        // A new code starts a fresh count of wrong codes.
        redis::pipe()
            .atomic()
            .cmd("SET")
            .arg(self.keys.key(&format!("otp:{{{phone}}}:code")))
            .arg(self.mac(phone, &code))
            .arg("EX")
            .arg(self.settings.ttl_secs)
            .ignore()
            .del(self.keys.key(&format!("otp:{{{phone}}}:tries")))
            .ignore()
            .query_async::<()>(&mut conn)
            .await?;
        Ok(code)
    }

    /// Withdraws the code of `phone` (when it could not be delivered).
    pub async fn withdraw(&self, phone: &str) -> Result<(), CacheError> {
        let mut conn = self.pool.multiplexed().await?;
        redis::cmd("DEL")
            .arg(self.keys.key(&format!("otp:{{{phone}}}:code")))
            .query_async::<()>(&mut conn)
            .await?;
        Ok(())
    }

    pub async fn verify(&self, phone: &str, code: &str) -> Result<Verdict, CacheError> {
        let code_key = self.keys.key(&format!("otp:{{{phone}}}:code"));
        let tries_key = self.keys.key(&format!("otp:{{{phone}}}:tries"));
        let mut conn = self.pool.multiplexed().await?;
        let (tries, stored): (u32, Option<String>) = ATTEMPT
            .key(&code_key)
            .key(&tries_key)
            .arg(self.settings.ttl_secs)
            .arg(self.settings.max_attempts)
            .invoke_async(&mut conn)
            .await?;
        if tries > self.settings.max_attempts {
            return Ok(Verdict::Locked);
        }
        let Some(stored) = stored else {
            return Ok(Verdict::Invalid);
        };
        let given = self.mac(phone, code);
        if !bool::from(given.as_bytes().ct_eq(stored.as_bytes())) {
            return Ok(Verdict::Invalid);
        }
        let consumed: i32 = CONSUME
            .key(&code_key)
            .key(&tries_key)
            .arg(&stored)
            .invoke_async(&mut conn)
            .await?;
        Ok(if consumed == 1 {
            Verdict::Valid
        } else {
            Verdict::Invalid
        })
    }
}

fn limited(ttl: i64) -> OtpError {
    OtpError::RateLimited {
        retry_after: u64::try_from(ttl).unwrap_or(60),
    }
}
