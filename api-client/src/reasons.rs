//! The reasons the services give for their errors, as an enum to match on.
//!
//! Every error status of the auth and resource services carries a `google.rpc.ErrorInfo` whose
//! `reason` names the cause and whose `domain` names the service that decided it (`auth.v1`, or
//! `resource.v1`; token problems keep `auth.v1` wherever they are reported), and bad input a
//! `google.rpc.BadRequest` naming each field. [`StatusReason`] reads both from a
//! [`tonic::Status`]:
//!
//! ```no_run
//! use api_client::{ErrorReason, StatusReason};
//!
//! # fn handle(status: tonic::Status) {
//! match status.reason() {
//!     Some(ErrorReason::TokenExpired) => { /* refresh the access token, then retry */ }
//!     Some(ErrorReason::EtagMismatch) => { /* read the resource again */ }
//!     Some(ErrorReason::InvalidArgument) => {
//!         for violation in status.field_violations() {
//!             eprintln!("{}: {}", violation.field, violation.description);
//!         }
//!     }
//!     Some(reason) if reason.is_transient() => { /* retry later, with backoff */ }
//!     _ => { /* anything else: report status.message() */ }
//! }
//! # }
//! ```

use std::convert::Infallible;
use std::fmt;
use std::str::FromStr;

use tonic::{Code, Status};
use tonic_types::StatusExt;

/// Why a call failed: the `google.rpc.ErrorInfo.reason` of the error status. Each reason comes
/// with one status code ([`ErrorReason::code`]).
///
/// New reasons may appear in later versions of the services: one this crate does not know
/// parses as [`ErrorReason::Unknown`], and a `match` needs a catch-all arm.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorReason {
    /// INVALID_ARGUMENT: one or more request fields are invalid; the status's BadRequest names
    /// each ([`StatusReason::field_violations`]). Both services.
    InvalidArgument,
    /// ALREADY_EXISTS: `Register` with an email address that already has an account.
    EmailTaken,
    /// UNAUTHENTICATED: unknown email or wrong password (`Login`, `ChangePassword`); the two are
    /// deliberately indistinguishable.
    InvalidCredentials,
    /// PERMISSION_DENIED: the account is deactivated.
    AccountDisabled,
    /// UNAUTHENTICATED: the call carried no `authorization: Bearer …` metadata.
    MissingToken,
    /// UNAUTHENTICATED: the access token is malformed, forged, or for another issuer or
    /// audience, or the `authorization` metadata is not `Bearer <token>`.
    InvalidToken,
    /// UNAUTHENTICATED: the access token has expired; refresh it and retry.
    TokenExpired,
    /// UNAUTHENTICATED: the session was ended (logout, revocation, password change, refresh-token
    /// reuse) or its user is gone; log in again.
    SessionRevoked,
    /// UNAUTHENTICATED: `Refresh` with a malformed or unknown refresh token.
    InvalidRefreshToken,
    /// UNAUTHENTICATED: `Refresh` with a refresh token whose lifetime has passed; log in again.
    RefreshTokenExpired,
    /// UNAUTHENTICATED: `Refresh` with an already-rotated refresh token; its whole session is
    /// now revoked (a sign the token leaked).
    RefreshTokenReused,
    /// PERMISSION_DENIED: the call (or the filter, e.g. another owner's resources) needs the
    /// admin role. Both services.
    AdminRequired,
    /// FAILED_PRECONDITION: an admin tried to demote, deactivate or delete their own account.
    CannotChangeSelf,
    /// NOT_FOUND: no user with this id (admin RPCs).
    UserNotFound,
    /// NOT_FOUND: no live session with this id belongs to the caller.
    SessionNotFound,
    /// RESOURCE_EXHAUSTED: every password-hashing slot stayed busy; retry shortly.
    HashingBusy,
    /// UNAVAILABLE: the service cannot reach its database; retry shortly. Both services.
    DatabaseUnavailable,
    /// INTERNAL: an unexpected failure, logged by the service; the message says nothing more.
    /// Both services.
    Internal,
    /// NOT_FOUND: no such resource visible to the caller (another user's is not revealed).
    ResourceNotFound,
    /// ABORTED: the resource changed since the etag the caller sent; read it again and retry
    /// with its new etag.
    EtagMismatch,
    /// FAILED_PRECONDITION: updating a soft-deleted resource; undelete it first.
    ResourceDeleted,
    /// ALREADY_EXISTS: undeleting a resource that is not deleted.
    ResourceNotDeleted,
    /// PERMISSION_DENIED: a guest tried to write; guests may only read.
    ReadOnlyRole,
    /// UNAVAILABLE: a backend's token guard could not ask the auth service (down, unreachable,
    /// or an unusable answer); retry shortly. Domain `auth.v1`.
    AuthUnavailable,
    /// DEADLINE_EXCEEDED: a backend's token guard got no answer from the auth service within
    /// its call timeout; retry shortly. Domain `auth.v1`.
    AuthTimeout,
    /// RESOURCE_EXHAUSTED: the server already runs as many calls as it is configured for and
    /// shed this one at once instead of queueing it; retry with backoff. Domain: the service's.
    Overloaded,
    /// DEADLINE_EXCEEDED: the call did not finish within the server's own per-RPC deadline.
    /// Domain: the service's.
    RpcTimeout,
    /// A reason this version of the crate does not know, kept as sent. Parsing never yields
    /// it for a known reason.
    Unknown(String),
}

