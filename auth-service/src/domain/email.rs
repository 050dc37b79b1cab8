use std::fmt;

/// An email address, trimmed and lower-cased, of a plausible shape (`local@domain.tld`).
///
/// Deliverability is not checked here; that is what verification is for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Email(String);

/// Longest address the `users.email` column holds.
const MAX_LENGTH: usize = 255;

impl Email {
    /// Normalises and checks a raw address.
    pub fn parse(raw: &str) -> Result<Self, String> {
        let email = raw.trim().to_lowercase();
        if email.is_empty() {
            return Err("must not be empty".into());
        }
        if email.chars().count() > MAX_LENGTH {
            return Err(format!("must be at most {MAX_LENGTH} characters"));
        }
        if email.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err("must not contain spaces or control characters".into());
        }
        let Some((local, domain)) = email.split_once('@') else {
            return Err("must look like name@example.com".into());
        };
        let domain_ok = !domain.contains('@')
            && domain.contains('.')
            && domain.split('.').all(|label| !label.is_empty() && !label.starts_with('-') && !label.ends_with('-'));
        if local.is_empty() || local.chars().count() > 64 || !domain_ok {
            return Err("must look like name@example.com".into());
        }
        Ok(Self(email))
    }

    /// The normalised address.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::Email;

    #[test]
    fn addresses_are_trimmed_and_lower_cased() {
        assert_eq!(Email::parse("  Ada.Lovelace@Example.COM ").map(|e| e.0), Ok("ada.lovelace@example.com".into()));
    }

    #[test]
    fn malformed_addresses_are_refused() {
        for raw in
            ["", "   ", "plain", "@example.com", "a@", "a@b", "a@@b.com", "a b@c.com", "a@.com", "a@b..com", "a@-b.com"]
        {
            assert!(Email::parse(raw).is_err(), "{raw:?} was accepted");
        }
        let long = format!("{}@example.com", "a".repeat(250));
        assert!(Email::parse(&long).is_err());
    }
}
