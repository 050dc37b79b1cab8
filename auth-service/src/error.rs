//! The service's one error type and its one mapping to `tonic::Status`.
//!
//! Policy: bad input → INVALID_ARGUMENT with a BadRequest naming each field; credentials and
//! tokens → UNAUTHENTICATED; role or account state → PERMISSION_DENIED; database unreachable →
//! UNAVAILABLE; anything unexpected is logged once here with its whole cause chain and answered
//! with a generic INTERNAL that reveals nothing. Every status carries a google.rpc.ErrorInfo
//! whose reason names the cause, with domain [`ERROR_DOMAIN`].

use api_client::ErrorReason;
use tonic::Status;

use crate::domain::FieldViolations;

/// `google.rpc.ErrorInfo.domain` of every error this service returns.
pub const ERROR_DOMAIN: &str = "auth.v1";

/// Everything that can go wrong in a call.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// One or more request fields are invalid.
    #[error("invalid request: {0}")]
    InvalidArgument(FieldViolations),
    /// Register with an email that already has an account.
    #[error("an account with this email already exists")]
    EmailTaken,
    /// Unknown email or wrong password (deliberately indistinguishable).
    #[error("incorrect email or password")]
    InvalidCredentials,
    /// The account is deactivated.
    #[error("this account is disabled")]
    AccountDisabled,
    /// No `authorization: Bearer …` metadata.
    #[error("missing access token: send `authorization: Bearer <access token>` metadata")]
    MissingToken,
    /// The access token is malformed, forged, or for another issuer or audience.
    #[error("invalid access token")]
    InvalidToken,
    /// The access token's `exp` has passed.
    #[error("the access token has expired; refresh it")]
    TokenExpired,
    /// The session was ended (logout, revocation, password change) or the user is gone.
    #[error("the session has ended; log in again")]
    SessionRevoked,
    /// The refresh token is malformed or unknown.
    #[error("invalid refresh token")]
    InvalidRefreshToken,
    /// The refresh token's lifetime has passed.
    #[error("the refresh token has expired; log in again")]
    RefreshTokenExpired,
    /// An already-rotated refresh token was presented again; its session is now revoked.
    #[error("this refresh token was already used, so its session has been ended; log in again")]
    RefreshTokenReused,
    /// A non-admin called an admin-only RPC.
    #[error("this call needs the admin role")]
    AdminRequired,
    /// An admin tried to demote, deactivate or delete their own account.
    #[error("admins cannot {0} their own account")]
    CannotChangeSelf(&'static str),
    /// No user with this id.
    #[error("user {0} not found")]
    UserNotFound(i32),
    /// No live session with this id belongs to the caller.
    #[error("session {0} not found")]
    SessionNotFound(i32),
    /// Every password-hashing slot stayed busy for too long.
    #[error("too many logins in progress; retry shortly")]
    HashingBusy,
    /// The database cannot be reached.
    #[error("the database is unavailable; retry shortly")]
    DatabaseUnavailable(#[source] anyhow::Error),
    /// A bug or an unforeseen failure.
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

impl AuthError {
    /// INVALID_ARGUMENT for one field.
    pub fn invalid(field: &str, description: impl Into<String>) -> Self {
        Self::InvalidArgument(FieldViolations::single(field, description))
    }

    /// The ErrorInfo reason of this error, which also decides its status code.
    pub fn reason(&self) -> ErrorReason {
        match self {
            Self::InvalidArgument(_) => ErrorReason::InvalidArgument,
            Self::EmailTaken => ErrorReason::EmailTaken,
            Self::InvalidCredentials => ErrorReason::InvalidCredentials,
            Self::AccountDisabled => ErrorReason::AccountDisabled,
            Self::MissingToken => ErrorReason::MissingToken,
            Self::InvalidToken => ErrorReason::InvalidToken,
            Self::TokenExpired => ErrorReason::TokenExpired,
            Self::SessionRevoked => ErrorReason::SessionRevoked,
            Self::InvalidRefreshToken => ErrorReason::InvalidRefreshToken,
            Self::RefreshTokenExpired => ErrorReason::RefreshTokenExpired,
            Self::RefreshTokenReused => ErrorReason::RefreshTokenReused,
            Self::AdminRequired => ErrorReason::AdminRequired,
            Self::CannotChangeSelf(_) => ErrorReason::CannotChangeSelf,
            Self::UserNotFound(_) => ErrorReason::UserNotFound,
            Self::SessionNotFound(_) => ErrorReason::SessionNotFound,
            Self::HashingBusy => ErrorReason::HashingBusy,
            Self::DatabaseUnavailable(_) => ErrorReason::DatabaseUnavailable,
            Self::Unexpected(_) => ErrorReason::Internal,
        }
    }
}

impl From<AuthError> for Status {
    fn from(error: AuthError) -> Self {
        let reason = error.reason();
        let message = match &error {
            AuthError::Unexpected(cause) => {
                tracing::error!(error = format!("{cause:#}"), "unexpected failure");
                "internal error".to_owned()
            }
            AuthError::DatabaseUnavailable(cause) => {
                tracing::warn!(error = format!("{cause:#}"), "database unavailable");
                error.to_string()
            }
            _ => error.to_string(),
        };
        let violations = match &error {
            AuthError::InvalidArgument(violations) => violations.iter().collect(),
            _ => Vec::new(),
        };
        let pairs = violations.iter().map(|v| (v.field.as_str(), v.description.as_str()));
        api_client::errors::error_status(reason.code(), message, reason.as_str(), ERROR_DOMAIN, pairs)
    }
}

impl From<FieldViolations> for AuthError {
    fn from(violations: FieldViolations) -> Self {
        Self::InvalidArgument(violations)
    }
}

impl From<shared::PoolError> for AuthError {
    fn from(error: shared::PoolError) -> Self {
        Self::DatabaseUnavailable(anyhow::Error::new(error))
    }
}

impl From<diesel::result::Error> for AuthError {
    fn from(error: diesel::result::Error) -> Self {
        if shared::pool::is_connection_lost(&error) {
            Self::DatabaseUnavailable(anyhow::Error::new(error))
        } else {
            Self::Unexpected(anyhow::Error::new(error).context("database query failed"))
        }
    }
}
