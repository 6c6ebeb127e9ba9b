//! auth-service's own metrics, registered on the service's registry.

use prometheus::{Histogram, HistogramOpts, IntCounterVec, IntGauge, Opts, Registry};
use servicekit::metrics::LATENCY_BUCKETS;

#[derive(Clone)]
pub struct AuthMetrics {
    /// Logins by method (password, otp) and outcome (success, failure, throttled).
    pub logins: IntCounterVec,
    /// One-time codes: issued (sent), failed (a wrong code entered), rejected (too many
    /// requests or wrong codes for the phone).
    pub otps: IntCounterVec,
    /// Password hashes waiting for a hashing slot.
    pub hashing_queue: IntGauge,
    /// Time of one argon2id hash or verification (on the blocking pool).
    pub hash_seconds: Histogram,
}

impl AuthMetrics {
    pub fn register(registry: &Registry) -> anyhow::Result<Self> {
        let logins = IntCounterVec::new(
            Opts::new(
                "auth_logins_total",
                "Logins by method (password, otp) and outcome (success, failure, throttled)",
            ),
            &["method", "outcome"],
        )?;
        let otps = IntCounterVec::new(
            Opts::new(
                "auth_otps_total",
                "One-time codes by outcome (issued, failed: a wrong code, rejected: throttled)",
            ),
            &["outcome"],
        )?;
        let hashing_queue = IntGauge::new(
            "auth_hashing_queue",
            "Password hashes waiting for a hashing slot",
        )?;
        let hash_seconds = Histogram::with_opts(
            HistogramOpts::new(
                "auth_hash_seconds",
                "Time of one argon2id hash or verification",
            )
            .buckets(LATENCY_BUCKETS.to_vec()),
        )?;
        for method in ["password", "otp"] {
            for outcome in ["success", "failure", "throttled"] {
                logins.with_label_values(&[method, outcome]);
            }
        }
        for outcome in ["issued", "failed", "rejected"] {
            otps.with_label_values(&[outcome]);
        }
        registry.register(Box::new(logins.clone()))?;
        registry.register(Box::new(otps.clone()))?;
        registry.register(Box::new(hashing_queue.clone()))?;
        registry.register(Box::new(hash_seconds.clone()))?;
        Ok(Self {
            logins,
            otps,
            hashing_queue,
            hash_seconds,
        })
    }

    pub fn login(&self, method: &str, outcome: &str) {
        self.logins.with_label_values(&[method, outcome]).inc();
    }

    pub fn otp(&self, outcome: &str) {
        self.otps.with_label_values(&[outcome]).inc();
    }
}
