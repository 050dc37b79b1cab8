/// Checks an id from a request: the API carries int64, the database INTEGER.
fn parse_id(raw: i64) -> Result<i32, String> {
    match i32::try_from(raw) {
        Ok(id) if id > 0 => Ok(id),
        _ => Err(format!("must be a positive id no larger than {}, got {raw}", i32::MAX)),
    }
}

/// The id of a user.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct UserId(pub i32);

impl UserId {
    /// Checks a user id from a request.
    pub fn parse(raw: i64) -> Result<Self, String> {
        parse_id(raw).map(Self)
    }
}

/// The id of a session.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SessionId(pub i32);

impl SessionId {
    /// Checks a session id from a request.
    pub fn parse(raw: i64) -> Result<Self, String> {
        parse_id(raw).map(Self)
    }
}

#[cfg(test)]
mod tests {
    use super::UserId;

    #[test]
    fn ids_must_be_positive_and_fit_the_column() {
        assert_eq!(UserId::parse(7), Ok(UserId(7)));
        assert!(UserId::parse(0).is_err());
        assert!(UserId::parse(-3).is_err());
        assert!(UserId::parse(i64::from(i32::MAX) + 1).is_err());
    }
}
