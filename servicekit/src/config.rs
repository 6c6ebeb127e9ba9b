//! Settings, layered: the struct's own defaults, then an optional TOML file
//! (`APP_CONFIG_FILE`, or `config/<service>.toml` when present), then the environment with
//! prefix `APP_` and `__` between levels (`APP_DATABASE__URL`, `APP_HTTP__PORT`).
//!
//! The defaults are layered field by field: the service's `Settings::default()` is the first
//! source, so setting one field of a section (`APP_HTTP__WORKERS`, `APP_DATABASE__MAX_SIZE`)
//! keeps the service's own values of the others (its port, its database), not the section
//! type's generic ones. That is why settings types derive `Serialize`: only to be read back
//! here; secrets are written with [`expose_secret`] for it, so never serialize a loaded
//! `Settings` anywhere else (a log line, an answer).
//!
//! Each service owns a `Settings` struct built from the pieces here and passes it explicitly;
//! there is no global. Secrets are `SecretString`, which never prints.

use anyhow::Context;
use secrecy::{ExposeSecret, SecretString};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize, Serializer};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Loads `T` for `service` from its defaults, file and environment.
pub fn load<T: DeserializeOwned + Serialize + Default>(service: &str) -> anyhow::Result<T> {
    load_from(service, None)
}

/// [`load`], with `env` (variable name to value) read instead of the process environment
/// when given.
fn load_from<T: DeserializeOwned + Serialize + Default>(
    service: &str,
    env: Option<config::Map<String, String>>,
) -> anyhow::Result<T> {
    let file = std::env::var_os("APP_CONFIG_FILE")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new("config").join(format!("{service}.toml")));
    let defaults = config::Config::try_from(&T::default())
        .with_context(|| format!("layering the default settings of {service}"))?;
    config::Config::builder()
        .add_source(defaults)
        .add_source(config::File::from(file).required(false))
        .add_source(
            config::Environment::with_prefix("APP")
                .prefix_separator("_")
                .separator("__")
                .try_parsing(true)
                .source(env),
        )
        .build()
        .and_then(config::Config::try_deserialize)
        .with_context(|| format!("loading the settings of {service}"))
}

/// `#[serde(serialize_with = "servicekit::config::expose_secret")]` on a `SecretString`
/// field of a settings type: writes the secret in clear, for [`load`]'s defaults only.
pub fn expose_secret<S: Serializer>(secret: &SecretString, out: S) -> Result<S::Ok, S::Error> {
    out.serialize_str(secret.expose_secret())
}

/// [`expose_secret`] for an `Option<SecretString>` field.
pub fn expose_optional_secret<S: Serializer>(
    secret: &Option<SecretString>,
    out: S,
) -> Result<S::Ok, S::Error> {
    match secret {
        Some(secret) => out.serialize_some(secret.expose_secret()),
        None => out.serialize_none(),
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default)]
pub struct HttpSettings {
    pub host: String,
    /// 0 picks a free port (tests).
    pub port: u16,
    /// Actix worker threads; the number of cores when unset.
    pub workers: Option<usize>,
    /// Seconds in-flight requests get to finish after SIGTERM.
    pub shutdown_timeout_secs: u64,
}

impl HttpSettings {
    pub fn on_port(port: u16) -> Self {
        Self {
            host: "127.0.0.1".into(),
            port,
            workers: None,
            shutdown_timeout_secs: 30,
        }
    }
}

impl Default for HttpSettings {
    fn default() -> Self {
        Self::on_port(0)
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default)]
pub struct DatabaseSettings {
    #[serde(serialize_with = "expose_secret")]
    pub url: SecretString,
    pub max_size: usize,
    /// How long a request waits for a connection (and a connection for the server) before
    /// the request answers 503.
    pub timeout_ms: u64,
    /// PEM file of the CAs trusted for the server's certificate when the URL says
    /// `sslmode=require` (a managed database's CA bundle); the system's roots when unset.
    pub ca_file: Option<PathBuf>,
}

impl DatabaseSettings {
    pub fn for_database(name: &str) -> Self {
        Self {
            url: format!("postgres://postgres@127.0.0.1:5432/{name}").into(),
            max_size: 16,
            timeout_ms: 2_000,
            ca_file: None,
        }
    }

    pub fn timeout(&self) -> Duration {
        Duration::from_millis(self.timeout_ms)
    }
}

impl Default for DatabaseSettings {
    fn default() -> Self {
        Self::for_database("postgres")
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default)]
pub struct RedisSettings {
    #[serde(serialize_with = "expose_secret")]
    pub url: SecretString,
    /// Prepended to every key this service writes; tests give each run its own.
    pub key_prefix: String,
    pub max_size: usize,
    pub timeout_ms: u64,
    /// PEM file of the CAs trusted for the server's certificate with a `rediss://` URL;
    /// the system's roots when unset.
    pub ca_file: Option<PathBuf>,
    /// The URL names a node (or the configuration endpoint) of a Redis Cluster.
    pub cluster: bool,
}

impl RedisSettings {
    pub fn timeout(&self) -> Duration {
        Duration::from_millis(self.timeout_ms)
    }
}

impl Default for RedisSettings {
    fn default() -> Self {
        Self {
            url: "redis://127.0.0.1:6379".into(),
            key_prefix: String::new(),
            max_size: 32,
            timeout_ms: 1_000,
            ca_file: None,
            cluster: false,
        }
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default)]
pub struct AmqpSettings {
    #[serde(serialize_with = "expose_secret")]
    pub url: SecretString,
    /// The topic exchange every event goes to.
    pub exchange: String,
    /// Prepended to every queue this service declares; tests give each run its own.
    pub queue_prefix: String,
}

