//! Redis: the deadpool pool and the service's key namespace.

use crate::config::RedisSettings;
use anyhow::Context;
use deadpool_redis::{Config, Pool, PoolConfig, Runtime, Timeouts};
use secrecy::ExposeSecret;

pub use deadpool_redis::{Connection as RedisConnection, Pool as RedisPool};

/// Builds the pool; connections open lazily and every wait is bounded by `timeout_ms`.
pub fn pool(settings: &RedisSettings) -> anyhow::Result<Pool> {
    let mut cfg = Config::from_url(settings.url.expose_secret());
    cfg.pool = Some(PoolConfig {
        max_size: settings.max_size,
        timeouts: Timeouts {
            wait: Some(settings.timeout()),
            create: Some(settings.timeout()),
            recycle: Some(settings.timeout()),
        },
        ..PoolConfig::default()
    });
    cfg.create_pool(Some(Runtime::Tokio1))
        .context("building the redis pool")
}

/// Every key a service writes goes through this, so tests (and tenants) never collide.
#[derive(Clone, Debug, Default)]
pub struct Keys {
    prefix: String,
}

impl Keys {
    pub fn new(prefix: impl Into<String>) -> Self {
        Self {
            prefix: prefix.into(),
        }
    }

    pub fn key(&self, name: &str) -> String {
        format!("{}{}", self.prefix, name)
    }

    pub fn prefix(&self) -> &str {
        &self.prefix
    }
}
