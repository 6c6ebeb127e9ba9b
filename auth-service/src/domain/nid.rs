/// A Bangladesh national ID number: 10 or 17 ASCII digits, nothing else (no spaces, no
/// dashes). Its `Debug` shows only the masked form, so it never reaches a log in clear.
#[derive(Clone, PartialEq, Eq)]
pub struct Nid(String);

impl Nid {
    pub fn parse(raw: &str) -> Result<Self, String> {
        let valid = matches!(raw.len(), 10 | 17) && raw.bytes().all(|b| b.is_ascii_digit());
        if valid {
            Ok(Self(raw.to_owned()))
        } else {
            Err("the NID must be 10 or 17 digits".to_owned())
        }
    }

    /// The number in clear: for the verifier and the keyed hash only.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Stars for all but the last 4 digits, like `******1234`.
    pub fn masked(&self) -> String {
        let keep = self.0.len() - 4;
        format!("{}{}", "*".repeat(keep), &self.0[keep..])
    }
}

impl std::fmt::Debug for Nid {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Nid({})", self.masked())
    }
}

#[cfg(test)]
mod tests {
    use super::Nid;

    #[test]
    fn accepts_10_and_17_digits() {
        for raw in ["1234567890", "19901234567890123", "0000000001"] {
            assert_eq!(Nid::parse(raw).map(|n| n.0), Ok(raw.to_owned()), "{raw}");
        }
    }

    #[test]
    fn rejects_everything_else() {
        for raw in [
            "",
            "123456789",
            "12345678901",
            "1234567890123456",
            "123456789012345678",
            " 1234567890",
            "1234567890 ",
            "12345-67890",
            "123456789a",
            "١٢٣٤٥٦٧٨٩٠", // Arabic-Indic digits are not ASCII digits
            "+123456789",
        ] {
            assert!(Nid::parse(raw).is_err(), "{raw:?} should be rejected");
        }
    }

    #[test]
    fn masks_all_but_the_last_four() {
        let nid = Nid::parse("1234567890").unwrap();
        assert_eq!(nid.masked(), "******7890");
        assert_eq!(format!("{nid:?}"), "Nid(******7890)");
        let nid = Nid::parse("19901234567890123").unwrap();
        assert_eq!(nid.masked(), "*************0123");
    }
}