impl ErrorReason {
    /// Every reason this crate knows (all variants but [`ErrorReason::Unknown`]).
    pub const KNOWN: &'static [ErrorReason] = &[
        Self::InvalidArgument,
        Self::EmailTaken,
        Self::InvalidCredentials,
        Self::AccountDisabled,
        Self::MissingToken,
        Self::InvalidToken,
        Self::TokenExpired,
        Self::SessionRevoked,
        Self::InvalidRefreshToken,
        Self::RefreshTokenExpired,
        Self::RefreshTokenReused,
        Self::AdminRequired,
        Self::CannotChangeSelf,
        Self::UserNotFound,
        Self::SessionNotFound,
        Self::HashingBusy,
        Self::DatabaseUnavailable,
        Self::Internal,
        Self::ResourceNotFound,
        Self::EtagMismatch,
        Self::ResourceDeleted,
        Self::ResourceNotDeleted,
        Self::ReadOnlyRole,
        Self::AuthUnavailable,
        Self::AuthTimeout,
        Self::Overloaded,
        Self::RpcTimeout,
    ];

    /// The reason as the services write it in `ErrorInfo.reason` (UPPER_SNAKE_CASE).
    pub fn as_str(&self) -> &str {
        match self {
            Self::InvalidArgument => "INVALID_ARGUMENT",
            Self::EmailTaken => "EMAIL_TAKEN",
            Self::InvalidCredentials => "INVALID_CREDENTIALS",
            Self::AccountDisabled => "ACCOUNT_DISABLED",
            Self::MissingToken => "MISSING_TOKEN",
            Self::InvalidToken => "INVALID_TOKEN",
            Self::TokenExpired => "TOKEN_EXPIRED",
            Self::SessionRevoked => "SESSION_REVOKED",
            Self::InvalidRefreshToken => "INVALID_REFRESH_TOKEN",
            Self::RefreshTokenExpired => "REFRESH_TOKEN_EXPIRED",
            Self::RefreshTokenReused => "REFRESH_TOKEN_REUSED",
            Self::AdminRequired => "ADMIN_REQUIRED",
            Self::CannotChangeSelf => "CANNOT_CHANGE_SELF",
            Self::UserNotFound => "USER_NOT_FOUND",
            Self::SessionNotFound => "SESSION_NOT_FOUND",
            Self::HashingBusy => "HASHING_BUSY",
            Self::DatabaseUnavailable => "DATABASE_UNAVAILABLE",
            Self::Internal => "INTERNAL",
            Self::ResourceNotFound => "RESOURCE_NOT_FOUND",
            Self::EtagMismatch => "ETAG_MISMATCH",
            Self::ResourceDeleted => "RESOURCE_DELETED",
            Self::ResourceNotDeleted => "RESOURCE_NOT_DELETED",
            Self::ReadOnlyRole => "READ_ONLY_ROLE",
            Self::AuthUnavailable => "AUTH_UNAVAILABLE",
            Self::AuthTimeout => "AUTH_TIMEOUT",
            Self::Overloaded => "OVERLOADED",
            Self::RpcTimeout => "RPC_TIMEOUT",
            Self::Unknown(reason) => reason,
        }
    }

    /// The status code this reason comes with ([`Code::Unknown`] for an unknown reason).
    pub fn code(&self) -> Code {
        match self {
            Self::InvalidArgument => Code::InvalidArgument,
            Self::EmailTaken | Self::ResourceNotDeleted => Code::AlreadyExists,
            Self::InvalidCredentials
            | Self::MissingToken
            | Self::InvalidToken
            | Self::TokenExpired
            | Self::SessionRevoked
            | Self::InvalidRefreshToken
            | Self::RefreshTokenExpired
            | Self::RefreshTokenReused => Code::Unauthenticated,
            Self::AccountDisabled | Self::AdminRequired | Self::ReadOnlyRole => Code::PermissionDenied,
            Self::CannotChangeSelf | Self::ResourceDeleted => Code::FailedPrecondition,
            Self::UserNotFound | Self::SessionNotFound | Self::ResourceNotFound => Code::NotFound,
            Self::HashingBusy | Self::Overloaded => Code::ResourceExhausted,
            Self::DatabaseUnavailable | Self::AuthUnavailable => Code::Unavailable,
            Self::Internal => Code::Internal,
            Self::EtagMismatch => Code::Aborted,
            Self::AuthTimeout | Self::RpcTimeout => Code::DeadlineExceeded,
            Self::Unknown(_) => Code::Unknown,
        }
    }

    /// Whether the same call may succeed later without any change: a busy or unreachable
    /// dependency. Retry those with backoff; the others need a change first (a new token, a
    /// fresh etag, other input) or will fail again.
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            Self::HashingBusy
                | Self::DatabaseUnavailable
                | Self::AuthUnavailable
                | Self::AuthTimeout
                | Self::Overloaded
        )
    }
}

