//! The ticket signing key and the public keys that verify tickets (the current one and the
//! previous ones kept for rotation), and the text format of a signed ticket:
//! `RRT1.<base64url(JSON payload)>.<base64url(Ed25519 signature)>`, the signature made over
//! the ASCII bytes `RRT1.<base64url(JSON payload)>` (unpadded base64url, as in a JWS).

use anyhow::Context;
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use ed25519_dalek::pkcs8::{DecodePrivateKey, EncodePublicKey};
use ed25519_dalek::{Signature, Signer, SigningKey, Verifier, VerifyingKey};
use serde::Serialize;
use sha2::{Digest, Sha256};
use std::path::Path;

/// The format's prefix (version 1).
pub const PREFIX: &str = "RRT1";

/// A published public key: what `GET /api/tickets/keys` lists.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct PublicKey {
    /// Names the key inside a ticket's payload.
    pub kid: String,
    /// Always `EdDSA` (Ed25519).
    pub alg: &'static str,
    /// The raw 32-byte Ed25519 public key, base64url without padding.
    pub public_key: String,
    /// The same key as a PEM `PUBLIC KEY` (SubjectPublicKeyInfo).
    pub public_key_pem: String,
    /// Whether new tickets are signed with this key's private half.
    pub current: bool,
}

/// Why a ticket text is refused (all answered 400 `invalid_ticket`).
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum OpenError {
    #[error("this is not a RailRush ticket")]
    Unreadable,
    #[error("the ticket's key is unknown here")]
    UnknownKey,
    #[error("the ticket's signature does not match its contents")]
    BadSignature,
}

/// The signing key with its key id, and every key a ticket may be verified with.
pub struct TicketKeys {
    signing: SigningKey,
    kid: String,
    /// The current key first, then the previous ones.
    verifying: Vec<(String, VerifyingKey)>,
}

/// The key id of a public key: the first 8 bytes of its SHA-256, in hex.
pub fn kid(key: &VerifyingKey) -> String {
    hex::encode(&Sha256::digest(key.as_bytes())[..8])
}

impl TicketKeys {
    /// Signs with `signing`; also accepts tickets of the `previous` public keys.
    pub fn new(signing: SigningKey, previous: Vec<VerifyingKey>) -> Self {
        let current = signing.verifying_key();
        let kid = kid(&current);
        let mut verifying = vec![(kid.clone(), current)];
        for key in previous {
            let id = self::kid(&key);
            if verifying.iter().all(|(k, _)| *k != id) {
                verifying.push((id, key));
            }
        }
        Self {
            signing,
            kid,
            verifying,
        }
    }

    /// A random key for this process only (tickets it signs fail after a restart).
    pub fn random() -> Self {
        Self::new(SigningKey::from_bytes(&rand::random()), Vec::new())
    }

    /// Loads the PKCS#8 PEM private key at `signing` and the PEM public keys at `previous`.
    pub fn load(signing: &Path, previous: &[std::path::PathBuf]) -> anyhow::Result<Self> {
        let pem = std::fs::read(signing)
            .with_context(|| format!("reading the ticket signing key {}", signing.display()))?;
        let der = jsonwebtoken::EncodingKey::from_ed_pem(&pem)
            .context("parsing the ticket signing key (an Ed25519 PKCS#8 PEM)")?;
        let key = SigningKey::from_pkcs8_der(der.as_bytes())
            .map_err(|e| anyhow::anyhow!("the ticket signing key is not Ed25519: {e}"))?;
        let previous = previous
            .iter()
            .map(|path| load_public(path))
            .collect::<anyhow::Result<Vec<_>>>()?;
        Ok(Self::new(key, previous))
    }

    /// The id of the current key.
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// The signed ticket text of `payload`, which must name [`Self::kid`].
    pub fn sign(&self, payload: &[u8]) -> String {
        let body = format!("{PREFIX}.{}", URL_SAFE_NO_PAD.encode(payload));
        let signature = self.signing.sign(body.as_bytes());
        format!("{body}.{}", URL_SAFE_NO_PAD.encode(signature.to_bytes()))
    }

    /// The payload of a ticket text whose signature verifies under the key `kid_of(payload)`
    /// names.
    pub fn open(
        &self,
        text: &str,
        kid_of: impl FnOnce(&[u8]) -> Option<String>,
    ) -> Result<Vec<u8>, OpenError> {
        let mut parts = text.trim().split('.');
        let (Some(PREFIX), Some(payload), Some(signature), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(OpenError::Unreadable);
        };
        let bytes = URL_SAFE_NO_PAD
            .decode(payload)
            .map_err(|_| OpenError::Unreadable)?;
        let signature = URL_SAFE_NO_PAD
            .decode(signature)
            .ok()
            .and_then(|s| Signature::from_slice(&s).ok())
            .ok_or(OpenError::Unreadable)?;
        let kid = kid_of(&bytes).ok_or(OpenError::Unreadable)?;
        let (_, key) = self
            .verifying
            .iter()
            .find(|(k, _)| *k == kid)
            .ok_or(OpenError::UnknownKey)?;
        let signed = &text.trim()[..PREFIX.len() + 1 + payload.len()];
        key.verify(signed.as_bytes(), &signature)
            .map_err(|_| OpenError::BadSignature)?;
        Ok(bytes)
    }

