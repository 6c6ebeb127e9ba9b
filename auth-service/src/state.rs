//! What the handlers share.

use crate::metrics::AuthMetrics;
use crate::nid::{NidKey, NidVerifier};
use crate::otp::OtpStore;
use crate::password::Hasher;
use crate::throttle::LoginThrottle;
use serde::Serialize;
use servicekit::ApiError;
use servicekit::amqp::Broker;
use servicekit::auth::{JwtIssuer, Revocations, Roles, Verified};
use servicekit::db::PgPool;
use servicekit::outbox::OutboxRelay;
use std::sync::Arc;
use uuid::Uuid;

pub struct AuthState {
    pub db: PgPool,
    pub hasher: Hasher,
    pub issuer: JwtIssuer,
    /// Ended sessions, whose access tokens are refused before their `exp`.
    pub revocations: Revocations,
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
    /// Tokens of a new login (a new refresh-token family, which is the session).
    pub async fn login_tokens(
        &self,
        user: Uuid,
        roles: Roles,
        verified: Verified,
    ) -> Result<Tokens, ApiError> {
        let db = self.db.get().await?;
        let family = Uuid::new_v4();
        let refresh = crate::refresh::issue(&db, user, family, self.refresh_ttl_days).await?;
        self.tokens(user, roles, verified, family, refresh)
    }

    /// Tokens of the session `family`: the access token names it (`sid`).
    pub fn tokens(
        &self,
        user: Uuid,
        roles: Roles,
        verified: Verified,
        family: Uuid,
        refresh_token: String,
    ) -> Result<Tokens, ApiError> {
        Ok(Tokens {
            access_token: self
                .issuer
                .issue_session(user, roles, verified, Some(family))?,
            token_type: "Bearer",
            expires_in: self.issuer.ttl_secs(),
            refresh_token,
        })
    }
}
