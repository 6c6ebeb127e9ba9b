//! Queue passes: what an admitted user shows on select and confirm while their sale's waiting
//! room is active. A pass is `rp1.<sale_id>.<user>.<expires_unix>.<mac>`, the MAC an
//! HMAC-SHA256 (base64url) over everything before it, under a key only booking-service
//! holds (every replica the same one, from `queue.pass_key` or `queue.pass_key_path`). It is
//! verified with no store round trip: the signature, then the sale, the user and the expiry.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use secrecy::{ExposeSecret, SecretString};
use uuid::Uuid;

type HmacSha256 = Hmac<Sha256>;
use sha2::Sha256;

const VERSION: &str = "rp1";

/// Why a pass is refused (all answer 403 `queue_pass_invalid`; the reason is logged and
/// counted, never told).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    Malformed,
    BadSignature,
    OtherSale,
    OtherUser,
    Expired,
}

impl Refusal {
    pub fn label(self) -> &'static str {
        match self {
            Self::Malformed => "malformed",
            Self::BadSignature => "bad_signature",
            Self::OtherSale => "other_sale",
            Self::OtherUser => "other_user",
            Self::Expired => "expired",
        }
    }
}

/// Signs and verifies passes.
pub struct PassKey {
    mac: HmacSha256,
}

impl PassKey {
    pub fn new(secret: &SecretString) -> anyhow::Result<Self> {
        let key = secret.expose_secret().as_bytes();
        anyhow::ensure!(key.len() >= 16, "queue.pass_key must be at least 16 bytes");
        Ok(Self {
            mac: HmacSha256::new_from_slice(key)?,
        })
    }

    fn tag(&self, signed: &str) -> Vec<u8> {
        let mut mac = self.mac.clone();
        mac.update(signed.as_bytes());
        mac.finalize().into_bytes().to_vec()
    }

    /// A pass for `user` in `sale`, valid until `expires_at`.
    pub fn issue(&self, sale_id: &str, user: Uuid, expires_at: DateTime<Utc>) -> String {
        let signed = format!(
            "{VERSION}.{sale_id}.{}.{}",
            user.simple(),
            expires_at.timestamp()
        );
        let tag = URL_SAFE_NO_PAD.encode(self.tag(&signed));
        format!("{signed}.{tag}")
    }

    /// Checks `pass` for `user` in `sale_id` at `now`, accepting it up to `grace` past its
    /// expiry (confirm allows a hold taken with a valid pass to be confirmed).
    pub fn verify(
        &self,
        pass: &str,
        sale_id: &str,
        user: Uuid,
        now: DateTime<Utc>,
        grace: chrono::Duration,
    ) -> Result<(), Refusal> {
        let (signed, tag) = pass.rsplit_once('.').ok_or(Refusal::Malformed)?;
        let mut parts = signed.split('.');
        let (Some(VERSION), Some(sale), Some(owner), Some(expires), None) = (
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
        ) else {
            return Err(Refusal::Malformed);
        };
        let tag = URL_SAFE_NO_PAD
            .decode(tag)
            .map_err(|_| Refusal::Malformed)?;
        let mut mac = self.mac.clone();
        mac.update(signed.as_bytes());
        mac.verify_slice(&tag).map_err(|_| Refusal::BadSignature)?;
        if sale != sale_id {
            return Err(Refusal::OtherSale);
        }
        if Uuid::parse_str(owner).ok() != Some(user) {
            return Err(Refusal::OtherUser);
        }
        let expires: i64 = expires.parse().map_err(|_| Refusal::Malformed)?;
        if now.timestamp() >= expires + grace.num_seconds() {
            return Err(Refusal::Expired);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(k: &str) -> PassKey {
        PassKey::new(&SecretString::from(k.to_owned())).unwrap()
    }

    #[test]
    fn a_pass_verifies_only_for_its_user_sale_and_lifetime() {
        let k = key("0123456789abcdef0123456789abcdef");
        let (user, other) = (Uuid::new_v4(), Uuid::new_v4());
        let now = Utc::now();
        let exp = now + chrono::Duration::seconds(60);
        let pass = k.issue("20261210T020000Z", user, exp);
        let none = chrono::Duration::zero();
        assert_eq!(k.verify(&pass, "20261210T020000Z", user, now, none), Ok(()));
        assert_eq!(
            k.verify(&pass, "20261211T020000Z", user, now, none),
            Err(Refusal::OtherSale)
        );
        assert_eq!(
            k.verify(&pass, "20261210T020000Z", other, now, none),
            Err(Refusal::OtherUser)
        );
        let later = exp + chrono::Duration::seconds(1);
        assert_eq!(
            k.verify(&pass, "20261210T020000Z", user, later, none),
            Err(Refusal::Expired)
        );
        let grace = chrono::Duration::seconds(300);
        assert_eq!(
            k.verify(&pass, "20261210T020000Z", user, later, grace),
            Ok(())
        );
        // Another key's pass, and any change to a signed part, are refused.
        let forged = key("another-key-another-key-another!!").issue("20261210T020000Z", user, exp);
        assert_eq!(
            k.verify(&forged, "20261210T020000Z", user, now, none),
            Err(Refusal::BadSignature)
        );
        let stretched = pass.replacen(
            &exp.timestamp().to_string(),
            &(exp.timestamp() + 3600).to_string(),
            1,
        );
        assert_eq!(
            k.verify(&stretched, "20261210T020000Z", user, later, none),
            Err(Refusal::BadSignature)
        );
        for junk in ["", "rp1", "rp1.a.b.c", "x.y.z.w.v", "rp1.a.b.c.d.e"] {
            assert!(k.verify(junk, "a", user, now, none).is_err(), "{junk}");
        }
    }
}
