//! Hold records: who holds which seats of which trip until when.

use crate::seats::SeatStore;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use servicekit::cache::CacheError;
use uuid::Uuid;

/// Kept this long past the hold's expiry, to answer a late confirm with `hold_expired`.
const GRACE_MS: u64 = 60 * 60 * 1000;

/// `Hold` of `docs/api.md`, plus its owner.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct HoldRecord {
    pub hold_id: Uuid,
    pub trip_id: i64,
    pub seat_ids: Vec<i32>,
    pub expires_at: DateTime<Utc>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_id: Option<Uuid>,
}

impl HoldRecord {
    /// The public view (without the owner).
    pub fn public(&self) -> Self {
        Self {
            user_id: None,
            ..self.clone()
        }
    }
}

pub async fn save(store: &SeatStore, record: &HoldRecord, ttl_ms: u64) -> Result<(), CacheError> {
    let body = serde_json::to_string(record)?;
    let mut conn = store.pool().get().await?;
    redis::cmd("SET")
        .arg(store.hold_key(record.hold_id))
        .arg(body)
        .arg("PX")
        .arg(ttl_ms + GRACE_MS)
        .query_async::<()>(&mut conn)
        .await?;
    Ok(())
}

/// The caller's hold; `None` for unknown holds and other users' holds alike.
pub async fn load_own(
    store: &SeatStore,
    hold: Uuid,
    user: Uuid,
) -> Result<Option<HoldRecord>, CacheError> {
    let mut conn = store.pool().get().await?;
    let body: Option<String> = redis::cmd("GET")
        .arg(store.hold_key(hold))
        .query_async(&mut conn)
        .await?;
    Ok(body
        .and_then(|b| serde_json::from_str::<HoldRecord>(&b).ok())
        .filter(|r| r.user_id == Some(user)))
}

pub async fn delete(store: &SeatStore, hold: Uuid) -> Result<(), CacheError> {
    let mut conn = store.pool().get().await?;
    redis::cmd("DEL")
        .arg(store.hold_key(hold))
        .query_async::<()>(&mut conn)
        .await?;
    Ok(())
}
