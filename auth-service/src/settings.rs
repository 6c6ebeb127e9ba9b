//! auth-service settings (see `servicekit::config` for the layering).

use secrecy::SecretString;
use serde::{Deserialize, Serialize};
use servicekit::config::{
    AmqpSettings, DatabaseSettings, HttpSettings, JwtSettings, LogSettings, RedisSettings,
    RetentionSettings,
};
use std::path::PathBuf;

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
    pub otp: OtpSettings,
    pub login: LoginSettings,
    pub nid: NidSettings,
    /// Days a refresh token stays usable.
    pub refresh_ttl_days: u32,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            http: HttpSettings::on_port(8081),
            database: DatabaseSettings::for_database("railrush_auth"),
            redis: RedisSettings::default(),
            amqp: AmqpSettings::default(),
            jwt: JwtSettings {
                private_key_path: Some(PathBuf::from(".local/keys/jwt_private.pem")),
                ..JwtSettings::default()
            },
            log: LogSettings::default(),
            retention: RetentionSettings::default(),
            otp: OtpSettings::default(),
            login: LoginSettings::default(),
            nid: NidSettings::default(),
            refresh_ttl_days: 30,
        }
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default)]
pub struct OtpSettings {
    /// Echo the code in the response (`dev_code`): the local stack only, never production.
    pub dev_echo: bool,
    /// Key of the HMAC that codes are stored under; `secret_path` is read when unset, and a
    /// random per-process key is made when neither is set (fine for one replica only).
    #[serde(serialize_with = "servicekit::config::expose_optional_secret")]
    pub secret: Option<SecretString>,
    pub secret_path: Option<PathBuf>,
    pub ttl_secs: u64,
    /// Wrong codes allowed per issued code before it is destroyed (429 until a new one).
    pub max_attempts: u32,
    /// Code requests per phone from one source address, per minute and per hour.
    pub per_minute: u32,
    pub per_hour: u32,
    /// Code requests per phone from all addresses together, per hour (the SMS budget of
    /// one phone).
    pub per_phone_per_hour: u32,
}

impl Default for OtpSettings {
    fn default() -> Self {
        Self {
            dev_echo: false,
            secret: None,
            secret_path: None,
            ttl_secs: 300,
            max_attempts: 5,
            per_minute: 1,
            per_hour: 5,
            per_phone_per_hour: 10,
        }
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default)]
pub struct LoginSettings {
    /// Failed logins of one account from one source address within `window_secs` before
    /// that address waits for the window's end.
    pub max_failures: u32,
    pub window_secs: u64,
    /// Failed logins of one account from addresses it has not logged in from, within
    /// `window_secs`, before each further attempt from such an address waits a doubling
    /// back-off (1 s, 2 s, ... up to `window_secs`).
    pub account_max_failures: u32,
    /// How long an address the account logged in from stays known (free of the account
    /// back-off).
    pub trusted_days: u64,
    /// Password hashes computed at once; more wait (bounded by `hash_wait_ms`, then 503).
    pub max_concurrent_hashes: Option<usize>,
    pub hash_wait_ms: u64,
}

impl Default for LoginSettings {
    fn default() -> Self {
        Self {
            max_failures: 10,
            window_secs: 15 * 60,
            account_max_failures: 50,
            trusted_days: 30,
            max_concurrent_hashes: None,
            hash_wait_ms: 5_000,
        }
    }
}

#[derive(Clone, Copy, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum NidVerifierKind {
    /// The built-in verifier: accepts well-formed numbers, except those ending in `0000`
    /// (no such citizen), for tests. No network.
    #[default]
    Test,
    /// An NID verification service over HTTP at `base_url` (see `nid::http`).
    Http,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default)]
pub struct NidSettings {
    pub kind: NidVerifierKind,
    /// Http only: where the verification service answers. `https://` (the certificate is
    /// verified against `ca_file`, or the system's roots) or `http://` (an egress proxy that
    /// originates TLS, or a test double); any other scheme is refused at start.
    pub base_url: String,
    /// Http only: PEM file of the CAs trusted for the service's certificate.
    pub ca_file: Option<PathBuf>,
    /// Http only: the API key, sent as a bearer token and never logged.
    #[serde(serialize_with = "servicekit::config::expose_optional_secret")]
    pub api_key: Option<SecretString>,
    /// Http only: a call that takes longer answers 503.
    pub timeout_ms: u64,
    /// Key of the HMAC that NIDs are stored under; `secret_path` is read when unset. It must
    /// stay the same for the life of the data (a new key makes every stored NID unmatchable).
    /// With neither set, the test verifier uses a fixed development key and the http
    /// verifier refuses to start.
    #[serde(serialize_with = "servicekit::config::expose_optional_secret")]
    pub secret: Option<SecretString>,
    pub secret_path: Option<PathBuf>,
}

impl Default for NidSettings {
    fn default() -> Self {
        Self {
            kind: NidVerifierKind::Test,
            base_url: String::new(),
            ca_file: None,
            api_key: None,
            timeout_ms: 5_000,
            secret: None,
            secret_path: None,
        }
    }
}

pub use servicekit::config::load_secret;
