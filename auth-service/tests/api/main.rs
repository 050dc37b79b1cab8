//! End-to-end tests: the real auth-service on a real socket, a real PostgreSQL database per
//! test (cloned from a migrated template), driven through the generated gRPC clients.

mod admin;
mod helpers;
mod key_rotation;
mod login;
mod migrations;
mod outage;
mod purge;
mod refresh;
mod register;
mod replicas;
mod revocation;
mod sessions;
mod validate;
mod validate_many;
