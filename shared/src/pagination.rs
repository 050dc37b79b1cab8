//! Keyset pagination per AIP-158, shared by every List RPC.
//!
//! A page token is opaque to clients: base64url of a version, a fingerprint of the query that
//! made it (caller and filters), and the sort key of the last row served. A token presented
//! with a different query is refused, and the next page starts strictly after that key, so a
//! walk never repeats or skips a row, even while rows are inserted.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};

/// Page size used when the request says 0.
pub const DEFAULT_PAGE_SIZE: i64 = 50;
/// Larger requested sizes are read as this.
pub const MAX_PAGE_SIZE: i64 = 1000;

const TOKEN_VERSION: &str = "p1";

/// A request field that is not acceptable, with the reason.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {description}")]
pub struct PageError {
    /// `page_size` or `page_token`.
    pub field: &'static str,
    /// What is wrong, for a human.
    pub description: String,
}

/// A validated page request: how many rows, and after which sort key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageRequest {
    /// Rows to return.
    pub size: i64,
    /// Sort key of the last row of the previous page; `None` for the first page.
    pub after: Option<i64>,
    fingerprint: String,
}

/// One page of results and the token for the next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page<T> {
    /// The rows of this page.
    pub items: Vec<T>,
    /// Token for the next page; empty on the last page.
    pub next_page_token: String,
}

impl PageRequest {
    /// Validates `page_size` and `page_token` for a query described by `query` (a stable text
    /// naming the caller and every filter; it only ever appears hashed).
    pub fn parse(page_size: i32, page_token: &str, query: &str) -> Result<Self, PageError> {
        let size = match i64::from(page_size) {
            0 => DEFAULT_PAGE_SIZE,
            negative if negative < 0 => {
                return Err(PageError { field: "page_size", description: "must not be negative".into() });
            }
            positive => positive.min(MAX_PAGE_SIZE),
        };
        let fingerprint = fingerprint(query);
        let after = if page_token.is_empty() { None } else { Some(decode(page_token, &fingerprint)?) };
        Ok(Self { size, after, fingerprint })
    }

    /// How many rows to fetch: one more than the page, to learn whether another page follows.
    pub fn fetch_limit(&self) -> i64 {
        self.size + 1
    }

    /// Turns the fetched rows (up to [`Self::fetch_limit`]) into a page.
    pub fn finish<T>(&self, mut rows: Vec<T>, sort_key: impl Fn(&T) -> i64) -> Page<T> {
        let has_more = rows.len() as i64 > self.size;
        rows.truncate(usize::try_from(self.size).unwrap_or(usize::MAX));
        let next_page_token = match rows.last() {
            Some(last) if has_more => encode(&self.fingerprint, sort_key(last)),
            _ => String::new(),
        };
        Page { items: rows, next_page_token }
    }
}

/// The first 8 bytes of the query's SHA-256, as 16 lowercase hex digits.
fn fingerprint(query: &str) -> String {
    crate::hex::lower(&Sha256::digest(query.as_bytes())[..8])
}

fn encode(fingerprint: &str, after: i64) -> String {
    URL_SAFE_NO_PAD.encode(format!("{TOKEN_VERSION}.{fingerprint}.{after}"))
}

fn decode(token: &str, expected_fingerprint: &str) -> Result<i64, PageError> {
    let malformed = || PageError { field: "page_token", description: "is not a page token this service issued".into() };
    let bytes = URL_SAFE_NO_PAD.decode(token).map_err(|_| malformed())?;
    let text = String::from_utf8(bytes).map_err(|_| malformed())?;
    let mut parts = text.splitn(3, '.');
    let (Some(TOKEN_VERSION), Some(fingerprint), Some(after)) = (parts.next(), parts.next(), parts.next()) else {
        return Err(malformed());
    };
    if fingerprint != expected_fingerprint {
        return Err(PageError {
            field: "page_token",
            description: "was made for a different query; keep the filters of the first page or start again".into(),
        });
    }
    after.parse().map_err(|_| malformed())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_size_defaults_caps_and_refuses_negatives() {
        assert_eq!(PageRequest::parse(0, "", "q").map(|p| p.size), Ok(DEFAULT_PAGE_SIZE));
        assert_eq!(PageRequest::parse(5000, "", "q").map(|p| p.size), Ok(MAX_PAGE_SIZE));
        assert_eq!(PageRequest::parse(-1, "", "q").map_err(|e| e.field), Err("page_size"));
    }

    #[test]
    fn a_token_continues_only_the_query_that_made_it() {
        let first = PageRequest::parse(2, "", "role=user").unwrap();
        let page = first.finish(vec![1, 2, 3], |id| *id);
        assert_eq!(page.items, vec![1, 2]);
        let next = PageRequest::parse(2, &page.next_page_token, "role=user").unwrap();
        assert_eq!(next.after, Some(2));
        let other = PageRequest::parse(2, &page.next_page_token, "role=admin");
        assert_eq!(other.map_err(|e| e.field), Err("page_token"));
        assert_eq!(PageRequest::parse(2, "garbage!", "role=user").map_err(|e| e.field), Err("page_token"));
    }

    #[test]
    fn the_fingerprint_is_the_first_eight_bytes_of_the_querys_sha256_in_hex() {
        // SHA-256("abc") begins ba7816bf 8f01cfea (FIPS 180-2, appendix B.1).
        assert_eq!(fingerprint("abc"), "ba7816bf8f01cfea");
    }

    #[test]
    fn the_last_page_has_no_token() {
        let request = PageRequest::parse(3, "", "q").unwrap();
        assert_eq!(request.finish(vec![1, 2, 3], |id| *id).next_page_token, "");
    }
}
