/// A phone number in E.164 form: `+`, a non-zero digit, then 7 to 14 more digits.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Phone(String);

impl Phone {
    pub fn parse(raw: &str) -> Result<Self, String> {
        let phone = raw.trim();
        let digits = phone.strip_prefix('+').unwrap_or("");
        let valid = (8..=15).contains(&digits.len())
            && digits.bytes().all(|b| b.is_ascii_digit())
            && !digits.starts_with('0');
        if valid {
            Ok(Self(phone.to_owned()))
        } else {
            Err("the phone number must be in E.164 form, like +8801712345678".to_owned())
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::Phone;

    #[test]
    fn accepts_e164_numbers() {
        for raw in [
            "+8801712345678",
            "+14155552671",
            " +447911123456 ",
            "+12345678",
        ] {
            assert_eq!(
                Phone::parse(raw).map(|p| p.0),
                Ok(raw.trim().to_owned()),
                "{raw}"
            );
        }
    }

    #[test]
    fn rejects_everything_else() {
        for raw in [
            "",
            "+",
            "01712345678",
            "8801712345678",
            "+0801712345678",
            "+880 1712 345678",
            "+880-1712345678",
            "+1234567",
            "+1234567890123456",
            "+88017123456ab",
        ] {
            assert!(Phone::parse(raw).is_err(), "{raw} should be rejected");
        }
    }
}
