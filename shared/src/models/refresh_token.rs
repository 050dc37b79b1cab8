use chrono::{DateTime, Utc};
use diesel::prelude::*;

use crate::schema::refresh_tokens;

/// A row of `refresh_tokens`; `token` is the hex SHA-256 digest of the token handed out.
#[derive(Debug, Clone, Queryable, Selectable, Identifiable)]
#[diesel(table_name = refresh_tokens, check_for_backend(diesel::pg::Pg))]
pub struct RefreshToken {
    /// Primary key.
    pub id: i32,
    /// Owner.
    pub user_id: i32,
    /// Hex SHA-256 digest of the token.
    pub token: String,
    /// After this the token is refused.
    pub expires_at: DateTime<Utc>,
    /// Issue time.
    pub created_at: Option<DateTime<Utc>>,
    /// Session the token belongs to.
    pub session_id: i32,
    /// When it was exchanged for its successor; `None` for the session's current token.
    pub rotated_at: Option<DateTime<Utc>>,
}

/// A refresh token to insert.
#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = refresh_tokens)]
pub struct NewRefreshToken<'a> {
    /// Owner.
    pub user_id: i32,
    /// Session the token belongs to.
    pub session_id: i32,
    /// Hex SHA-256 digest of the token.
    pub token: &'a str,
    /// After this the token is refused.
    pub expires_at: DateTime<Utc>,
}
