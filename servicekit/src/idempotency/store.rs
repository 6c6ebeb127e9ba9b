//! The `idempotency_keys` table: claiming a key, keeping the response of a claimed key (in
//! the handler's own transaction, or after it), renewing the lease of a running request, and
//! freeing a key again. Failures are [`DbError`].
//!
//! A row without a status is a claim, and its `created_at` is the claim's lease: renewed
//! while the request runs, and free for a retry of the same request once it is older than
//! the lease (the process died, or the answer could not be written). A row with a status is
//! an answer, kept 24 hours from `created_at`.

use crate::db::{DbError, PgPool, Prepared};
use actix_web::http::StatusCode;
use deadpool_postgres::GenericClient;
use std::time::Duration;

/// How long a claim holds its key without being renewed (renewed every third of it while the
/// request runs).
pub const LEASE: Duration = Duration::from_secs(30);

/// How long an answer (or any row) holds its key: older rows are free for a new request and
/// deleted by the pruner (`crate::retention`).
pub const KEPT: Duration = Duration::from_secs(24 * 60 * 60);

#[derive(Clone)]
pub struct IdempotencyStore {
    pub db: PgPool,
    /// See [`LEASE`].
    pub lease: Duration,
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
    pub fn new(db: PgPool) -> Self {
        Self { db, lease: LEASE }
    }

    /// Claims `key` for a request of `fingerprint`: a key older than 24 hours is free again,
    /// and so is a claim of the same request whose lease has lapsed.
    pub(super) async fn claim(
        &self,
        scope: &str,
        key: &str,
        fingerprint: &str,
    ) -> Result<Claim, DbError> {
        let db = self.db.get().await?;
        let claimed = db
            .query_opt_prepared(
                "INSERT INTO idempotency_keys (scope, key, request_hash) VALUES ($1, $2, $3) \
                 ON CONFLICT (scope, key) DO UPDATE \
                   SET request_hash = EXCLUDED.request_hash, status = NULL, body = NULL, \
                       content_type = NULL, created_at = now() \
                   WHERE idempotency_keys.created_at < now() - make_interval(secs => $5) \
                      OR (idempotency_keys.status IS NULL \
                          AND idempotency_keys.request_hash = EXCLUDED.request_hash \
                          AND idempotency_keys.created_at < now() - make_interval(secs => $4)) \
                 RETURNING 1",
                &[
                    &scope,
                    &key,
                    &fingerprint,
                    &self.lease.as_secs_f64(),
                    &KEPT.as_secs_f64(),
                ],
            )
            .await?
            .is_some();
        if claimed {
            return Ok(Claim::Claimed);
        }
        let row = db
            .query_opt_prepared(
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

    /// Extends the lease of a running request's claim.
    pub(super) async fn renew(
        &self,
        scope: &str,
        key: &str,
        fingerprint: &str,
    ) -> Result<(), DbError> {
        self.db
            .get()
            .await?
            .execute_prepared(
                "UPDATE idempotency_keys SET created_at = now() \
                 WHERE scope = $1 AND key = $2 AND request_hash = $3 AND status IS NULL",
                &[&scope, &key, &fingerprint],
            )
            .await?;
        Ok(())
    }

    /// Frees a claimed key (its request failed with a 5xx, so a retry runs again).
    pub(super) async fn release(&self, scope: &str, key: &str) -> Result<(), DbError> {
        self.db
            .get()
            .await?
            .execute_prepared(
                "DELETE FROM idempotency_keys WHERE scope = $1 AND key = $2",
                &[&scope, &key],
            )
            .await?;
        Ok(())
    }
}

/// Writes the response of a claimed key through `db` (a pooled client, or the handler's
/// transaction).
pub(super) async fn record(
    db: &impl GenericClient,
    scope: &str,
    key: &str,
    status: StatusCode,
    body: &[u8],
    content_type: Option<&str>,
) -> Result<(), DbError> {
    db.execute_prepared(
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
