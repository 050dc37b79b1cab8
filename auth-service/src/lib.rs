//! The auth service: users, passwords (argon2id), access tokens (JWT), rotating refresh tokens,
//! sessions and roles, served over gRPC (package `auth.v1`).
//!
//! Layout: `domain` validates raw input, `ops` holds the operations, `store` the queries,
//! `grpc` the thin tonic adapters, `startup` wires it all to a listener.

pub mod allocator;
pub mod change_listener;
pub mod cli;
pub mod domain;
pub mod error;
pub mod grpc;
pub mod hash_workers;
pub mod live_sessions;
pub mod ops;
pub mod passwords;
pub mod purge;
pub mod settings;
pub mod startup;
pub mod state;
pub mod store;
pub mod tokens;

pub use settings::Settings;
pub use shared::{secret, telemetry};
pub use startup::Application;
