//! JWT: issuing (auth-service only, with the Ed25519 private key) and verifying (every
//! service, with the public key only). The algorithm is pinned to EdDSA; `iss`, `aud`, `exp`
//! and `sub` are required. Handlers take [`AuthUser`] to require a valid access token.

use crate::config::JwtSettings;
use crate::error::ApiError;
use actix_web::dev::Payload;
use actix_web::http::header;
use actix_web::{FromRequest, HttpRequest, web};
use anyhow::Context;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::future::{Ready, ready};
use std::sync::RwLock;
use uuid::Uuid;

#[derive(Clone, Copy, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    #[default]
    User,
    Admin,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct Claims {
    pub sub: Uuid,
    pub iss: String,
    pub aud: String,
    pub exp: i64,
    pub iat: i64,
    pub jti: Uuid,
    #[serde(default)]
    pub role: Role,
    /// What the account had verified when the token was issued; missing means `false`.
    #[serde(default)]
    pub phone_verified: bool,
    #[serde(default)]
    pub nid_verified: bool,
    /// The session (the refresh-token family of the sign-in) the token belongs to; ending
    /// it (logout, or a reused refresh token) puts it on the deny-list ([`Revocations`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sid: Option<Uuid>,
}

/// What an account has verified: its phone (by a successful OTP login) and an NID.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Verified {
    pub phone: bool,
    pub nid: bool,
}

/// Signs access tokens.
pub struct JwtIssuer {
    key: EncodingKey,
    issuer: String,
    audience: String,
    ttl_secs: u64,
}

impl JwtIssuer {
    pub fn from_settings(settings: &JwtSettings) -> anyhow::Result<Self> {
        let path = settings
            .private_key_path
            .as_ref()
            .context("jwt.private_key_path is not set")?;
        let pem = std::fs::read(path)
            .with_context(|| format!("reading the JWT private key {}", path.display()))?;
        Ok(Self {
            key: EncodingKey::from_ed_pem(&pem).context("parsing the JWT private key")?,
            issuer: settings.issuer.clone(),
            audience: settings.audience.clone(),
            ttl_secs: settings.access_ttl_secs,
        })
    }

    pub fn ttl_secs(&self) -> u64 {
        self.ttl_secs
    }

    /// A signed access token for `user`, claiming nothing verified.
    pub fn issue(&self, user: Uuid, role: Role) -> anyhow::Result<String> {
        self.issue_verified(user, role, Verified::default())
    }

    /// A signed access token for `user` that claims what the account has verified.
    pub fn issue_verified(
        &self,
        user: Uuid,
        role: Role,
        verified: Verified,
    ) -> anyhow::Result<String> {
        self.issue_session(user, role, verified, None)
    }

    /// Like [`Self::issue_verified`], for the session `sid` (the refresh-token family).
    pub fn issue_session(
        &self,
        user: Uuid,
        role: Role,
        verified: Verified,
        sid: Option<Uuid>,
    ) -> anyhow::Result<String> {
        let now = chrono::Utc::now().timestamp();
        let claims = Claims {
            sub: user,
            iss: self.issuer.clone(),
            aud: self.audience.clone(),
            exp: now + i64::try_from(self.ttl_secs).unwrap_or(i64::MAX / 2),
            iat: now,
            jti: Uuid::new_v4(),
            role,
            phone_verified: verified.phone,
            nid_verified: verified.nid,
            sid,
        };
        jsonwebtoken::encode(&Header::new(Algorithm::EdDSA), &claims, &self.key)
            .context("signing an access token")
    }
}

/// Verifies access tokens with the public key only. Verified tokens are remembered (keyed
/// by the whole token, never past their `exp`, at most [`CACHE_LIMIT`] of them) because an
/// Ed25519 verification costs ~35 µs and the seat-selection path sees the same token many
/// times a minute.
pub struct JwtVerifier {
    key: DecodingKey,
    validation: Validation,
    /// Verified token → (caller, exp).
    cache: RwLock<HashMap<Box<str>, (AuthUser, i64)>>,
}

/// Verified tokens remembered at most; the cache is emptied when full.
pub const CACHE_LIMIT: usize = 100_000;

impl JwtVerifier {
    pub fn from_settings(settings: &JwtSettings) -> anyhow::Result<Self> {
        let path = &settings.public_key_path;
        let pem = std::fs::read(path)
            .with_context(|| format!("reading the JWT public key {}", path.display()))?;
        Self::from_pem(&pem, &settings.issuer, &settings.audience)
    }

    pub fn from_pem(pem: &[u8], issuer: &str, audience: &str) -> anyhow::Result<Self> {
        let mut validation = Validation::new(Algorithm::EdDSA);
        validation.set_issuer(&[issuer]);
        validation.set_audience(&[audience]);
        validation.set_required_spec_claims(&["exp", "sub", "iss", "aud"]);
        validation.leeway = 5;
        Ok(Self {
            key: DecodingKey::from_ed_pem(pem).context("parsing the JWT public key")?,
            validation,
            cache: RwLock::new(HashMap::new()),
        })
    }

