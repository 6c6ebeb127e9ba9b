//! NID verification ("one account per citizen"): a [`NidVerifier`] asks whether a citizen
//! with this number exists; [`NidKey`] turns a number into what is stored, a keyed hash
//! (HMAC-SHA256 under the server's NID key, unique across accounts) and a masked form. The
//! number itself is never stored, logged or answered.

pub mod http;

use crate::domain::Nid;
use crate::settings::{NidSettings, NidVerifierKind, load_secret};
use anyhow::Context;
use hmac::{Hmac, Mac};
use secrecy::{ExposeSecret, SecretString};
use servicekit::ApiError;
use sha2::Sha256;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

pub type VerifyFuture<'a> = Pin<Box<dyn Future<Output = Result<(), VerifyError>> + Send + 'a>>;

/// Why an NID was not verified.
#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    /// The verifier knows no citizen with this number.
    #[error("no citizen with this NID was found")]
    NotFound,
    /// The verifier could not be asked (down, slow, misconfigured); try again later.
    #[error("the NID verifier is unavailable: {0}")]
    Unavailable(String),
}

impl From<VerifyError> for ApiError {
    fn from(e: VerifyError) -> Self {
        match e {
            VerifyError::NotFound => ApiError::invalid_field("nid", e.to_string()),
            VerifyError::Unavailable(_) => ApiError::unavailable(e),
        }
    }
}

/// Asks whether a citizen with this NID exists.
pub trait NidVerifier: Send + Sync {
    fn verify<'a>(&'a self, nid: &'a Nid) -> VerifyFuture<'a>;
}

/// The built-in verifier: every well-formed number exists except those ending in `0000`.
pub struct TestNidVerifier;

impl NidVerifier for TestNidVerifier {
    fn verify<'a>(&'a self, nid: &'a Nid) -> VerifyFuture<'a> {
        let found = !nid.expose().ends_with("0000");
        Box::pin(async move {
            if found {
                Ok(())
            } else {
                Err(VerifyError::NotFound)
            }
        })
    }
}

/// The verifier `settings.kind` names.
pub fn verifier_from_settings(settings: &NidSettings) -> anyhow::Result<Arc<dyn NidVerifier>> {
    Ok(match settings.kind {
        NidVerifierKind::Test => Arc::new(TestNidVerifier),
        NidVerifierKind::Http => Arc::new(http::HttpNidVerifier::from_settings(settings)?),
    })
}

/// Key of the development and test NID hashes (the test verifier only).
const DEV_KEY: &str = "railrush-development-nid-key";

/// The server's NID key: what an NID is stored as.
pub struct NidKey(SecretString);

impl NidKey {
    pub fn from_settings(settings: &NidSettings) -> anyhow::Result<Self> {
        let configured = load_secret(
            settings.secret.as_ref(),
            settings.secret_path.as_deref(),
            "NID secret",
        )?;
        let secret = match configured {
            Some(s) => s,
            None if settings.kind == NidVerifierKind::Test => {
                tracing::warn!("no NID secret configured: using the development key");
                DEV_KEY.into()
            }
            None => anyhow::bail!("nid.secret or nid.secret_path is required"),
        };
        anyhow::ensure!(
            !secret.expose_secret().is_empty(),
            "the NID secret is empty"
        );
        Ok(Self(secret))
    }

    /// HMAC-SHA256 of the number under the key, hex.
    pub fn hash(&self, nid: &Nid) -> anyhow::Result<String> {
        let mut mac = Hmac::<Sha256>::new_from_slice(self.0.expose_secret().as_bytes())
            .context("the NID key")?;
        mac.update(nid.expose().as_bytes());
        Ok(hex::encode(mac.finalize().into_bytes()))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn the_hash_is_keyed_and_hides_the_number() {
        let nid = Nid::parse("1234567890").unwrap();
        let key = |s: &str| NidKey(s.to_owned().into());
        let a = key("one").hash(&nid).unwrap();
        assert_eq!(a, key("one").hash(&nid).unwrap());
        assert_ne!(a, key("two").hash(&nid).unwrap());
        assert_eq!(a.len(), 64);
        assert!(!a.contains("1234567890"));
    }

    #[test]
    fn http_needs_a_key_and_test_has_a_development_one() {
        let mut settings = NidSettings::default();
        assert!(NidKey::from_settings(&settings).is_ok());
        settings.kind = NidVerifierKind::Http;
        assert!(NidKey::from_settings(&settings).is_err());
        settings.secret = Some("k".to_owned().into());
        assert!(NidKey::from_settings(&settings).is_ok());
    }
}
