/// A person's name: 1 to 100 characters after trimming, no control characters.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PersonName(String);

impl PersonName {
    pub fn parse(raw: &str) -> Result<Self, String> {
        let name = raw.trim();
        let n = name.chars().count();
        if n == 0 || n > 100 {
            return Err("the name must be 1 to 100 characters long".to_owned());
        }
        if name.chars().any(char::is_control) {
            return Err("the name must not contain control characters".to_owned());
        }
        Ok(Self(name.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::PersonName;

    #[test]
    fn accepts_names_and_trims_them() {
        for (raw, want) in [
            ("Rahim", "Rahim"),
            ("  আব্দুর রহিম ", "আব্দুর রহিম"),
            ("O'Brien-Smith", "O'Brien-Smith"),
        ] {
            assert_eq!(PersonName::parse(raw).map(|n| n.0), Ok(want.to_owned()));
        }
        assert!(PersonName::parse(&"ক".repeat(100)).is_ok());
    }

    #[test]
    fn rejects_empty_long_and_control_characters() {
        for raw in [
            "",
            "   ",
            "a\u{0}b",
            "line\nbreak",
            "tab\there",
            &"x".repeat(101),
        ] {
            assert!(
                PersonName::parse(raw).is_err(),
                "{raw:?} should be rejected"
            );
        }
    }
}
