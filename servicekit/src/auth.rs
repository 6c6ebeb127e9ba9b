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

/// A role of an account. Everyone is a `passenger` (implicit: never stored, always held);
/// `conductor` checks tickets, `admin` runs the railway. docs/architecture.md, "Roles".
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Passenger,
    Conductor,
    Admin,
}

impl Role {
    /// Every role, in the order [`Roles::names`] lists them (by name).
    pub const ALL: [Role; 3] = [Role::Admin, Role::Conductor, Role::Passenger];

    pub const fn as_str(self) -> &'static str {
        match self {
            Role::Passenger => "passenger",
            Role::Conductor => "conductor",
            Role::Admin => "admin",
        }
    }

    /// The role with this name (`passenger`, `conductor`, `admin`).
    pub fn parse(name: &str) -> Option<Role> {
        Self::ALL.into_iter().find(|r| r.as_str() == name)
    }

    const fn bit(self) -> u8 {
        match self {
            Role::Passenger => 0,
            Role::Conductor => 1,
            Role::Admin => 2,
        }
    }
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A set of roles, `Copy` (a bitset). `passenger` is always in it.
///
/// In a token it is the list of the roles besides `passenger` (`"roles": ["conductor"]`);
/// reading one, `passenger` and names this release does not know are ignored (a newer
/// auth-service may grant a role an older service has never heard of).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Roles(u8);

impl Default for Roles {
    fn default() -> Self {
        Self::PASSENGER
    }
}

impl Roles {
    /// Only `passenger`: what every account has.
    pub const PASSENGER: Roles = Roles(1 << Role::Passenger.bit());

    /// `passenger` and `roles`.
    pub fn of(roles: &[Role]) -> Roles {
        roles.iter().fold(Self::PASSENGER, |set, r| set.with(*r))
    }

    /// Whether the set has `role` (`passenger`: always).
    pub const fn contains(self, role: Role) -> bool {
        self.0 & (1 << role.bit()) != 0
    }

    /// The set with `role` added.
    #[must_use]
    pub const fn with(self, role: Role) -> Roles {
        Roles(self.0 | (1 << role.bit()))
    }

    /// The set without `role` (`passenger` stays).
    #[must_use]
    pub const fn without(self, role: Role) -> Roles {
        Roles((self.0 & !(1 << role.bit())) | Self::PASSENGER.0)
    }

    /// Whether the set has any of `roles`.
    pub fn contains_any(self, roles: &[Role]) -> bool {
        roles.iter().any(|r| self.contains(*r))
    }

    /// The roles, by name (`admin`, `conductor`, `passenger`): the stable order of
    /// `User.roles`.
    pub fn iter(self) -> impl Iterator<Item = Role> {
        Role::ALL.into_iter().filter(move |r| self.contains(*r))
    }

    /// The names of the roles, `passenger` included, by name.
    pub fn names(self) -> Vec<&'static str> {
        self.iter().map(Role::as_str).collect()
    }

    /// The roles besides `passenger`, by name: what a token and the database store.
    pub fn granted(self) -> Vec<&'static str> {
        self.iter()
            .filter(|r| *r != Role::Passenger)
            .map(Role::as_str)
            .collect()
    }

    /// The set named by `names`, ignoring names that are not roles.
    pub fn from_names<'a>(names: impl IntoIterator<Item = &'a str>) -> Roles {
        names
            .into_iter()
            .filter_map(Role::parse)
            .fold(Self::PASSENGER, Roles::with)
    }
}

impl std::fmt::Debug for Roles {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_set().entries(self.iter()).finish()
    }
}

impl Serialize for Roles {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(self.granted())
    }
}

impl<'de> Deserialize<'de> for Roles {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let names = Vec::<std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        Ok(Roles::from_names(names.iter().map(|n| n.as_ref())))
    }
}