impl fmt::Display for ErrorReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for ErrorReason {
    type Err = Infallible;

    /// The reason named by `reason` (exactly as the services write it), or
    /// [`ErrorReason::Unknown`].
    fn from_str(reason: &str) -> Result<Self, Infallible> {
        Ok(Self::from(reason))
    }
}

impl From<&str> for ErrorReason {
    fn from(reason: &str) -> Self {
        Self::KNOWN
            .iter()
            .find(|known| known.as_str() == reason)
            .cloned()
            .unwrap_or_else(|| Self::Unknown(reason.to_owned()))
    }
}

/// One invalid field of a request, from the status's `google.rpc.BadRequest`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldViolation {
    /// Path of the field, e.g. `title` or `resource.title`.
    pub field: String,
    /// What is wrong with it, for people.
    pub description: String,
}

/// Reads the error details the services attach to a [`Status`]. Implemented for
/// [`tonic::Status`] only.
pub trait StatusReason: sealed::Sealed {
    /// The `ErrorInfo` reason, or `None` when the status has no `ErrorInfo` (statuses made by
    /// tonic itself, e.g. for a connection that failed, have none).
    fn reason(&self) -> Option<ErrorReason>;

    /// The `ErrorInfo` domain: the service that decided the error (`auth.v1`, `resource.v1`).
    fn error_domain(&self) -> Option<String>;

    /// The invalid fields named by the status's `BadRequest` (empty when it has none).
    fn field_violations(&self) -> Vec<FieldViolation>;
}

impl StatusReason for Status {
    fn reason(&self) -> Option<ErrorReason> {
        self.get_details_error_info().map(|info| ErrorReason::from(info.reason.as_str()))
    }

    fn error_domain(&self) -> Option<String> {
        self.get_details_error_info().map(|info| info.domain)
    }

    fn field_violations(&self) -> Vec<FieldViolation> {
        self.get_details_bad_request()
            .map(|bad_request| bad_request.field_violations)
            .unwrap_or_default()
            .into_iter()
            .map(|violation| FieldViolation { field: violation.field, description: violation.description })
            .collect()
    }
}

mod sealed {
    /// Keeps [`StatusReason`](super::StatusReason) implementable here only, so methods can be
    /// added to it later.
    pub trait Sealed {}

    impl Sealed for tonic::Status {}
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;
    use crate::errors::error_status;

    /// Fails to compile when a variant is added without being considered here: add it to
    /// [`ErrorReason::KNOWN`] too.
    fn is_listed_in_known(reason: &ErrorReason) -> bool {
        match reason {
            ErrorReason::InvalidArgument
            | ErrorReason::EmailTaken
            | ErrorReason::InvalidCredentials
            | ErrorReason::AccountDisabled
            | ErrorReason::MissingToken
            | ErrorReason::InvalidToken
            | ErrorReason::TokenExpired
            | ErrorReason::SessionRevoked
            | ErrorReason::InvalidRefreshToken
            | ErrorReason::RefreshTokenExpired
            | ErrorReason::RefreshTokenReused
            | ErrorReason::AdminRequired
            | ErrorReason::CannotChangeSelf
            | ErrorReason::UserNotFound
            | ErrorReason::SessionNotFound
            | ErrorReason::HashingBusy
            | ErrorReason::DatabaseUnavailable
            | ErrorReason::Internal
            | ErrorReason::ResourceNotFound
            | ErrorReason::EtagMismatch
            | ErrorReason::ResourceDeleted
            | ErrorReason::ResourceNotDeleted
            | ErrorReason::ReadOnlyRole
            | ErrorReason::AuthUnavailable
            | ErrorReason::AuthTimeout
            | ErrorReason::Overloaded
            | ErrorReason::RpcTimeout => ErrorReason::KNOWN.contains(reason),
            ErrorReason::Unknown(_) => false,
        }
    }

