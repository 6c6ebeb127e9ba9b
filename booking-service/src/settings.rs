//! booking-service settings (see `servicekit::config` for the layering).

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
    pub booking: BookingSettings,
    pub queue: QueueSettings,
    pub user_limits: UserLimits,
    pub tickets: TicketSettings,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            // Live-event streams never end by themselves: give in-flight requests 5 s, not 30.
            http: HttpSettings {
                shutdown_timeout_secs: 5,
                ..HttpSettings::on_port(8083)
            },
            database: DatabaseSettings::for_database("railrush_booking"),
            redis: RedisSettings::default(),
            amqp: AmqpSettings::default(),
            jwt: JwtSettings::default(),
            log: LogSettings::default(),
            retention: RetentionSettings::default(),
            booking: BookingSettings::default(),
            queue: QueueSettings::default(),
            user_limits: UserLimits::default(),
            tickets: TicketSettings::default(),
        }
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default)]
pub struct BookingSettings {
    /// How long a hold lasts unless confirmed.
    pub hold_ttl_ms: u64,
    /// Time to pay after confirming.
    pub payment_window_secs: u64,
    /// Seats one user may hold or own per trip (the railway's rule).
    pub max_seats_per_user: u32,
    /// Where the trip inventory comes from (train-service's internal endpoint).
    pub train_service_url: String,
    /// Fanout exchange of live seat changes (every replica's listeners see every change).
    pub seats_exchange: String,
    /// How often the booked markers in Redis are checked (and rebuilt when Redis lost them).
    pub marker_check_ms: u64,
    /// How often the sweeper looks for confirmed bookings past their payment due time.
    pub sweep_interval_ms: u64,
    /// Live seat-map streams one replica serves at once; past it, 503 `unavailable`. Each is
    /// an open file (its connection from the gateway), and a process may hold 20,000: the
    /// default leaves 5,000 for requests, pools and the broker, so a replica full of
    /// listeners refuses more instead of failing to open anything else. More viewers take
    /// more replicas (docs/architecture.md, "Live seat maps at scale").
    pub max_live_listeners: usize,
    /// The live seat feed's relay window (`crate::live`): what the exchange brings within it
    /// goes to this replica's listeners at once, one write per listener and trip. A change
    /// reaches a listener within this, the publishing replica's 50 ms and the sweep over the
    /// listeners.
    pub live_window_ms: u64,
    /// How often lapsed holds are looked for in Redis and announced `available`.
    pub expiry_sweep_ms: u64,
    /// How often trips marked after a failed marker write or release are reconciled.
    pub reconcile_ms: u64,
    /// How often (by one replica) every recently booked trip is reconciled.
    pub reconcile_full_ms: u64,
    /// "Recently booked" for the periodic reconciliation: a booking created or changed
    /// within this.
    pub reconcile_lookback_secs: u32,
    /// How often the trip cancellation job reads the cancelled trips again (what select
    /// refuses) and cancels the next bookings of cancelled trips.
    pub trip_cancel_interval_ms: u64,
    /// Confirmations written in one transaction at most (`crate::confirms`): the ones that
    /// arrived while the previous batch was written. 0 writes each in its own.
    pub confirm_batch: usize,
}

impl Default for BookingSettings {
    fn default() -> Self {
        Self {
            hold_ttl_ms: 5 * 60 * 1000,
            payment_window_secs: 10 * 60,
            max_seats_per_user: 4,
            train_service_url: "http://127.0.0.1:8082".into(),
            seats_exchange: "railrush.seats".into(),
            marker_check_ms: 2_000,
            sweep_interval_ms: 1_000,
            max_live_listeners: 15_000,
            live_window_ms: 200,
            expiry_sweep_ms: 250,
            reconcile_ms: 1_000,
            reconcile_full_ms: 60_000,
            reconcile_lookback_secs: 2 * 24 * 60 * 60,
            trip_cancel_interval_ms: 1_000,
            confirm_batch: 32,
        }
    }
}

