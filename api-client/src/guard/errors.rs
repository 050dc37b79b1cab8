//! The statuses the guard answers with, and how failures of the auth service become them.
//!
//! Policy: the auth service's own refusals (UNAUTHENTICATED, PERMISSION_DENIED,
//! INVALID_ARGUMENT) reach the client unchanged, so it still sees the reason (SESSION_REVOKED,
//! ACCOUNT_DISABLED, …). Everything else means the auth service could not vouch for the caller:
//! a deadline that passed is DEADLINE_EXCEEDED (reason `AUTH_TIMEOUT`), any other failure is
//! UNAVAILABLE (reason `AUTH_UNAVAILABLE`), never INTERNAL — the backend itself is fine and a
//! retry may succeed.

use std::time::Duration;

use bytes::Bytes;
use tonic::{Code, Status};

use crate::reasons::ErrorReason;

/// `google.rpc.ErrorInfo.domain` of the statuses the guard makes (the auth service's domain).
const ERROR_DOMAIN: &str = "auth.v1";

/// A status of the reason's code whose ErrorInfo carries `reason` in the `auth.v1` domain.
fn with_reason(reason: &ErrorReason, message: impl Into<String>) -> Status {
    crate::errors::error_status(reason.code(), message, reason.as_str(), ERROR_DOMAIN, [])
}

/// No `authorization` metadata, or a request that never passed through the layer.
pub(crate) fn missing_token() -> Status {
    with_reason(
        &ErrorReason::MissingToken,
        "missing access token: send `authorization: Bearer <access token>` metadata",
    )
}

/// `authorization` metadata that is not `Bearer <token>`.
pub(crate) fn malformed_authorization() -> Status {
    with_reason(
        &ErrorReason::InvalidToken,
        "invalid access token: `authorization` metadata must be `Bearer <access token>`",
    )
}

/// A successful answer that nevertheless says the account is inactive.
pub(crate) fn account_disabled() -> Status {
    with_reason(&ErrorReason::AccountDisabled, "this account is disabled")
}

/// The auth service could not be asked, or answered something unusable.
pub(crate) fn auth_unavailable(cause: &str) -> Status {
    with_reason(&ErrorReason::AuthUnavailable, format!("auth service unavailable: {cause}"))
}

/// The auth service did not answer within the call's deadline.
pub(crate) fn auth_timeout(call_timeout: Duration) -> Status {
    with_reason(&ErrorReason::AuthTimeout, format!("auth service did not answer within {}", humanize(call_timeout)))
}

/// Whether the auth service refused the token itself (the client sees that status unchanged),
/// rather than failing to vouch for it.
pub(crate) fn is_refusal(code: Code) -> bool {
    matches!(code, Code::Unauthenticated | Code::PermissionDenied | Code::InvalidArgument)
}

/// What the client sees for a failed call to the auth service, or a token it refused.
pub(crate) fn from_auth_service(status: &Status, call_timeout: Duration) -> Status {
    match status.code() {
        code if is_refusal(code) => {
            Status::with_details(status.code(), status.message(), Bytes::copy_from_slice(status.details()))
        }
        // tonic reports a passed `grpc-timeout` as CANCELLED ("Timeout expired") on the client
        // side and on the server side alike.
        Code::DeadlineExceeded | Code::Cancelled => auth_timeout(call_timeout),
        Code::Unavailable => auth_unavailable(&with_causes(status)),
        other => auth_unavailable(&format!("{other:?}: {}", with_causes(status))),
    }
}

/// The status's message followed by its local causes ("tcp connect error: Connection refused
/// (os error 111)"): tonic's message alone names only the outermost one.
fn with_causes(status: &Status) -> String {
    let mut text = status.message().to_owned();
    let mut cause = std::error::Error::source(status);
    while let Some(error) = cause {
        let line = error.to_string();
        if !text.contains(&line) {
            text.push_str(": ");
            text.push_str(&line);
        }
        cause = error.source();
    }
    text
}

/// A copy of a status shared between coalesced waiters (`Status` is not `Clone`): same code,
/// message, details and metadata.
pub(crate) fn duplicate(status: &Status) -> Status {
    Status::with_details_and_metadata(
        status.code(),
        status.message(),
        Bytes::copy_from_slice(status.details()),
        status.metadata().clone(),
    )
}

/// `2s`, `300ms`, `1.5s`: short and exact.
fn humanize(duration: Duration) -> String {
    if duration.subsec_millis() == 0 && duration.as_secs() > 0 {
        format!("{}s", duration.as_secs())
    } else if duration.as_secs() == 0 {
        format!("{}ms", duration.as_millis())
    } else {
        format!("{}s", duration.as_secs_f64())
    }
}

#[cfg(test)]
mod tests {
    use tonic_types::StatusExt;

    use super::*;

    fn reason(status: &Status) -> String {
        status.get_details_error_info().map(|info| info.reason).unwrap_or_default()
    }

    #[test]
    fn refusals_of_the_auth_service_keep_code_message_and_reason() {
        let refused = with_reason(&ErrorReason::SessionRevoked, "the session has ended; log in again");
        let passed = from_auth_service(&refused, Duration::from_secs(2));
        assert_eq!(passed.code(), Code::Unauthenticated);
        assert_eq!(passed.message(), "the session has ended; log in again");
        assert_eq!(reason(&passed), "SESSION_REVOKED");
    }

    #[test]
    fn failures_of_the_auth_service_become_unavailable_or_timeout() {
        let timeout = Duration::from_secs(2);
        let refused = from_auth_service(&Status::unavailable("tcp connect error"), timeout);
        assert_eq!(refused.code(), Code::Unavailable);
        assert_eq!(refused.message(), "auth service unavailable: tcp connect error");
        assert_eq!(reason(&refused), "AUTH_UNAVAILABLE");

        let internal = from_auth_service(&Status::internal("internal error"), timeout);
        assert_eq!(internal.code(), Code::Unavailable);
        assert_eq!(reason(&internal), "AUTH_UNAVAILABLE");

        let late = from_auth_service(&Status::cancelled("Timeout expired"), timeout);
        assert_eq!(late.code(), Code::DeadlineExceeded);
        assert_eq!(late.message(), "auth service did not answer within 2s");
        assert_eq!(reason(&late), "AUTH_TIMEOUT");
    }

    #[test]
    fn a_duplicated_status_keeps_everything() {
        let mut original = account_disabled();
        original.metadata_mut().insert("x-request-id", "abc".parse().unwrap());
        let copy = duplicate(&original);
        assert_eq!(copy.code(), original.code());
        assert_eq!(copy.message(), original.message());
        assert_eq!(copy.details(), original.details());
        assert_eq!(copy.metadata().get("x-request-id").unwrap(), "abc");
    }

    #[test]
    fn durations_read_naturally() {
        assert_eq!(humanize(Duration::from_secs(2)), "2s");
        assert_eq!(humanize(Duration::from_millis(300)), "300ms");
        assert_eq!(humanize(Duration::from_millis(1500)), "1.5s");
    }
}