/// The claim `role` of tokens issued before roles were a set: `"user"` or `"admin"`. Still
/// written beside `roles` (`"admin"` for admins, else `"user"`) so that services of the
/// previous release keep reading admins during a rolling upgrade; read: `"admin"` is the
/// admin role, anything else nothing.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LegacyRole {
    User,
    Admin,
    #[serde(other)]
    Other,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct Claims {
    pub sub: Uuid,
    pub iss: String,
    pub aud: String,
    pub exp: i64,
    pub iat: i64,
    pub jti: Uuid,
    /// The roles besides `passenger` (`["conductor"]`, `["admin"]`, `[]`).
    #[serde(default)]
    pub roles: Roles,
    /// The claim of tokens issued before `roles` ([`LegacyRole`]); `"admin"` counts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<LegacyRole>,
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

impl Claims {
    /// Every role the token grants: `roles`, plus `admin` for a token that says
    /// `"role": "admin"` (issued before `roles`, or by this release for older readers).
    pub fn all_roles(&self) -> Roles {
        match self.role {
            Some(LegacyRole::Admin) => self.roles.with(Role::Admin),
            _ => self.roles,
        }
    }
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
    pub fn issue(&self, user: Uuid, roles: Roles) -> anyhow::Result<String> {
        self.issue_verified(user, roles, Verified::default())
    }

    /// A signed access token for `user` that claims what the account has verified.
    pub fn issue_verified(
        &self,
        user: Uuid,
        roles: Roles,
        verified: Verified,
    ) -> anyhow::Result<String> {
        self.issue_session(user, roles, verified, None)
    }

    /// Like [`Self::issue_verified`], for the session `sid` (the refresh-token family).
    pub fn issue_session(
        &self,
        user: Uuid,
        roles: Roles,
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
            roles,
            role: Some(if roles.contains(Role::Admin) {
                LegacyRole::Admin
            } else {
                LegacyRole::User
            }),
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
        let user = AuthUser::from_claims(&claims);
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
    /// As claimed by the token (a role change shows from the next sign-in or refresh).
    pub roles: Roles,
    /// As claimed by the token (as of its issue: a later verification shows from the next
    /// sign-in or refresh).
    pub verified: Verified,
    /// The token's session (`sid`), when it names one.
    pub session: Option<Uuid>,
}

impl AuthUser {
    /// The caller a verified token names.
    pub fn from_claims(claims: &Claims) -> Self {
        Self {
            id: claims.sub,
            roles: claims.all_roles(),
            verified: Verified {
                phone: claims.phone_verified,
                nid: claims.nid_verified,
            },
            session: claims.sid,
        }
    }

    /// Whether the caller has `role` (`passenger`: everyone).
    pub fn has_role(&self, role: Role) -> bool {
        self.roles.contains(role)
    }

    /// 403 `forbidden` unless the caller is an admin.
    pub fn require_admin(&self) -> Result<(), ApiError> {
        self.require_any(&[Role::Admin])
    }

    /// 403 `forbidden` unless the caller has one of `roles`.
    pub fn require_any(&self, roles: &[Role]) -> Result<(), ApiError> {
        if self.roles.contains_any(roles) {
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
        // On every confirm: the request paths' connection, no checkout.
        let mut conn = self
            .pool
            .multiplexed()
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

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn claims(extra: serde_json::Value) -> Claims {
        let mut claims = json!({
            "sub": Uuid::new_v4(), "iss": "railrush-auth", "aud": "railrush",
            "exp": 2_000_000_000, "iat": 1_700_000_000, "jti": Uuid::new_v4()
        });
        if let (Some(c), Some(e)) = (claims.as_object_mut(), extra.as_object()) {
            c.extend(e.clone());
        }
        serde_json::from_value(claims).unwrap()
    }

    fn caller(extra: serde_json::Value) -> AuthUser {
        AuthUser::from_claims(&claims(extra))
    }

    #[test]
    fn a_set_of_roles_always_holds_passenger_and_lists_by_name() {
        assert_eq!(Roles::default(), Roles::PASSENGER);
        assert_eq!(Roles::PASSENGER.names(), ["passenger"]);
        let all = Roles::of(&[Role::Conductor, Role::Admin]);
        assert_eq!(all.names(), ["admin", "conductor", "passenger"]);
        assert_eq!(all.granted(), ["admin", "conductor"]);
        assert_eq!(all.without(Role::Admin).names(), ["conductor", "passenger"]);
        assert!(all.without(Role::Passenger).contains(Role::Passenger));
        assert_eq!(
            Roles::from_names(["conductor", "pilot", "passenger"]),
            Roles::of(&[Role::Conductor])
        );
        assert_eq!(format!("{all:?}"), "{Admin, Conductor, Passenger}");
        for role in Role::ALL {
            assert_eq!(Role::parse(role.as_str()), Some(role));
        }
        assert_eq!(Role::parse("user"), None);
    }

    #[test]
    fn a_token_with_roles_grants_them_and_ignores_unknown_names() {
        let conductor = caller(json!({"roles": ["conductor"]}));
        assert!(conductor.has_role(Role::Conductor));
        assert!(conductor.has_role(Role::Passenger));
        assert!(!conductor.has_role(Role::Admin));
        assert!(conductor.require_admin().is_err());
        assert!(
            conductor
                .require_any(&[Role::Conductor, Role::Admin])
                .is_ok()
        );

        let future = caller(json!({"roles": ["admin", "auditor"], "role": "auditor"}));
        assert_eq!(future.roles, Roles::of(&[Role::Admin]));
        assert!(future.require_admin().is_ok());

        let passenger = caller(json!({}));
        assert_eq!(passenger.roles, Roles::PASSENGER);
        let refused = passenger
            .require_any(&[Role::Conductor, Role::Admin])
            .unwrap_err();
        assert_eq!(refused.code(), crate::error::Code::Forbidden);
    }

    #[test]
    fn an_old_style_token_with_role_admin_is_still_an_admin() {
        let admin = caller(json!({"role": "admin"}));
        assert!(admin.require_admin().is_ok());
        assert!(admin.has_role(Role::Admin));
        assert!(!admin.has_role(Role::Conductor));
        let user = caller(json!({"role": "user"}));
        assert_eq!(user.roles, Roles::PASSENGER);
        assert!(user.require_admin().is_err());
    }

    /// Signed by the issuer, read by the verifier: `roles` and the legacy `role` both go out,
    /// so the previous release's verifiers (which read only `role`) still see admins.
    #[cfg(feature = "testing")]
    #[test]
    fn issued_tokens_carry_roles_and_the_legacy_role() {
        let settings = crate::testing::jwt_settings(true).unwrap();
        let issuer = JwtIssuer::from_settings(&settings).unwrap();
        let verifier = JwtVerifier::from_settings(&settings).unwrap();
        let user = Uuid::new_v4();
        for (roles, legacy) in [
            (Roles::PASSENGER, LegacyRole::User),
            (Roles::of(&[Role::Conductor]), LegacyRole::User),
            (
                Roles::of(&[Role::Admin, Role::Conductor]),
                LegacyRole::Admin,
            ),
        ] {
            let token = issuer.issue(user, roles).unwrap();
            let claims = verifier.verify(&token).unwrap();
            assert_eq!(claims.roles, roles);
            assert_eq!(claims.role, Some(legacy));
            assert_eq!(verifier.authenticate(&token).unwrap().roles, roles);
        }
        let old = crate::testing::sign_legacy_token(
            user,
            "admin",
            &crate::testing::keys().unwrap().private,
        )
        .unwrap();
        let admin = verifier.authenticate(&old).unwrap();
        assert_eq!(admin.roles, Roles::of(&[Role::Admin]));
    }
}
