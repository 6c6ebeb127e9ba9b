//! Hold records: who holds which seats of which trip until when. The select script writes
//! the record in the same round trip that takes the seats (`crate::seats`); its key carries
//! the trip's `{trip}` hash tag, and the hold id carries the trip ([`new_id`]), so the record
//! is found from the id alone.

use crate::seats::SeatStore;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use servicekit::cache::CacheError;
use uuid::Uuid;

/// Kept this long past the hold's expiry, to answer a late confirm with `hold_expired`.
pub const GRACE_MS: u64 = 60 * 60 * 1000;

/// Trips up to this id fit in a hold id (train-service's ids are a sequence).
const MAX_TRIP: i64 = (1 << 56) - 1;

/// A new hold id: a UUIDv8 of 66 random bits whose last 7 bytes carry `trip`, so that the
/// record's key can share the trip's slot on a Redis Cluster and still be found from the id.
/// `None` for a trip id beyond 56 bits.
pub fn new_id(trip: i64) -> Option<Uuid> {
    if !(0..=MAX_TRIP).contains(&trip) {
        return None;
    }
    let mut bytes: [u8; 16] = rand::random();
    bytes[9..].copy_from_slice(&trip.to_be_bytes()[1..]);
    Some(uuid::Builder::from_custom_bytes(bytes).into_uuid())
}

/// The trip a hold id of [`new_id`] carries; `None` for other ids (holds taken before hold
/// ids carried their trip keep their record under an untagged key).
pub fn trip_of(hold: Uuid) -> Option<i64> {
    if hold.get_version() != Some(uuid::Version::Custom) {
        return None;
    }
    let mut trip = [0u8; 8];
    trip[1..].copy_from_slice(&hold.as_bytes()[9..]);
    Some(i64::from_be_bytes(trip))
}

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

/// The caller's hold; `None` for unknown holds and other users' holds alike.
pub async fn load_own(
    store: &SeatStore,
    hold: Uuid,
    user: Uuid,
) -> Result<Option<HoldRecord>, CacheError> {
    let mut conn = store.hot().await?;
    let body: Option<String> = redis::cmd("GET")
        .arg(store.hold_key(hold))
        .query_async(&mut conn)
        .await?;
    Ok(body
        .and_then(|b| serde_json::from_str::<HoldRecord>(&b).ok())
        .filter(|r| r.user_id == Some(user)))
}

pub async fn delete(store: &SeatStore, hold: Uuid) -> Result<(), CacheError> {
    let mut conn = store.hot().await?;
    redis::cmd("DEL")
        .arg(store.hold_key(hold))
        .query_async::<()>(&mut conn)
        .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hold_id_carries_its_trip_and_random_bits() {
        for trip in [1, 42, 1 << 40, MAX_TRIP] {
            let (a, b) = (new_id(trip).unwrap(), new_id(trip).unwrap());
            assert_eq!(trip_of(a), Some(trip));
            assert_ne!(a, b);
            assert_eq!(a.get_variant(), uuid::Variant::RFC4122);
        }
        assert_eq!(new_id(MAX_TRIP + 1), None);
        assert_eq!(new_id(-1), None);
        assert_eq!(trip_of(Uuid::new_v4()), None);
    }
}
