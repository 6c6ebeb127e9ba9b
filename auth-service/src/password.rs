//! Password hashing with argon2id (OWASP minimum: m=19 MiB, t=2, p=1) on the blocking pool,
//! at most `max_concurrent` at once so a login storm cannot starve the async workers or
//! the other requests.

use crate::metrics::AuthMetrics;
use anyhow::Context;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use secrecy::{ExposeSecret, SecretString};
use servicekit::ApiError;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Semaphore;

#[derive(Debug, thiserror::Error)]
pub enum HashError {
    /// No hashing slot freed within the wait: too many logins at once (503).
    #[error("the password hashing queue is full")]
    Busy,
    #[error(transparent)]
    Failed(#[from] anyhow::Error),
}

impl From<HashError> for ApiError {
    fn from(e: HashError) -> Self {
        match e {
            HashError::Busy => ApiError::unavailable(e),
            HashError::Failed(e) => ApiError::internal(e),
        }
    }
}

#[derive(Clone)]
pub struct Hasher {
    permits: Arc<Semaphore>,
    wait: Duration,
    /// Verified instead of a real hash for unknown users, so both take the same time.
    dummy_hash: Arc<str>,
    metrics: AuthMetrics,
}

fn argon2() -> Argon2<'static> {
    // The OWASP minimum; the values are constants known to be valid.
    let params = Params::new(19 * 1024, 2, 1, None).unwrap_or_default();
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

impl Hasher {
    pub fn new(
        max_concurrent: Option<usize>,
        wait: Duration,
        metrics: AuthMetrics,
    ) -> anyhow::Result<Self> {
        let n = max_concurrent.unwrap_or_else(|| {
            std::thread::available_parallelism().map_or(2, std::num::NonZero::get)
        });
        let dummy_hash = hash_now(&SecretString::from("not a real password"))?;
        Ok(Self {
            permits: Arc::new(Semaphore::new(n.max(1))),
            wait,
            dummy_hash: dummy_hash.into(),
            metrics,
        })
    }

    pub async fn hash(&self, password: SecretString) -> Result<String, HashError> {
        Ok(self.run(move || hash_now(&password)).await??)
    }

    /// True when `password` matches `hash`; with no hash (unknown user) the dummy hash is
    /// verified and the answer is false.
    pub async fn verify(
        &self,
        password: SecretString,
        hash: Option<String>,
    ) -> Result<bool, HashError> {
        let known = hash.is_some();
        let hash = hash.unwrap_or_else(|| self.dummy_hash.to_string());
        let ok = self
            .run(move || {
                PasswordHash::new(&hash).is_ok_and(|parsed| {
                    argon2()
                        .verify_password(password.expose_secret().as_bytes(), &parsed)
                        .is_ok()
                })
            })
            .await?;
        Ok(known && ok)
    }

    async fn run<T: Send + 'static>(
        &self,
        f: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, HashError> {
        let queue = &self.metrics.hashing_queue;
        queue.inc();
        let permit = tokio::time::timeout(self.wait, self.permits.clone().acquire_owned()).await;
        queue.dec();
        let permit = permit
            .map_err(|_| HashError::Busy)?
            .map_err(|e| anyhow::Error::new(e).context("waiting for a hashing slot"))?;
        let seconds = self.metrics.hash_seconds.clone();
        let out = tokio::task::spawn_blocking(move || {
            let timer = seconds.start_timer();
            let out = f();
            timer.observe_duration();
            drop(permit);
            out
        })
        .await
        .map_err(|e| anyhow::Error::new(e).context("hashing on the blocking pool"))?;
        Ok(out)
    }
}

pub(crate) fn hash_now(password: &SecretString) -> anyhow::Result<String> {
    let salt = SaltString::generate(&mut argon2::password_hash::rand_core::OsRng);
    Ok(argon2()
        .hash_password(password.expose_secret().as_bytes(), &salt)
        .map_err(|e| anyhow::anyhow!("{e}"))
        .context("hashing a password")?
        .to_string())
}
