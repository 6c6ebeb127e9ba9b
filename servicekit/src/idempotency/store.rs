//! The `idempotency_keys` table: claiming a key, keeping the response of a claimed key, and
//! freeing it again. Failures are [`DbError`].

use crate::db::{DbError, PgPool};
use actix_web::http::StatusCode;

#[derive(Clone)]
pub struct IdempotencyStore {
    pub db: PgPool,
}

/// What claiming a key found.
pub(super) enum Claim {
    /// The key is ours: run the request and record its response.
    Claimed,
    /// The key was used with another request.
    Reused,
    /// The first request with the key is still running.
    InUse,
    /// The first request's response, to replay.
    Done {
        status: i16,
        body: Option<Vec<u8>>,
        content_type: Option<String>,
    },
}

impl IdempotencyStore {
    /// Claims `key` for a request of `fingerprint` (a key older than 24 hours is free again).
    pub(super) async fn claim(
        &self,
        scope: &str,
        key: &str,
        fingerprint: &str,
    ) -> Result<Claim, DbError> {
        let db = self.db.get().await?;
        let claimed = db
            .query_opt(
                "INSERT INTO idempotency_keys (scope, key, request_hash) VALUES ($1, $2, $3) \
                 ON CONFLICT (scope, key) DO UPDATE \
                   SET request_hash = EXCLUDED.request_hash, status = NULL, body = NULL, \
                       content_type = NULL, created_at = now() \
                   WHERE idempotency_keys.created_at < now() - interval '24 hours' \
                 RETURNING 1",
                &[&scope, &key, &fingerprint],
            )
            .await?
            .is_some();
        if claimed {
            return Ok(Claim::Claimed);
        }
        let row = db
            .query_opt(
                "SELECT request_hash, status, body, content_type FROM idempotency_keys \
                 WHERE scope = $1 AND key = $2",
                &[&scope, &key],
            )
            .await?;
        Ok(match row {
            Some(row) if row.get::<_, String>(0) != fingerprint => Claim::Reused,
            Some(row) => match row.get::<_, Option<i16>>(1) {
                Some(status) => Claim::Done {
                    status,
                    body: row.get(2),
                    content_type: row.get(3),
                },
                None => Claim::InUse,
            },
            None => Claim::InUse,
        })
    }

    /// Keeps the response of a claimed key.
    pub(super) async fn record(
        &self,
        scope: &str,
        key: &str,
        status: StatusCode,
        body: &[u8],
        content_type: Option<&str>,
    ) -> Result<(), DbError> {
        self.db
            .get()
            .await?
            .execute(
                "UPDATE idempotency_keys SET status = $3, body = $4, content_type = $5 \
                 WHERE scope = $1 AND key = $2",
                &[
                    &scope,
                    &key,
                    &i16::try_from(status.as_u16()).unwrap_or(500),
                    &body,
                    &content_type,
                ],
            )
            .await?;
        Ok(())
    }

    /// Frees a claimed key (its request failed with a 5xx, so a retry runs again).
    pub(super) async fn release(&self, scope: &str, key: &str) -> Result<(), DbError> {
        self.db
            .get()
            .await?
            .execute(
                "DELETE FROM idempotency_keys WHERE scope = $1 AND key = $2",
                &[&scope, &key],
            )
            .await?;
        Ok(())
    }
}
