//! Per-caller limits kept in process: at most N requests of one kind per caller per fixed
//! minute. Used where a limit must follow a verified person rather than an address (the
//! gateway's per-address limits cannot tell the millions behind one carrier-grade NAT apart).
//!
//! Each replica counts on its own, so a caller spread over R replicas by the load balancer
//! gets up to R × N; the point is to stop one script from taking the hot path, not to meter
//! exactly. Memory: one entry per caller and kind active in the current minute; the map is
//! emptied when the minute turns.

use crate::error::{ApiError, Code};
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};
use uuid::Uuid;

/// The minute counted and the counts per (caller, kind) in it.
type Window = (u64, HashMap<(Uuid, &'static str), u32>);

/// Counts per (caller, kind) in the current minute.
#[derive(Default)]
pub struct PerCaller {
    window: Mutex<Window>,
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

impl PerCaller {
    /// Counts one request of `kind` by `caller`; past `per_minute` in this minute, 429
    /// `rate_limited` with `Retry-After` the seconds to the next minute. `per_minute` 0 means
    /// no limit (nothing is counted).
    pub fn check(&self, caller: Uuid, kind: &'static str, per_minute: u32) -> Result<(), ApiError> {
        self.check_at(caller, kind, per_minute, now_secs())
    }

    fn check_at(
        &self,
        caller: Uuid,
        kind: &'static str,
        per_minute: u32,
        now: u64,
    ) -> Result<(), ApiError> {
        if per_minute == 0 {
            return Ok(());
        }
        let minute = now / 60;
        let count = {
            let Ok(mut window) = self.window.lock() else {
                return Ok(());
            };
            if window.0 != minute {
                *window = (minute, HashMap::new());
            }
            let count = window.1.entry((caller, kind)).or_insert(0);
            *count = count.saturating_add(1);
            *count
        };
        if count > per_minute {
            return Err(ApiError::new(
                Code::RateLimited,
                format!("at most {per_minute} of these a minute per passenger; try again shortly"),
            )
            .with_retry_after(60 - now % 60));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_caller_gets_n_a_minute_per_kind_and_the_count_resets_with_the_minute() {
        let limits = PerCaller::default();
        let (a, b) = (Uuid::new_v4(), Uuid::new_v4());
        let t = 6_000_000; // the start of a minute
        for _ in 0..3 {
            assert!(limits.check_at(a, "select", 3, t + 10).is_ok());
        }
        let refused = limits.check_at(a, "select", 3, t + 10).unwrap_err();
        assert_eq!(refused.code(), Code::RateLimited);
        // Others, and other kinds, are counted apart.
        assert!(limits.check_at(b, "select", 3, t + 11).is_ok());
        assert!(limits.check_at(a, "confirm", 3, t + 11).is_ok());
        // The next minute starts afresh; 0 means no limit.
        assert!(limits.check_at(a, "select", 3, t + 60).is_ok());
        for _ in 0..100 {
            assert!(limits.check_at(a, "join", 0, t + 61).is_ok());
        }
    }
}
