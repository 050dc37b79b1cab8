//! The resource service: per-user resources over gRPC (package `resource.v1`), every caller
//! checked by the auth service through the `api-client` guard layer.
//!
//! Layout: `domain` validates raw input, `ops` holds the operations (with the access rules),
//! `store` the queries, `grpc` the thin tonic adapter, `purge` the retention of soft-deleted
//! rows, `startup` wires it all to a listener.

pub mod cli;
pub mod connection_metrics;
pub mod domain;
pub mod error;
pub mod grpc;
pub mod guard_metrics;
pub mod ops;
pub mod purge;
pub mod settings;
pub mod startup;
pub mod store;

pub use settings::Settings;
pub use startup::Application;
