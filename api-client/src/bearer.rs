//! Sending an access token: `authorization: Bearer <token>` metadata on every call of a client
//! ([`BearerToken`], an interceptor) or on one request ([`with_bearer`]).
//!
//! ```no_run
//! use api_client::BearerToken;
//! use api_client::resource::v1::GetResourceRequest;
//! use api_client::resource::v1::resource_service_client::ResourceServiceClient;
//!
//! # async fn run(channel: tonic::transport::Channel, access_token: &str) -> Result<(), Box<dyn std::error::Error>> {
//! let mut resources = ResourceServiceClient::with_interceptor(channel, BearerToken::new(access_token)?);
//! let resource = resources.get_resource(GetResourceRequest { id: 1 }).await?.into_inner();
//! # let _ = resource;
//! # Ok(())
//! # }
//! ```
//!
//! Access tokens are short-lived (15 minutes by default): a long-lived client either makes a
//! new interceptor after each refresh or sends each request through [`with_bearer`].

use std::fmt;

use tonic::metadata::{Ascii, MetadataValue};
use tonic::service::Interceptor;
use tonic::{Request, Status};

/// The metadata key of the token (HTTP's `authorization` header).
const AUTHORIZATION: &str = "authorization";

/// An interceptor adding `authorization: Bearer <token>` to every request of a client. Cheap to
/// clone; `Debug` never prints the token, and the header is marked sensitive, so HTTP/2 never
/// puts it in its compression tables.
#[derive(Clone)]
pub struct BearerToken {
    value: MetadataValue<Ascii>,
}

/// A token that cannot be sent as a bearer token: empty, or not visible ASCII (RFC 6750 allows
/// letters, digits and `-._~+/=`; JWTs and refresh tokens are made of those).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("an access token must be non-empty and made of visible ASCII characters")]
pub struct InvalidBearerToken;

impl BearerToken {
    /// The interceptor for `access_token` (as returned by `Login` or `Refresh`).
    pub fn new(access_token: &str) -> Result<Self, InvalidBearerToken> {
        if access_token.is_empty() || !access_token.bytes().all(|byte| byte.is_ascii_graphic()) {
            return Err(InvalidBearerToken);
        }
        let mut value = MetadataValue::try_from(format!("Bearer {access_token}")).map_err(|_| InvalidBearerToken)?;
        value.set_sensitive(true);
        Ok(Self { value })
    }

    /// Adds the token to one request (replacing any `authorization` it had).
    pub fn authorize<T>(&self, request: &mut Request<T>) {
        request.metadata_mut().insert(AUTHORIZATION, self.value.clone());
    }
}

impl Interceptor for BearerToken {
    fn call(&mut self, mut request: Request<()>) -> Result<Request<()>, Status> {
        self.authorize(&mut request);
        Ok(request)
    }
}

impl fmt::Debug for BearerToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("BearerToken(<redacted>)")
    }
}

/// `message` as a request carrying `authorization: Bearer <access_token>`.
///
/// ```no_run
/// # async fn run(mut users: api_client::auth::v1::user_service_client::UserServiceClient<tonic::transport::Channel>, access_token: &str) -> Result<(), Box<dyn std::error::Error>> {
/// use api_client::auth::v1::GetMeRequest;
///
/// let me = users.get_me(api_client::with_bearer(GetMeRequest {}, access_token)?).await?.into_inner();
/// # let _ = me;
/// # Ok(())
/// # }
/// ```
pub fn with_bearer<T>(message: T, access_token: &str) -> Result<Request<T>, InvalidBearerToken> {
    let mut request = Request::new(message);
    BearerToken::new(access_token)?.authorize(&mut request);
    Ok(request)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn authorization<T>(request: &Request<T>) -> Option<&str> {
        request.metadata().get(AUTHORIZATION).and_then(|value| value.to_str().ok())
    }

    #[test]
    fn the_interceptor_sets_the_authorization_metadata() {
        let mut interceptor = BearerToken::new("eyJ.abc-_~+/=").unwrap();
        let mut request = Request::new(());
        request.metadata_mut().insert(AUTHORIZATION, "Basic old".parse().unwrap());

        let request = interceptor.call(request).unwrap();

        assert_eq!(authorization(&request), Some("Bearer eyJ.abc-_~+/="));
        assert!(request.metadata().get(AUTHORIZATION).unwrap().is_sensitive());
        assert_eq!(request.metadata().get_all(AUTHORIZATION).iter().count(), 1);
    }

    #[test]
    fn one_request_can_carry_a_token() {
        let request = with_bearer(7_u32, "rt_token").unwrap();
        assert_eq!(authorization(&request), Some("Bearer rt_token"));
        assert_eq!(request.into_inner(), 7);
    }

    #[test]
    fn tokens_that_cannot_be_sent_are_refused() {
        for token in ["", "two words", "line\nbreak", "tab\t", "naïve"] {
            assert_eq!(BearerToken::new(token).unwrap_err(), InvalidBearerToken, "{token:?} was accepted");
        }
    }

    #[test]
    fn the_token_never_shows_in_debug_output() {
        let token = BearerToken::new("secret-token").unwrap();
        assert_eq!(format!("{token:?}"), "BearerToken(<redacted>)");
        assert!(!InvalidBearerToken.to_string().contains("secret"));
    }
}