/// The waiting room of a sale (`crate::queue`).
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default)]
pub struct QueueSettings {
    /// Minutes before a sale opens that its pre-queue opens (joining earlier: `queue_closed`).
    pub pre_queue_mins: u32,
    /// Users let in per minute per sale. Set it to what the booking path sustains: about the
    /// confirms per minute the saga keeps up with, divided by the share of admitted users
    /// who buy (see `docs/architecture.md`, "The waiting room").
    pub admit_per_minute: u64,
    /// How long a pass lasts from the moment its holder first sees it (select and confirm).
    pub pass_ttl_secs: u64,
    /// A waiting user who has not asked for their place for this long loses it at their turn.
    pub stale_after_secs: u64,
    /// How often the serving counter moves.
    pub tick_ms: u64,
    /// How often the sales are fetched again from train-service.
    pub sales_refresh_ms: u64,
    /// After the opening, a room whose queue is empty ends this long after the opening at the
    /// earliest (late arrivals right after the opening still queue).
    pub end_after_secs: u64,
    /// The key passes are signed with (16 bytes or more); `pass_key_path` is read when unset,
    /// and a random per-process key is made when neither is set (one replica only).
    #[serde(serialize_with = "servicekit::config::expose_optional_secret")]
    pub pass_key: Option<secrecy::SecretString>,
    pub pass_key_path: Option<std::path::PathBuf>,
}

impl Default for QueueSettings {
    fn default() -> Self {
        Self {
            pre_queue_mins: 30,
            admit_per_minute: 3_000,
            pass_ttl_secs: 10 * 60,
            stale_after_secs: 3 * 60,
            tick_ms: 250,
            sales_refresh_ms: 2_000,
            end_after_secs: 60,
            pass_key: None,
            pass_key_path: None,
        }
    }
}

/// Requests one signed-in passenger may make a minute, per replica (`servicekit::limit`).
/// The numbers leave a person clicking far below them (a hold is one select of up to 4
/// seats; the web app asks for its place every 15 s) and stop a script from taking the hot
/// path. `enabled = false` lifts them for benchmarks, as the gateway's `load` profile lifts
/// the per-address limits (`scripts/start.sh` with `RAILRUSH_GATEWAY_PROFILE=load` does both).
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default)]
pub struct UserLimits {
    pub enabled: bool,
    pub select_per_minute: u32,
    pub confirm_per_minute: u32,
    pub join_per_minute: u32,
    pub place_per_minute: u32,
}

impl Default for UserLimits {
    fn default() -> Self {
        Self {
            enabled: true,
            select_per_minute: 30,
            confirm_per_minute: 10,
            join_per_minute: 10,
            place_per_minute: 60,
        }
    }
}

impl UserLimits {
    /// The limit of `n` a minute, or 0 (none) when limits are off.
    pub fn per_minute(&self, n: u32) -> u32 {
        if self.enabled { n } else { 0 }
    }
}

/// Signed tickets and check-in (`crate::tickets`).
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default)]
pub struct TicketSettings {
    /// The Ed25519 private key (PKCS#8 PEM) tickets are signed with; every replica needs the
    /// same. Unset: a random per-process key (one replica only; tickets fail after a restart).
    pub signing_key_path: Option<std::path::PathBuf>,
    /// Public keys (PEM) of earlier signing keys: their tickets still verify, and they stay
    /// published at `GET /api/tickets/keys`, after a rotation.
    pub previous_public_key_paths: Vec<std::path::PathBuf>,
    /// A ticket is `expired` this long after its train departed.
    pub valid_hours_after_departure: u32,
}

impl Default for TicketSettings {
    fn default() -> Self {
        Self {
            signing_key_path: None,
            previous_public_key_paths: Vec::new(),
            valid_hours_after_departure: 24,
        }
    }
}