    #[test]
    fn every_known_reason_round_trips_through_its_string() {
        assert_eq!(ErrorReason::KNOWN.len(), 27);
        for reason in ErrorReason::KNOWN {
            assert!(is_listed_in_known(reason));
            assert_eq!(reason.as_str().parse::<ErrorReason>(), Ok(reason.clone()));
            assert_eq!(reason.to_string(), reason.as_str());
        }
    }

    #[test]
    fn the_strings_are_distinct_upper_snake_case() {
        let strings: HashSet<&str> = ErrorReason::KNOWN.iter().map(ErrorReason::as_str).collect();
        assert_eq!(strings.len(), ErrorReason::KNOWN.len());
        for string in strings {
            assert!(string.bytes().all(|byte| byte.is_ascii_uppercase() || byte == b'_'), "{string}");
        }
    }

    #[test]
    fn the_strings_are_those_the_services_send() {
        // Spot checks against the statuses the services and the guard answer.
        assert_eq!(ErrorReason::EmailTaken.as_str(), "EMAIL_TAKEN");
        assert_eq!(ErrorReason::RefreshTokenReused.as_str(), "REFRESH_TOKEN_REUSED");
        assert_eq!(ErrorReason::ResourceNotDeleted.as_str(), "RESOURCE_NOT_DELETED");
        assert_eq!(ErrorReason::AuthTimeout.as_str(), "AUTH_TIMEOUT");
        assert_eq!(ErrorReason::ResourceNotDeleted.code(), Code::AlreadyExists);
        assert_eq!(ErrorReason::EtagMismatch.code(), Code::Aborted);
        assert_eq!(ErrorReason::AuthTimeout.code(), Code::DeadlineExceeded);
    }

    #[test]
    fn an_unknown_reason_is_kept_verbatim() {
        let reason: ErrorReason = "QUOTA_EXCEEDED".parse().unwrap();
        assert_eq!(reason, ErrorReason::Unknown("QUOTA_EXCEEDED".to_owned()));
        assert_eq!(reason.as_str(), "QUOTA_EXCEEDED");
        assert_eq!(reason.code(), Code::Unknown);
        assert!(!reason.is_transient());
        assert_eq!(ErrorReason::from("token_expired"), ErrorReason::Unknown("token_expired".to_owned()));
    }

    #[test]
    fn only_busy_or_unreachable_dependencies_are_transient() {
        let transient: Vec<&str> =
            ErrorReason::KNOWN.iter().filter(|reason| reason.is_transient()).map(ErrorReason::as_str).collect();
        assert_eq!(
            transient,
            ["HASHING_BUSY", "DATABASE_UNAVAILABLE", "AUTH_UNAVAILABLE", "AUTH_TIMEOUT", "OVERLOADED"]
        );
    }

    #[test]
    fn a_status_yields_its_reason_domain_and_field_violations() {
        let status = error_status(
            Code::InvalidArgument,
            "invalid request",
            "INVALID_ARGUMENT",
            "resource.v1",
            [("title", "must not be blank"), ("content", "at most 1 MiB")],
        );

        assert_eq!(status.reason(), Some(ErrorReason::InvalidArgument));
        assert_eq!(status.error_domain().as_deref(), Some("resource.v1"));
        let fields: Vec<(String, String)> =
            status.field_violations().into_iter().map(|violation| (violation.field, violation.description)).collect();
        assert_eq!(
            fields,
            [("title".to_owned(), "must not be blank".to_owned()), ("content".to_owned(), "at most 1 MiB".to_owned())]
        );
    }

    #[test]
    fn a_status_without_details_has_no_reason() {
        let status = Status::unavailable("tcp connect error");
        assert_eq!(status.reason(), None);
        assert_eq!(status.error_domain(), None);
        assert!(status.field_violations().is_empty());
    }
}