impl Default for AmqpSettings {
    fn default() -> Self {
        Self {
            url: "amqp://guest:guest@127.0.0.1:5672/%2f".into(),
            exchange: "railrush.events".into(),
            queue_prefix: String::new(),
        }
    }
}

/// How long the kernel's bookkeeping tables keep their rows (`servicekit::retention`): sent
/// outbox rows and consumers' dedupe records; `Idempotency-Key` answers go after their 24
/// hours whatever these say.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default)]
pub struct RetentionSettings {
    /// Outbox rows the broker confirmed are kept this many days (for inspection); unsent rows
    /// are never pruned.
    pub outbox_days: u32,
    /// `processed_events` rows are kept this many days. Must exceed the longest time a
    /// message can come again after it was applied: a redelivery (seconds), a duplicate
    /// published by a relay that crashed before marking its row sent (behind the queue's
    /// backlog), or a replay from a parking queue (as late as an operator acts on it). An
    /// event that comes back after its record is gone is applied again.
    pub processed_events_days: u32,
    /// Rows deleted per statement; a full batch is followed by the next one at once.
    pub batch: i64,
    /// Seconds between rounds once nothing is left to prune.
    pub interval_secs: u64,
}

impl RetentionSettings {
    pub fn interval(&self) -> Duration {
        Duration::from_secs(self.interval_secs.max(1))
    }
}

impl Default for RetentionSettings {
    fn default() -> Self {
        Self {
            outbox_days: 7,
            processed_events_days: 14,
            batch: 1_000,
            interval_secs: 300,
        }
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default)]
pub struct JwtSettings {
    /// PEM of the Ed25519 public key every service verifies with.
    pub public_key_path: PathBuf,
    /// PEM of the Ed25519 private key: auth-service only.
    pub private_key_path: Option<PathBuf>,
    pub issuer: String,
    pub audience: String,
    pub access_ttl_secs: u64,
    /// Redis key prefix of the ended-session deny-list (`auth::Revocations`): the same for
    /// auth-service, which writes it, and the services that check it; the service's own
    /// `redis.key_prefix` when unset.
    pub revocation_key_prefix: Option<String>,
}

impl Default for JwtSettings {
    fn default() -> Self {
        Self {
            public_key_path: PathBuf::from(".local/keys/jwt_public.pem"),
            private_key_path: None,
            issuer: "railrush-auth".into(),
            audience: "railrush".into(),
            access_ttl_secs: 15 * 60,
            revocation_key_prefix: None,
        }
    }
}

#[derive(Clone, Copy, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    #[default]
    Pretty,
    Json,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct LogSettings {
    pub format: LogFormat,
}

/// A secret given inline, else read from `path` (trimmed); `None` when neither is set.
pub fn load_secret(
    inline: Option<&SecretString>,
    path: Option<&std::path::Path>,
    what: &str,
) -> anyhow::Result<Option<SecretString>> {
    Ok(match (inline, path) {
        (Some(s), _) => Some(s.clone()),
        (None, Some(path)) => Some(
            std::fs::read_to_string(path)
                .with_context(|| format!("reading the {what} {}", path.display()))?
                .trim()
                .to_owned()
                .into(),
        ),
        (None, None) => None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A service's settings whose defaults differ from its sections' own, as every
    /// service's do (its port, its database).
    #[derive(Debug, Serialize, Deserialize)]
    #[serde(default)]
    struct ServiceSettings {
        http: HttpSettings,
        database: DatabaseSettings,
        jwt: JwtSettings,
    }

    impl Default for ServiceSettings {
        fn default() -> Self {
            Self {
                http: HttpSettings {
                    shutdown_timeout_secs: 7,
                    ..HttpSettings::on_port(8099)
                },
                database: DatabaseSettings::for_database("config_test"),
                jwt: JwtSettings {
                    private_key_path: Some(PathBuf::from("keys/private.pem")),
                    ..JwtSettings::default()
                },
            }
        }
    }

    fn load_with(vars: &[(&str, &str)]) -> ServiceSettings {
        let env = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        load_from("config-test-service-without-a-file", Some(env)).unwrap()
    }

    #[test]
    fn one_field_of_a_section_keeps_the_services_other_defaults() {
        let settings = load_with(&[
            ("APP_HTTP__WORKERS", "3"),
            ("APP_DATABASE__MAX_SIZE", "40"),
            ("APP_JWT__ISSUER", "elsewhere"),
        ]);
        assert_eq!(settings.http.workers, Some(3));
        assert_eq!(settings.http.port, 8099);
        assert_eq!(settings.http.shutdown_timeout_secs, 7);
        assert_eq!(settings.database.max_size, 40);
        assert_eq!(
            settings.database.url.expose_secret(),
            "postgres://postgres@127.0.0.1:5432/config_test"
        );
        assert_eq!(settings.database.timeout_ms, 2_000);
        assert_eq!(settings.jwt.issuer, "elsewhere");
        assert_eq!(
            settings.jwt.private_key_path,
            Some(PathBuf::from("keys/private.pem"))
        );
    }

    #[test]
    fn nothing_set_is_the_services_defaults_and_a_set_field_wins() {
        let settings = load_with(&[]);
        assert_eq!(settings.http.port, 8099);
        assert_eq!(settings.http.workers, None);
        assert_eq!(settings.database.ca_file, None);

        let settings = load_with(&[
            ("APP_HTTP__PORT", "9000"),
            ("APP_DATABASE__URL", "postgres://db.internal/other"),
        ]);
        assert_eq!(settings.http.port, 9000);
        assert_eq!(settings.http.shutdown_timeout_secs, 7);
        assert_eq!(
            settings.database.url.expose_secret(),
            "postgres://db.internal/other"
        );
        assert_eq!(settings.database.max_size, 16);
    }
}
