//! What the handlers share.

use crate::metrics::AuthMetrics;
use crate::nid::{NidKey, NidVerifier};
use crate::otp::OtpStore;
use crate::password::Hasher;
use crate::throttle::LoginThrottle;
use serde::Serialize;
use servicekit::ApiError;
use servicekit::amqp::Broker;
use servicekit::auth::{JwtIssuer, Role, Verified};
use servicekit::db::PgPool;
use servicekit::outbox::OutboxRelay;
use std::sync::Arc;
use uuid::Uuid;

pub struct AuthState {
    pub db: PgPool,
    pub hasher: Hasher,
    pub issuer: JwtIssuer,
    pub otp: OtpStore,
    pub throttle: LoginThrottle,
    pub nid_verifier: Arc<dyn NidVerifier>,
    pub nid_key: NidKey,
    pub broker: Broker,
    /// Woken after a commit that wrote an event, so it goes out at once.
    pub outbox: OutboxRelay,
    pub otp_dev_echo: bool,
    pub refresh_ttl_days: u32,
    pub metrics: AuthMetrics,
}

/// `Tokens` of `docs/api.md`.
#[derive(Serialize, utoipa::ToSchema)]
pub struct Tokens {
    pub access_token: String,
    #[schema(value_type = String)]
    pub token_type: &'static str,
    pub expires_in: u64,
    pub refresh_token: String,
}

impl AuthState {
    /// Tokens of a new login (a new refresh-token family).
    pub async fn login_tokens(
        &self,
        user: Uuid,
        role: Role,
        verified: Verified,
    ) -> Result<Tokens, ApiError> {
        let db = self.db.get().await?;
        let refresh =
            crate::refresh::issue(&db, user, Uuid::new_v4(), self.refresh_ttl_days).await?;
        self.tokens(user, role, verified, refresh)
    }

    pub fn tokens(
        &self,
        user: Uuid,
        role: Role,
        verified: Verified,
        refresh_token: String,
    ) -> Result<Tokens, ApiError> {
        Ok(Tokens {
            access_token: self.issuer.issue_verified(user, role, verified)?,
            token_type: "Bearer",
            expires_in: self.issuer.ttl_secs(),
            refresh_token,
        })
    }
}
