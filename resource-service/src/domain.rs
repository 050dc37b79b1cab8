//! Validated values built from raw request fields.

use shared::violations::FieldViolations;

/// Longest title, in characters (the column is VARCHAR(255)).
pub const MAX_TITLE_CHARS: usize = 255;
/// Largest content, in UTF-8 bytes: 1 MiB.
pub const MAX_CONTENT_BYTES: usize = 1024 * 1024;

/// Checks a title; it is stored exactly as given (no trimming).
pub fn check_title(title: &str) -> Result<(), String> {
    if title.trim().is_empty() {
        return Err("must not be empty or only whitespace".into());
    }
    if title.chars().count() > MAX_TITLE_CHARS {
        return Err(format!("must be at most {MAX_TITLE_CHARS} characters"));
    }
    if title.contains('\0') {
        return Err("must not contain NUL characters".into());
    }
    Ok(())
}

/// Checks a content; it is stored exactly as given.
pub fn check_content(content: &str) -> Result<(), String> {
    if content.len() > MAX_CONTENT_BYTES {
        return Err(format!("must be at most {MAX_CONTENT_BYTES} bytes (1 MiB), got {}", content.len()));
    }
    if content.contains('\0') {
        return Err("must not contain NUL characters".into());
    }
    Ok(())
}

/// Checks an id from a request: the API carries int64, the database INTEGER.
pub fn parse_id(field: &str, raw: i64) -> Result<i32, FieldViolations> {
    match i32::try_from(raw) {
        Ok(id) if id > 0 => Ok(id),
        _ => {
            Err(FieldViolations::single(field, format!("must be a positive id no larger than {}, got {raw}", i32::MAX)))
        }
    }
}

/// The etag of a resource version: opaque to clients, free of quotes so it is easy to pass
/// around in JSON and shells.
pub fn etag(version: i32) -> String {
    // Every resource of a page gets one: written directly rather than through `format!`.
    let mut digits = itoa::Buffer::new();
    let digits = digits.format(version);
    let mut etag = String::with_capacity(1 + digits.len());
    etag.push('v');
    etag.push_str(digits);
    etag
}

/// The version an etag names; `None` when the etag is not one of ours.
pub fn parse_etag(etag: &str) -> Option<i32> {
    etag.strip_prefix('v')?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn titles_must_have_text_and_fit_the_column() {
        assert!(check_title("  x  ").is_ok());
        assert!(check_title("").is_err());
        assert!(check_title(" \t\n").is_err());
        assert!(check_title(&"ж".repeat(255)).is_ok());
        assert!(check_title(&"ж".repeat(256)).is_err());
        assert!(check_title("a\0b").is_err());
    }

    #[test]
    fn content_is_limited_to_one_mebibyte_of_utf8() {
        assert!(check_content(&"a".repeat(MAX_CONTENT_BYTES)).is_ok());
        assert!(check_content(&"a".repeat(MAX_CONTENT_BYTES + 1)).is_err());
        assert!(check_content("").is_ok());
    }

    #[test]
    fn etags_round_trip_and_foreign_ones_are_refused() {
        assert_eq!(etag(1), "v1");
        assert_eq!(etag(i32::MAX), "v2147483647");
        assert_eq!(parse_etag(&etag(42)), Some(42));
        assert_eq!(parse_etag(&etag(i32::MAX)), Some(i32::MAX));
        assert_eq!(parse_etag("42"), None);
        assert_eq!(parse_etag("vx"), None);
    }

    #[test]
    fn ids_must_be_positive_and_fit_the_column() {
        assert_eq!(parse_id("id", 5).ok(), Some(5));
        assert!(parse_id("id", 0).is_err());
        assert!(parse_id("id", i64::from(i32::MAX) + 1).is_err());
    }
}
