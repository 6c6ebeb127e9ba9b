//! The test signing keys and the access tokens and users made with them.

use crate::auth::{Role, Roles};
use crate::config::JwtSettings;
use anyhow::{Context, bail};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use uuid::Uuid;

/// Paths of Ed25519 PEM keys for tests, made once with `openssl` and reused.
pub struct TestKeys {
    pub private: PathBuf,
    pub public: PathBuf,
    /// A second private key, whose tokens the first public key must reject.
    pub other_private: PathBuf,
}

/// The test keys: generated once per machine into the temp dir (atomically, so parallel
/// test processes agree) and reused.
pub fn keys() -> anyhow::Result<&'static TestKeys> {
    static KEYS: OnceLock<TestKeys> = OnceLock::new();
    static MAKING: std::sync::Mutex<()> = std::sync::Mutex::new(());
    if let Some(k) = KEYS.get() {
        return Ok(k);
    }
    let _guard = MAKING
        .lock()
        .map_err(|_| anyhow::anyhow!("key lock poisoned"))?;
    if let Some(k) = KEYS.get() {
        return Ok(k);
    }
    let dir = std::env::temp_dir().join("railrush-test-keys");
    if !dir.join("other_private.pem").exists() {
        let staging = std::env::temp_dir().join(format!("railrush-test-keys-{}", Uuid::new_v4()));
        std::fs::create_dir_all(&staging)?;
        generate(&staging.join("private.pem"), &staging.join("public.pem"))?;
        generate(
            &staging.join("other_private.pem"),
            &staging.join("other_public.pem"),
        )?;
        // Another process may have won the race; then its keys are used and ours dropped.
        if std::fs::rename(&staging, &dir).is_err() {
            std::fs::remove_dir_all(&staging)?;
        }
    }
    Ok(KEYS.get_or_init(|| TestKeys {
        private: dir.join("private.pem"),
        public: dir.join("public.pem"),
        other_private: dir.join("other_private.pem"),
    }))
}

fn generate(private: &Path, public: &Path) -> anyhow::Result<()> {
    let run = |args: &[&str]| -> anyhow::Result<()> {
        let status = Command::new("openssl")
            .args(args)
            .status()
            .context("running openssl")?;
        if !status.success() {
            bail!("openssl {args:?} failed");
        }
        Ok(())
    };
    let (private, public) = (path_str(private)?, path_str(public)?);
    run(&["genpkey", "-algorithm", "ed25519", "-out", private])?;
    run(&["pkey", "-in", private, "-pubout", "-out", public])
}

fn path_str(p: &Path) -> anyhow::Result<&str> {
    p.to_str().context("non-UTF-8 temp path")
}

/// JWT settings with the test keys; `with_private` for the issuing service.
pub fn jwt_settings(with_private: bool) -> anyhow::Result<JwtSettings> {
    let k = keys()?;
    Ok(JwtSettings {
        public_key_path: k.public.clone(),
        private_key_path: with_private.then(|| k.private.clone()),
        ..JwtSettings::default()
    })
}

/// An access token for `user` with the role `role` (`passenger`/`user`, `conductor`,
/// `admin`), signed with the private key at `key` the way auth-service signs them (valid 15
/// minutes): `roles` and the legacy `role` claim.
pub fn sign_token(user: Uuid, role: &str, key: &Path) -> anyhow::Result<String> {
    sign_claims(user, role, false, false, key)
}

/// Like [`sign_token`], claiming a verified phone and NID as said.
pub fn sign_claims(
    user: Uuid,
    role: &str,
    phone_verified: bool,
    nid_verified: bool,
    key: &Path,
) -> anyhow::Result<String> {
    let roles = Roles::from_names([role]);
    let legacy = if roles.contains(Role::Admin) {
        "admin"
    } else {
        "user"
    };
    sign_json(
        user,
        serde_json::json!({"roles": roles, "role": legacy,
            "phone_verified": phone_verified, "nid_verified": nid_verified}),
        key,
    )
}

/// A token as auth-service signed them before roles were a set: `"role": role` only.
pub fn sign_legacy_token(user: Uuid, role: &str, key: &Path) -> anyhow::Result<String> {
    sign_json(user, serde_json::json!({ "role": role }), key)
}

/// A token for `user` valid 15 minutes with the standard claims and `extra`.
fn sign_json(user: Uuid, extra: serde_json::Value, key: &Path) -> anyhow::Result<String> {
    let now = chrono::Utc::now().timestamp();
    let mut claims = serde_json::json!({"sub": user, "iss": "railrush-auth", "aud": "railrush",
        "exp": now + 900, "iat": now, "jti": Uuid::new_v4()});
    if let (Some(claims), Some(extra)) = (claims.as_object_mut(), extra.as_object()) {
        claims.extend(extra.clone());
    }
    let pem = std::fs::read(key)?;
    Ok(jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::EdDSA),
        &claims,
        &jsonwebtoken::EncodingKey::from_ed_pem(&pem)?,
    )?)
}

/// An access token for `user`, a passenger, signed with the test key.
pub fn user_token(user: Uuid) -> anyhow::Result<String> {
    sign_token(user, "passenger", &keys()?.private)
}

/// A passenger as the services see one: an id and a valid access token for it.
#[derive(Clone, Debug)]
pub struct User {
    pub id: Uuid,
    pub token: String,
}

/// A new passenger (a random id) with a valid token.
pub fn user() -> User {
    let id = Uuid::new_v4();
    match user_token(id) {
        Ok(token) => User { id, token },
        Err(e) => panic!("signing a test token: {e:#}"),
    }
}

/// A new passenger whose token claims a verified phone and NID (may join waiting rooms).
pub fn verified_user() -> User {
    let id = Uuid::new_v4();
    let token = keys().and_then(|k| sign_claims(id, "passenger", true, true, &k.private));
    match token {
        Ok(token) => User { id, token },
        Err(e) => panic!("signing a test token: {e:#}"),
    }
}
