use chrono::{DateTime, Utc};
use diesel::prelude::*;

use crate::schema::sessions;

/// A row of `sessions`: one login and every refresh token rotated from it.
#[derive(Debug, Clone, Queryable, Selectable, Identifiable)]
#[diesel(table_name = sessions, check_for_backend(diesel::pg::Pg))]
pub struct Session {
    /// Primary key; access tokens carry it as `sid`.
    pub id: i32,
    /// Owner.
    pub user_id: i32,
    /// User agent of the client that logged in.
    pub user_agent: Option<String>,
    /// Peer address of the client that logged in.
    pub ip_address: Option<String>,
    /// Login time.
    pub created_at: DateTime<Utc>,
    /// Last change of the row (kept by a trigger).
    pub updated_at: DateTime<Utc>,
    /// Last login or refresh.
    pub last_used_at: DateTime<Utc>,
    /// Expiry of the current refresh token.
    pub expires_at: DateTime<Utc>,
    /// Set when the session was ended; its tokens are then all refused.
    pub revoked_at: Option<DateTime<Utc>>,
}

/// A session to insert at login.
#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = sessions)]
pub struct NewSession<'a> {
    /// Owner.
    pub user_id: i32,
    /// User agent of the client, cut to the column's size.
    pub user_agent: Option<&'a str>,
    /// Peer address of the client.
    pub ip_address: Option<&'a str>,
    /// Expiry of the first refresh token.
    pub expires_at: DateTime<Utc>,
}
