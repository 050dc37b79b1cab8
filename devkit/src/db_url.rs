//! Builds database URLs.

/// `url` (`scheme://user[:password]@host[:port]/database?params`) with its database replaced.
pub(crate) fn with_database(url: &str, database: &str) -> String {
    let (base, params) = match url.find('?') {
        Some(at) => url.split_at(at),
        None => (url, ""),
    };
    let authority_start = base.find("://").map_or(0, |at| at + 3);
    // A password may hold a '/'; the host part starts after the last '@'.
    let host_start = base[authority_start..].rfind('@').map_or(authority_start, |at| authority_start + at + 1);
    let authority_end = base[host_start..].find('/').map_or(base.len(), |at| host_start + at);
    format!("{}/{database}{params}", &base[..authority_end])
}

#[cfg(test)]
mod tests {
    use super::with_database;

    #[test]
    fn replaces_the_database() {
        assert_eq!(
            with_database("postgres://u:p@db:5432/app?sslmode=disable", "x"),
            "postgres://u:p@db:5432/x?sslmode=disable"
        );
        assert_eq!(with_database("postgresql://u@h/app", "x"), "postgresql://u@h/x");
    }

    #[test]
    fn adds_a_missing_database() {
        assert_eq!(with_database("postgres://u@h:5", "x"), "postgres://u@h:5/x");
        assert_eq!(with_database("postgres://h?a=b", "x"), "postgres://h/x?a=b");
        assert_eq!(with_database("postgres://u@h/", "x"), "postgres://u@h/x");
    }

    #[test]
    fn keeps_a_slash_in_the_password() {
        assert_eq!(with_database("postgres://u:a/b@h/app", "x"), "postgres://u:a/b@h/x");
    }
}