    /// Every key that verifies tickets, the current one first.
    pub fn public(&self) -> Vec<PublicKey> {
        self.verifying
            .iter()
            .map(|(kid, key)| PublicKey {
                kid: kid.clone(),
                alg: "EdDSA",
                public_key: URL_SAFE_NO_PAD.encode(key.as_bytes()),
                public_key_pem: pem(key),
                current: *kid == self.kid,
            })
            .collect()
    }
}

fn load_public(path: &Path) -> anyhow::Result<VerifyingKey> {
    let pem = std::fs::read(path)
        .with_context(|| format!("reading the ticket public key {}", path.display()))?;
    let key = jsonwebtoken::DecodingKey::from_ed_pem(&pem)
        .with_context(|| format!("parsing the ticket public key {}", path.display()))?;
    let raw: &[u8; 32] = key
        .try_get_as_bytes()?
        .try_into()
        .with_context(|| format!("{} is not an Ed25519 public key", path.display()))?;
    VerifyingKey::from_bytes(raw)
        .map_err(|e| anyhow::anyhow!("{} is not an Ed25519 public key: {e}", path.display()))
}

/// The key as PEM SubjectPublicKeyInfo, in 64-character lines.
fn pem(key: &VerifyingKey) -> String {
    let Ok(der) = key.to_public_key_der() else {
        return String::new();
    };
    let b64 = STANDARD.encode(der.as_bytes());
    let mut out = String::from("-----BEGIN PUBLIC KEY-----\n");
    for line in b64.as_bytes().chunks(64) {
        out.push_str(&String::from_utf8_lossy(line));
        out.push('\n');
    }
    out.push_str("-----END PUBLIC KEY-----\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kid_in(payload: &[u8]) -> Option<String> {
        serde_json::from_slice::<serde_json::Value>(payload)
            .ok()?
            .get("kid")?
            .as_str()
            .map(str::to_owned)
    }

    #[test]
    fn a_signed_text_opens_with_its_key_and_is_the_same_each_time() {
        let keys = TicketKeys::random();
        let payload = serde_json::to_vec(&serde_json::json!({"kid": keys.kid(), "n": 1})).unwrap();
        let text = keys.sign(&payload);
        assert_eq!(text, keys.sign(&payload));
        assert!(text.starts_with("RRT1."));
        assert_eq!(keys.open(&text, kid_in).unwrap(), payload);
    }

    #[test]
    fn forged_altered_and_unknown_key_tickets_are_refused() {
        let keys = TicketKeys::random();
        let other = TicketKeys::random();
        let payload = serde_json::to_vec(&serde_json::json!({"kid": keys.kid()})).unwrap();
        let text = keys.sign(&payload);
        let altered = text.replacen(
            &URL_SAFE_NO_PAD.encode(&payload),
            &URL_SAFE_NO_PAD.encode(br#"{"kid":"x"}"#),
            1,
        );
        assert_eq!(keys.open(&altered, kid_in), Err(OpenError::UnknownKey));
        let forged = other.sign(&payload); // names keys' kid, signed by another key
        assert_eq!(keys.open(&forged, kid_in), Err(OpenError::BadSignature));
        let foreign = serde_json::to_vec(&serde_json::json!({"kid": other.kid()})).unwrap();
        assert_eq!(
            keys.open(&other.sign(&foreign), kid_in),
            Err(OpenError::UnknownKey)
        );
        for garbage in ["", "RRT1", "RRT1.a.b", "RRT2.e30.AA", "x.y.z.w"] {
            assert_eq!(keys.open(garbage, kid_in), Err(OpenError::Unreadable));
        }
    }

    #[test]
    fn a_previous_key_still_verifies_and_is_published_after_the_current_one() {
        let old = TicketKeys::random();
        let payload = serde_json::to_vec(&serde_json::json!({"kid": old.kid()})).unwrap();
        let text = old.sign(&payload);
        let rotated = TicketKeys::new(
            SigningKey::from_bytes(&rand::random()),
            vec![old.signing.verifying_key()],
        );
        assert_eq!(rotated.open(&text, kid_in).unwrap(), payload);
        let public = rotated.public();
        assert_eq!(public.len(), 2);
        assert!(public[0].current && !public[1].current);
        assert_eq!(public[1].kid, old.kid());
        assert!(
            public[0]
                .public_key_pem
                .starts_with("-----BEGIN PUBLIC KEY-----\n")
        );
        assert_eq!(
            URL_SAFE_NO_PAD.decode(&public[0].public_key).unwrap().len(),
            32
        );
    }
}
