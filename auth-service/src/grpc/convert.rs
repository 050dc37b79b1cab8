//! Conversions between rows and domain values and the generated protobuf messages.

use api_client::auth::v1 as pb;
use chrono::{DateTime, TimeDelta, Utc};
use shared::models::{Role, Session, User};

use tonic::Status;

use crate::error::AuthError;
use crate::ops::{Caller, TokenGrant};

/// A row as the API's `User`.
pub fn user(user: &User) -> pb::User {
    pb::User {
        id: i64::from(user.id),
        email: user.email.clone(),
        name: user.name.clone(),
        role: role(user.role()).into(),
        is_active: user.is_active(),
        is_verified: user.is_verified(),
        create_time: user.created_at.map(timestamp),
        update_time: user.updated_at.map(timestamp),
    }
}

/// A row as the API's `Session`; `current` marks the caller's own.
pub fn session(session: &Session, current_session: Option<i32>) -> pb::Session {
    pb::Session {
        id: i64::from(session.id),
        create_time: Some(timestamp(session.created_at)),
        last_use_time: Some(timestamp(session.last_used_at)),
        expire_time: Some(timestamp(session.expires_at)),
        user_agent: session.user_agent.clone().unwrap_or_default(),
        ip_address: session.ip_address.clone().unwrap_or_default(),
        current: current_session == Some(session.id),
    }
}

/// Tokens as the API's `TokenPair`.
pub fn token_pair(grant: &TokenGrant) -> pb::TokenPair {
    let now = Utc::now();
    pb::TokenPair {
        access_token: grant.access.token.expose().to_owned(),
        access_token_lifetime: Some(duration(grant.access.expires_at - now)),
        refresh_token: grant.refresh.expose().to_owned(),
        refresh_token_lifetime: Some(duration(grant.refresh_expires_at - now)),
        token_type: "Bearer".to_owned(),
        session_id: i64::from(grant.session_id),
    }
}

/// A validated caller as ValidateToken's answer.
pub fn validated(caller: &Caller) -> pb::ValidateTokenResponse {
    pb::ValidateTokenResponse {
        user_id: i64::from(caller.user.id),
        email: caller.user.email.clone(),
        role: role(caller.user.role()).into(),
        is_active: caller.user.is_active(),
        is_verified: caller.user.is_verified(),
        session_id: i64::from(caller.session_id),
        expire_time: Some(timestamp(caller.token_expires_at)),
    }
}

/// One token's outcome as a ValidateTokens verdict. A refusal carries the very status
/// ValidateToken would have failed with (built by the one `AuthError` to `Status` mapping).
pub fn verdict(outcome: Result<Caller, AuthError>) -> pb::TokenVerdict {
    let outcome = match outcome {
        Ok(caller) => pb::token_verdict::Outcome::Caller(validated(&caller)),
        Err(error) => {
            let reason = error.reason().as_str().to_owned();
            let status = Status::from(error);
            pb::token_verdict::Outcome::Refusal(pb::TokenRefusal {
                code: status.code().into(),
                message: status.message().to_owned(),
                reason,
                details: status.details().to_vec(),
            })
        }
    };
    pb::TokenVerdict { outcome: Some(outcome) }
}

/// A role as the API's enum.
pub fn role(role: Role) -> pb::Role {
    match role {
        Role::Admin => pb::Role::Admin,
        Role::User => pb::Role::User,
        Role::Guest => pb::Role::Guest,
    }
}

/// The API's role enum as a role; `Ok(None)` for ROLE_UNSPECIFIED, `Err` for unknown numbers.
pub fn parse_role(raw: i32) -> Result<Option<Role>, String> {
    match pb::Role::try_from(raw) {
        Ok(pb::Role::Unspecified) => Ok(None),
        Ok(pb::Role::Admin) => Ok(Some(Role::Admin)),
        Ok(pb::Role::User) => Ok(Some(Role::User)),
        Ok(pb::Role::Guest) => Ok(Some(Role::Guest)),
        Err(_) => Err(format!("unknown role {raw}")),
    }
}

/// A point in time as a protobuf Timestamp.
pub fn timestamp(at: DateTime<Utc>) -> prost_types::Timestamp {
    std::time::SystemTime::from(at).into()
}

/// A span of time as a protobuf Duration (whole seconds, never negative).
pub fn duration(span: TimeDelta) -> prost_types::Duration {
    prost_types::Duration { seconds: span.num_seconds().max(0), nanos: 0 }
}

/// A count as the API's int32, saturating.
pub fn count(count: usize) -> i32 {
    i32::try_from(count).unwrap_or(i32::MAX)
}
