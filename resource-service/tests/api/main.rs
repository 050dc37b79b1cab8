//! End-to-end tests: the real auth-service and resource-service on real sockets, one real
//! PostgreSQL database per test, driven through the generated gRPC clients.

mod access;
mod batched_writes;
mod crud;
#[allow(dead_code, unused_imports, reason = "shared with the operations tests; each binary uses a part")]
#[path = "../support/mod.rs"]
mod helpers;
mod outage;
mod pagination;
mod revocation;
mod soft_delete;
mod updates;
mod validation;
