//! [`CacheError`]: what a Redis store returns. Every kind answers 503 except a value that
//! could not be encoded or decoded, which is ours (500).

use crate::error::ApiError;
use std::time::Duration;

#[derive(Debug, thiserror::Error)]
pub enum CacheError {
    /// Redis did not answer within the caller's deadline.
    #[error("redis did not answer within {0:?}")]
    Timeout(Duration),
    /// The connection failed, or Redis refused the command.
    #[error("a redis command failed")]
    Redis(#[from] redis::RedisError),
    /// A value stored as JSON could not be written or read.
    #[error("a cached value could not be encoded or decoded")]
    Value(#[from] serde_json::Error),
}

impl CacheError {
    /// True when Redis could not be reached or did not answer: the work can be retried.
    pub fn is_unavailable(&self) -> bool {
        !matches!(self, Self::Value(_))
    }
}

/// Runs `work`, giving up with [`CacheError::Timeout`] after `deadline`.
pub async fn within<T>(
    deadline: Duration,
    work: impl Future<Output = Result<T, CacheError>>,
) -> Result<T, CacheError> {
    tokio::time::timeout(deadline, work)
        .await
        .map_err(|_| CacheError::Timeout(deadline))?
}

impl From<CacheError> for ApiError {
    fn from(e: CacheError) -> Self {
        if e.is_unavailable() {
            Self::unavailable(e)
        } else {
            Self::internal(e)
        }
    }
}

impl From<redis::RedisError> for ApiError {
    fn from(e: redis::RedisError) -> Self {
        CacheError::from(e).into()
    }
}
