use std::fmt;

/// A candidate password within NIST SP 800-63B's bounds: at least 8 characters, and at most
/// 128 so that nobody can make the service hash megabytes (hash flooding). Any character is
/// allowed, long passphrases included. `Debug` never shows it.
#[derive(Clone)]
pub struct Password(String);

/// Fewest characters accepted for a new password.
pub const MIN_LENGTH: usize = 8;
/// Most characters accepted for any password.
pub const MAX_LENGTH: usize = 128;

impl Password {
    /// Checks a new password's length.
    pub fn parse(raw: &str) -> Result<Self, String> {
        let length = raw.chars().count();
        if length < MIN_LENGTH {
            return Err(format!("must be at least {MIN_LENGTH} characters"));
        }
        if length > MAX_LENGTH {
            return Err(format!("must be at most {MAX_LENGTH} characters"));
        }
        Ok(Self(raw.to_owned()))
    }

    /// A password given to be checked (login, current password): only the upper bound applies,
    /// so an old short password can still be verified.
    pub fn parse_for_check(raw: &str) -> Result<Self, String> {
        if raw.chars().count() > MAX_LENGTH {
            return Err(format!("must be at most {MAX_LENGTH} characters"));
        }
        Ok(Self(raw.to_owned()))
    }

    /// The password's bytes, for hashing.
    pub fn as_bytes(&self) -> &[u8] {
        self.0.as_bytes()
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password(<redacted>)")
    }
}

#[cfg(test)]
mod tests {
    use super::Password;

    #[test]
    fn length_bounds_count_characters_not_bytes() {
        assert!(Password::parse("1234567").is_err());
        assert!(Password::parse("12345678").is_ok());
        assert!(Password::parse(&"ü".repeat(128)).is_ok());
        assert!(Password::parse(&"ü".repeat(129)).is_err());
        assert!(Password::parse_for_check("short").is_ok());
    }

    #[test]
    fn debug_hides_the_password() {
        let password = Password::parse("correct horse battery").unwrap();
        assert!(!format!("{password:?}").contains("horse"));
    }
}
