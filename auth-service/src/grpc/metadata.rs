//! What the service reads from request metadata.

use tonic::Request;

use crate::error::AuthError;
use crate::ops::ClientInfo;

/// The access token of `authorization: Bearer <token>` (scheme case-insensitive).
pub fn bearer_token<T>(request: &Request<T>) -> Result<&str, AuthError> {
    let value = request.metadata().get("authorization").ok_or(AuthError::MissingToken)?;
    let value = value.to_str().map_err(|_| AuthError::InvalidToken)?;
    let (scheme, token) = value.trim().split_once(' ').ok_or(AuthError::InvalidToken)?;
    if !scheme.eq_ignore_ascii_case("bearer") || token.trim().is_empty() {
        return Err(AuthError::InvalidToken);
    }
    Ok(token.trim())
}

/// The client's user agent and address, for the session list.
pub fn client_info<T>(request: &Request<T>) -> ClientInfo {
    ClientInfo {
        user_agent: request.metadata().get("user-agent").and_then(|value| value.to_str().ok()).map(str::to_owned),
        ip_address: request.remote_addr().map(|addr| addr.ip().to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_authorization(value: &str) -> Request<()> {
        let mut request = Request::new(());
        request.metadata_mut().insert("authorization", value.parse().unwrap());
        request
    }

    #[test]
    fn the_bearer_token_is_read_whatever_the_scheme_case() {
        assert_eq!(bearer_token(&with_authorization("Bearer abc")).ok(), Some("abc"));
        assert_eq!(bearer_token(&with_authorization("bearer abc")).ok(), Some("abc"));
    }

    #[test]
    fn missing_and_malformed_headers_are_told_apart() {
        assert!(matches!(bearer_token(&Request::new(())), Err(AuthError::MissingToken)));
        assert!(matches!(bearer_token(&with_authorization("Basic abc")), Err(AuthError::InvalidToken)));
        assert!(matches!(bearer_token(&with_authorization("Bearer ")), Err(AuthError::InvalidToken)));
    }
}
