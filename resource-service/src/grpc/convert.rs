//! Rows and callers to and from protobuf messages.

use api_client::Caller;
use api_client::auth::v1::Role as ApiRole;
use api_client::resource::v1 as pb;
use shared::models::{Resource, Role, UtcMicros};

use crate::domain::etag;
use crate::ops::Actor;

/// A row as the API's `Resource` (taken by value: its strings move into the message).
pub fn resource(row: Resource) -> pb::Resource {
    pb::Resource {
        id: i64::from(row.id),
        owner_id: i64::from(row.user_id),
        title: row.title,
        content: row.content,
        create_time: row.created_at.map(timestamp),
        update_time: row.updated_at.map(timestamp),
        delete_time: row.deleted_at.map(timestamp),
        etag: etag(row.version),
    }
}

/// The guard's caller as an actor; an unknown role gets the least rights (guest).
pub fn actor(caller: &Caller) -> Actor {
    let role = match caller.role {
        ApiRole::Admin => Role::Admin,
        ApiRole::User => Role::User,
        ApiRole::Guest | ApiRole::Unspecified => Role::Guest,
    };
    // The auth service issues INTEGER ids; anything else cannot own a row.
    Actor { user_id: i32::try_from(caller.user_id).unwrap_or(0), role }
}

fn timestamp(at: UtcMicros) -> prost_types::Timestamp {
    let (seconds, nanos) = at.unix_seconds_and_nanos();
    prost_types::Timestamp { seconds, nanos }
}
