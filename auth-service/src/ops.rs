//! The service's operations as plain async functions over [`AppState`](crate::state::AppState):
//! no tonic types here; the gRPC adapters in `grpc` call exactly one of these per RPC.

pub mod accounts;
pub mod admin;
pub mod sessions;

use chrono::{DateTime, Utc};
use shared::models::{Role, User};

use crate::error::AuthError;
use crate::tokens::{IssuedAccessToken, RefreshTokenValue};

/// The authenticated caller of an RPC, as of now (not as of login).
#[derive(Debug, Clone)]
pub struct Caller {
    /// The user as of the latest change this replica has heard of (from the database, or from
    /// memory kept coherent with it: see `live_sessions`).
    pub user: User,
    /// The session of the access token used.
    pub session_id: i32,
    /// When that access token expires.
    pub token_expires_at: DateTime<Utc>,
}

impl Caller {
    /// Refuses callers that are not admins.
    pub fn require_admin(&self) -> Result<(), AuthError> {
        if self.user.role() == Role::Admin { Ok(()) } else { Err(AuthError::AdminRequired) }
    }
}

/// Where a login came from, kept with the session.
#[derive(Debug, Clone, Default)]
pub struct ClientInfo {
    /// The client's `user-agent`.
    pub user_agent: Option<String>,
    /// The peer address.
    pub ip_address: Option<String>,
}

/// The tokens of a session, as handed to the client.
#[derive(Debug)]
pub struct TokenGrant {
    /// New access token.
    pub access: IssuedAccessToken,
    /// The session's current refresh token.
    pub refresh: RefreshTokenValue,
    /// When that refresh token expires.
    pub refresh_expires_at: DateTime<Utc>,
    /// The session.
    pub session_id: i32,
}
