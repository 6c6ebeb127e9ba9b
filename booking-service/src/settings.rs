//! booking-service settings (see `servicekit::config` for the layering).

use serde::Deserialize;
use servicekit::config::{
    AmqpSettings, DatabaseSettings, HttpSettings, JwtSettings, LogSettings, RedisSettings,
};

#[derive(Clone, Debug, Deserialize)]
#[serde(default)]
pub struct Settings {
    pub http: HttpSettings,
    pub database: DatabaseSettings,
    pub redis: RedisSettings,
    pub amqp: AmqpSettings,
    pub jwt: JwtSettings,
    pub log: LogSettings,
    pub booking: BookingSettings,
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
            booking: BookingSettings::default(),
        }
    }
}

#[derive(Clone, Debug, Deserialize)]
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
    /// Live seat-map streams one replica serves at once; past it, 503 `unavailable`.
    pub max_live_listeners: usize,
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
            max_live_listeners: 20_000,
        }
    }
}
