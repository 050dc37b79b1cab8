//! Thin tonic adapters: parse the request, call one operation, convert the answer.

mod auth_api;
mod convert;
mod metadata;
mod user_api;

pub use auth_api::AuthApi;
pub use metadata::bearer_token;
pub use user_api::UserApi;
