use chrono::{DateTime, Utc};
use diesel::prelude::*;

use crate::models::Role;
use crate::schema::users;

/// A row of `users`.
#[derive(Debug, Clone, Queryable, Selectable, Identifiable)]
#[diesel(table_name = users, check_for_backend(diesel::pg::Pg))]
pub struct User {
    /// Primary key.
    pub id: i32,
    /// Trimmed, lower-cased, unique.
    pub email: String,
    /// PHC string of the argon2id hash.
    pub hashed_password: String,
    /// Display name.
    pub name: String,
    /// `admin`, `user` or `guest`.
    pub role: String,
    /// Nullable as in the design document; NULL counts as inactive.
    pub is_active: Option<bool>,
    /// Nullable as in the design document; NULL counts as not verified.
    pub is_verified: Option<bool>,
    /// When the row was inserted.
    pub created_at: Option<DateTime<Utc>>,
    /// When the row last changed (kept by a trigger).
    pub updated_at: Option<DateTime<Utc>>,
}

impl User {
    /// The role; a value outside the CHECK constraint cannot be stored, so it falls back to guest.
    pub fn role(&self) -> Role {
        self.role.parse().unwrap_or(Role::Guest)
    }

    /// Whether the account may be used (NULL fails closed).
    pub fn is_active(&self) -> bool {
        self.is_active.unwrap_or(false)
    }

    /// Whether the email address was verified (NULL counts as no).
    pub fn is_verified(&self) -> bool {
        self.is_verified.unwrap_or(false)
    }
}

/// A user to insert; the database fills in id, flags and timestamps.
#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = users)]
pub struct NewUser<'a> {
    /// Already normalised (trimmed, lower-cased).
    pub email: &'a str,
    /// PHC string of the argon2id hash.
    pub hashed_password: &'a str,
    /// Display name.
    pub name: &'a str,
    /// Stored role name.
    pub role: &'a str,
}
