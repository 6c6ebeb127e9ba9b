//! train-service settings (see `servicekit::config` for the layering).

use serde::{Deserialize, Serialize};
use servicekit::config::{
    AmqpSettings, DatabaseSettings, HttpSettings, JwtSettings, LogSettings, RedisSettings,
    RetentionSettings,
};

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default)]
pub struct Settings {
    pub http: HttpSettings,
    pub database: DatabaseSettings,
    pub redis: RedisSettings,
    pub amqp: AmqpSettings,
    pub jwt: JwtSettings,
    pub log: LogSettings,
    /// How long the outbox, the consumers\' dedupe records and idempotency keys are kept.
    pub retention: RetentionSettings,
    pub search: SearchSettings,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            http: HttpSettings::on_port(8082),
            database: DatabaseSettings::for_database("railrush_train"),
            redis: RedisSettings::default(),
            amqp: AmqpSettings::default(),
            jwt: JwtSettings::default(),
            log: LogSettings::default(),
            retention: RetentionSettings::default(),
            search: SearchSettings::default(),
        }
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default)]
pub struct SearchSettings {
    /// Seconds a search result stays in Redis. Availability changes invalidate it at once;
    /// the TTL only bounds staleness when an invalidation could not reach Redis.
    pub cache_ttl_secs: u64,
}

impl Default for SearchSettings {
    fn default() -> Self {
        Self { cache_ttl_secs: 5 }
    }
}
