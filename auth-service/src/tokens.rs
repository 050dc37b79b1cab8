//! Access tokens (signed JWTs) and refresh tokens (opaque random strings stored as digests).

mod access;
mod claims;
mod jws;
mod refresh;

pub use access::{AccessTokenKeys, IssuedAccessToken, VerifiedAccessToken};
pub use refresh::{RefreshTokenValue, RefreshTokens};