    /// The caller of a valid token, from the cache when it was verified before.
    pub fn authenticate(&self, token: &str) -> Result<AuthUser, ApiError> {
        let now = chrono::Utc::now().timestamp();
        if let Ok(cache) = self.cache.read()
            && let Some((user, exp)) = cache.get(token)
            && *exp > now
        {
            return Ok(*user);
        }
        let claims = self.verify(token)?;
        let user = AuthUser {
            id: claims.sub,
            role: claims.role,
            verified: Verified {
                phone: claims.phone_verified,
                nid: claims.nid_verified,
            },
            session: claims.sid,
        };
        if let Ok(mut cache) = self.cache.write() {
            if cache.len() >= CACHE_LIMIT {
                cache.clear();
            }
            cache.insert(token.into(), (user, claims.exp));
        }
        Ok(user)
    }

    pub fn verify(&self, token: &str) -> Result<Claims, ApiError> {
        jsonwebtoken::decode::<Claims>(token, &self.key, &self.validation)
            .map(|data| data.claims)
            .map_err(|e| {
                tracing::debug!(error = %e, "rejected an access token");
                ApiError::unauthorized("the access token is missing, malformed, expired or invalid")
            })
    }
}

/// The caller, proven by a valid bearer access token.
#[derive(Clone, Copy, Debug)]
pub struct AuthUser {
    pub id: Uuid,
    pub role: Role,
    /// As claimed by the token (as of its issue: a later verification shows from the next
    /// sign-in or refresh).
    pub verified: Verified,
    /// The token's session (`sid`), when it names one.
    pub session: Option<Uuid>,
}

impl AuthUser {
    /// 403 unless the caller is an admin.
    pub fn require_admin(&self) -> Result<(), ApiError> {
        if self.role == Role::Admin {
            Ok(())
        } else {
            Err(ApiError::forbidden())
        }
    }
}

impl FromRequest for AuthUser {
    type Error = ApiError;
    type Future = Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(authenticate(req))
    }
}

/// The token of an `Authorization: Bearer <token>` header (scheme case-insensitive).
pub fn bearer_token(headers: &header::HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

fn authenticate(req: &HttpRequest) -> Result<AuthUser, ApiError> {
    let verifier = req
        .app_data::<web::Data<JwtVerifier>>()
        .ok_or_else(|| ApiError::internal(anyhow::anyhow!("no JwtVerifier registered")))?;
    let token = bearer_token(req.headers())
        .ok_or_else(|| ApiError::unauthorized("a bearer access token is required"))?;
    verifier.authenticate(token)
}

/// The deny-list of ended sessions: access tokens are checked locally (signature, `exp`), so
/// a token outlives a logout or a revoked refresh-token family by up to its lifetime. Ending
/// a session writes `revoked:session:<sid>` in Redis for one access-token lifetime; routes
/// that move money or show the account ([`Revocations::check`]: confirm, cancel,
/// `/api/auth/me`, NID) refuse such tokens with 401. The seat-selection hot path does not
/// check it (no Redis round trip there): a revoked token can hold seats for at most 15
/// minutes, but not buy them. docs/architecture.md, "Revoked access tokens".
#[derive(Clone)]
pub struct Revocations {
    pool: crate::cache::RedisPool,
    prefix: String,
    ttl_secs: u64,
}

impl Revocations {
    /// On `pool`, keys under `prefix` (shared by auth-service, which writes, and every
    /// service that checks: `jwt.revocation_key_prefix`), kept `ttl_secs` (the access-token
    /// lifetime).
    pub fn new(pool: crate::cache::RedisPool, prefix: &str, ttl_secs: u64) -> Self {
        Self {
            pool,
            prefix: prefix.to_owned(),
            ttl_secs,
        }
    }

    /// The deny-list as a service's settings name it (`jwt.revocation_key_prefix`, else
    /// `redis.key_prefix`; kept one access-token lifetime).
    pub fn from_settings(
        pool: crate::cache::RedisPool,
        jwt: &JwtSettings,
        redis: &crate::config::RedisSettings,
    ) -> Self {
        let prefix = jwt
            .revocation_key_prefix
            .as_deref()
            .unwrap_or(&redis.key_prefix);
        Self::new(pool, prefix, jwt.access_ttl_secs)
    }

    fn key(&self, session: Uuid) -> String {
        format!("{}revoked:session:{session}", self.prefix)
    }

    /// Ends `session`: its access tokens are refused where they are checked.
    pub async fn revoke(&self, session: Uuid) -> Result<(), crate::cache::CacheError> {
        let mut conn = self.pool.get().await?;
        redis::cmd("SET")
            .arg(self.key(session))
            .arg(1)
            .arg("EX")
            .arg(self.ttl_secs.max(1))
            .query_async::<()>(&mut conn)
            .await?;
        Ok(())
    }

    /// 401 when `caller`'s session was ended; 503 when Redis cannot tell.
    pub async fn check(&self, caller: &AuthUser) -> Result<(), ApiError> {
        let Some(session) = caller.session else {
            return Ok(());
        };
        let mut conn = self
            .pool
            .get()
            .await
            .map_err(crate::cache::CacheError::from)?;
        let ended: bool = redis::cmd("EXISTS")
            .arg(self.key(session))
            .query_async(&mut conn)
            .await
            .map_err(crate::cache::CacheError::from)?;
        if ended {
            Err(ApiError::unauthorized(
                "the access token's session has ended (logout or revoked refresh token)",
            ))
        } else {
            Ok(())
        }
    }
}
