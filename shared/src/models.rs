//! Row types: `X` is read from the table, `NewX` is inserted into it.

mod refresh_token;
mod resource;
mod role;
mod session;
mod user;
mod utc_micros;

pub use refresh_token::{NewRefreshToken, RefreshToken};
pub use resource::{NewResource, Resource};
pub use role::{Role, UnknownRole};
pub use session::{NewSession, Session};
pub use user::{NewUser, User};
pub use utc_micros::UtcMicros;
