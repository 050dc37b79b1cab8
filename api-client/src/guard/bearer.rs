//! Reading the access token and request id from HTTP headers.

use http::HeaderMap;
use tonic::Status;

use super::errors;

/// The token of `authorization: Bearer <token>` (scheme case-insensitive).
pub(crate) fn bearer_token(headers: &HeaderMap) -> Result<&str, Status> {
    let value = headers.get(http::header::AUTHORIZATION).ok_or_else(errors::missing_token)?;
    let value = value.to_str().map_err(|_| errors::malformed_authorization())?;
    let (scheme, token) = value.trim().split_once(' ').ok_or_else(errors::malformed_authorization)?;
    let token = token.trim();
    if !scheme.eq_ignore_ascii_case("bearer") || token.is_empty() {
        return Err(errors::malformed_authorization());
    }
    Ok(token)
}

/// The `x-request-id` of the incoming call, to forward to the auth service.
pub(crate) fn request_id(headers: &HeaderMap) -> Option<&str> {
    headers.get("x-request-id").and_then(|value| value.to_str().ok())
}

#[cfg(test)]
mod tests {
    use tonic::Code;
    use tonic_types::StatusExt;

    use super::*;

    fn with_authorization(value: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(http::header::AUTHORIZATION, value.parse().unwrap());
        headers
    }

    fn reason(result: Result<&str, Status>) -> String {
        let status = result.unwrap_err();
        assert_eq!(status.code(), Code::Unauthenticated);
        status.get_details_error_info().unwrap().reason
    }

    #[test]
    fn the_token_is_read_whatever_the_scheme_case() {
        assert_eq!(bearer_token(&with_authorization("Bearer abc")).ok(), Some("abc"));
        assert_eq!(bearer_token(&with_authorization("bearer abc")).ok(), Some("abc"));
        assert_eq!(bearer_token(&with_authorization("BEARER  abc ")).ok(), Some("abc"));
    }

    #[test]
    fn missing_and_malformed_headers_are_told_apart() {
        assert_eq!(reason(bearer_token(&HeaderMap::new())), "MISSING_TOKEN");
        assert_eq!(reason(bearer_token(&with_authorization("Basic abc"))), "INVALID_TOKEN");
        assert_eq!(reason(bearer_token(&with_authorization("Bearer "))), "INVALID_TOKEN");
        assert_eq!(reason(bearer_token(&with_authorization("abc"))), "INVALID_TOKEN");
    }
}
