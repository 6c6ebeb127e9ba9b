use secrecy::{ExposeSecret, SecretString};

/// A password of 8 to 128 characters. Never printed.
#[derive(Debug)]
pub struct Password(SecretString);

impl Password {
    pub const MIN: usize = 8;
    pub const MAX: usize = 128;

    pub fn parse(raw: SecretString) -> Result<Self, String> {
        let n = raw.expose_secret().chars().count();
        if (Self::MIN..=Self::MAX).contains(&n) {
            Ok(Self(raw))
        } else {
            Err(format!(
                "the password must be {} to {} characters long",
                Self::MIN,
                Self::MAX
            ))
        }
    }

    pub fn secret(&self) -> &SecretString {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::Password;

    #[test]
    fn length_is_counted_in_characters() {
        for (raw, ok) in [
            ("", false),
            ("1234567", false),
            ("12345678", true),
            ("পাসওয়ার্ড১২", true),
            ("ব্যাং", false),
            (&"x".repeat(128), true),
            (&"x".repeat(129), false),
        ] {
            assert_eq!(Password::parse(raw.into()).is_ok(), ok, "{raw:?}");
        }
    }

    #[test]
    fn debug_output_hides_the_password() {
        let p = Password::parse("hunter2hunter2".into());
        assert!(!format!("{p:?}").contains("hunter2"));
    }
}
