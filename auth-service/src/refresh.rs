//! Refresh tokens: opaque random strings, stored as SHA-256 hashes, rotated on every use.
//! Presenting a spent token again revokes its whole family (one login's chain): whoever
//! holds a stolen copy and the rightful owner are both logged out.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{Duration, Utc};
use rand::RngCore;
use servicekit::db::DbError;
use sha2::{Digest, Sha256};
use uuid::Uuid;

fn digest(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

fn new_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Stores a new token of `family` for `user` and returns it.
pub async fn issue(
    db: &impl deadpool_postgres::GenericClient,
    user: Uuid,
    family: Uuid,
    ttl_days: u32,
) -> Result<String, DbError> {
    let token = new_token();
    let expires_at = Utc::now() + Duration::days(i64::from(ttl_days));
    db.execute(
        "INSERT INTO refresh_tokens (token_hash, family_id, user_id, expires_at) VALUES ($1, $2, $3, $4)",
        &[&digest(&token), &family, &user, &expires_at],
    )
    .await?;
    Ok(token)
}

/// What presenting a refresh token did.
pub enum Rotation {
    /// Spent; the user, the family (the session) and its next token.
    Rotated {
        user: Uuid,
        family: Uuid,
        next: String,
    },
    /// Unknown, expired or revoked: nothing changed.
    Refused,
    /// Spent before: the whole family was revoked now (its access tokens must go too).
    Reused { family: Uuid },
}

/// Spends `token` and returns its user and a fresh token of the same family, or why not.
pub async fn rotate(
    db: &mut deadpool_postgres::Object,
    token: &str,
    ttl_days: u32,
) -> Result<Rotation, DbError> {
    let tx = db.transaction().await?;
    let Some(row) = tx
        .query_opt(
            "SELECT family_id, user_id, expires_at > now(), used_at IS NOT NULL OR revoked_at IS NOT NULL \
             FROM refresh_tokens WHERE token_hash = $1 FOR UPDATE",
            &[&digest(token)],
        )
        .await?
    else {
        return Ok(Rotation::Refused);
    };
    let (family, user, alive, spent): (Uuid, Uuid, bool, bool) =
        (row.get(0), row.get(1), row.get(2), row.get(3));
    if spent {
        tx.execute(
            "UPDATE refresh_tokens SET revoked_at = now() WHERE family_id = $1 AND revoked_at IS NULL",
            &[&family],
        )
        .await?;
        tx.commit().await?;
        tracing::warn!(%user, %family, "refresh token reused: family revoked");
        return Ok(Rotation::Reused { family });
    }
    if !alive {
        return Ok(Rotation::Refused);
    }
    tx.execute(
        "UPDATE refresh_tokens SET used_at = now() WHERE token_hash = $1",
        &[&digest(token)],
    )
    .await?;
    let next = issue(&tx, user, family, ttl_days).await?;
    tx.commit().await?;
    Ok(Rotation::Rotated { user, family, next })
}

/// Revokes the family of `token` (logout) and returns it; `None` for an unknown token.
pub async fn revoke_family(
    db: &tokio_postgres::Client,
    token: &str,
) -> Result<Option<Uuid>, DbError> {
    let row = db
        .query_opt(
            "SELECT family_id FROM refresh_tokens WHERE token_hash = $1",
            &[&digest(token)],
        )
        .await?;
    let Some(family) = row.map(|r| r.get::<_, Uuid>(0)) else {
        return Ok(None);
    };
    db.execute(
        "UPDATE refresh_tokens SET revoked_at = now() WHERE family_id = $1 AND revoked_at IS NULL",
        &[&family],
    )
    .await?;
    Ok(Some(family))
}
