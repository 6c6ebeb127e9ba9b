use validator::ValidateEmail;

/// A syntactically valid e-mail address, trimmed and lower-cased.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Email(String);

impl Email {
    pub fn parse(raw: &str) -> Result<Self, String> {
        let email = raw.trim().to_lowercase();
        if email.len() > 254 || !email.validate_email() || !email.contains('.') {
            return Err(format!("'{}' is not a valid e-mail address", raw.trim()));
        }
        Ok(Self(email))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::Email;

    #[test]
    fn accepts_and_normalises_valid_addresses() {
        for (raw, want) in [
            ("rahim@example.com", "rahim@example.com"),
            ("  Rahim.Uddin@Example.COM ", "rahim.uddin@example.com"),
            ("a+b@mail.example.bd", "a+b@mail.example.bd"),
        ] {
            assert_eq!(Email::parse(raw).map(|e| e.0), Ok(want.to_owned()), "{raw}");
        }
    }

    #[test]
    fn rejects_invalid_addresses() {
        let long = format!("{}@example.com", "a".repeat(250));
        for raw in [
            "",
            "rahim",
            "rahim@",
            "@example.com",
            "ra him@example.com",
            "rahim@example",
            long.as_str(),
        ] {
            assert!(Email::parse(raw).is_err(), "{raw} should be rejected");
        }
    }
}
