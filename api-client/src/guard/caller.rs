//! Who made a request, and how a handler reads it.

use std::time::SystemTime;

use tonic::{Request, Status};

use super::errors;
use crate::auth::v1::{Role, ValidateTokenResponse};

/// Who made the request, as the auth service said (inserted into request extensions).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    /// The user's id.
    pub user_id: i64,
    /// The user's email address.
    pub email: String,
    /// The user's role at validation time (not the one at login).
    pub role: Role,
    /// Whether the user may use the services; always true for a caller the layer let through.
    pub is_active: bool,
    /// Whether the user's email address is verified.
    pub is_verified: bool,
    /// The session the access token belongs to.
    pub session_id: i64,
    /// When the access token expires; nothing may trust it past this time.
    pub token_expires_at: SystemTime,
}

impl Caller {
    /// Whether the caller has the admin role.
    pub fn is_admin(&self) -> bool {
        self.role == Role::Admin
    }
}

impl TryFrom<ValidateTokenResponse> for Caller {
    type Error = Status;

    /// Refuses an answer without expiry (it could not be bounded in time) or for an inactive
    /// user (the auth service refuses those itself; this keeps the guard safe if it ever doesn't).
    fn try_from(answer: ValidateTokenResponse) -> Result<Self, Status> {
        let expire_time =
            answer.expire_time.ok_or_else(|| errors::auth_unavailable("its answer had no expire_time"))?;
        let token_expires_at = SystemTime::try_from(expire_time)
            .map_err(|_| errors::auth_unavailable("its answer had an out-of-range expire_time"))?;
        if !answer.is_active {
            return Err(errors::account_disabled());
        }
        Ok(Self {
            user_id: answer.user_id,
            email: answer.email,
            role: Role::try_from(answer.role).unwrap_or(Role::Unspecified),
            is_active: answer.is_active,
            is_verified: answer.is_verified,
            session_id: answer.session_id,
            token_expires_at,
        })
    }
}

/// Reads the caller the layer stored; a request that did not pass through the layer gets
/// UNAUTHENTICATED (reason `MISSING_TOKEN`).
pub fn caller<T>(request: &Request<T>) -> Result<&Caller, Status> {
    request.extensions().get::<Caller>().ok_or_else(errors::missing_token)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use tonic::Code;

    use super::*;

    fn answer(expires_at: SystemTime) -> ValidateTokenResponse {
        ValidateTokenResponse {
            user_id: 7,
            email: "ada@example.com".to_owned(),
            role: Role::Admin as i32,
            is_active: true,
            is_verified: true,
            session_id: 11,
            expire_time: Some(expires_at.into()),
        }
    }

    #[test]
    fn an_answer_becomes_a_caller() {
        let expires_at = SystemTime::UNIX_EPOCH + Duration::from_secs(2_000_000_000);
        let caller = Caller::try_from(answer(expires_at)).unwrap();
        assert_eq!(caller.user_id, 7);
        assert_eq!(caller.session_id, 11);
        assert!(caller.is_admin());
        assert_eq!(caller.token_expires_at, expires_at);
    }

    #[test]
    fn an_answer_without_expiry_or_for_an_inactive_user_is_refused() {
        let without_expiry = ValidateTokenResponse { expire_time: None, ..answer(SystemTime::now()) };
        assert_eq!(Caller::try_from(without_expiry).unwrap_err().code(), Code::Unavailable);
        let inactive = ValidateTokenResponse { is_active: false, ..answer(SystemTime::now()) };
        assert_eq!(Caller::try_from(inactive).unwrap_err().code(), Code::PermissionDenied);
    }

    #[test]
    fn a_request_that_skipped_the_layer_has_no_caller() {
        let status = caller(&Request::new(())).unwrap_err();
        assert_eq!(status.code(), Code::Unauthenticated);
    }
}
