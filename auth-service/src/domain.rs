//! Validated values built from raw request fields. Each `parse` either yields a value that is
//! known good or says what is wrong, in words fit for a BadRequest field violation.

mod email;
mod ids;
mod name;
mod password;

pub use email::Email;
pub use ids::{SessionId, UserId};
pub use name::DisplayName;
pub use password::Password;
pub use shared::violations::{FieldViolation, FieldViolations};
