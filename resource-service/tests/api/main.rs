//! End-to-end tests: the real auth-service and resource-service on real sockets, one real
//! PostgreSQL database per test, driven through the generated gRPC clients.

mod access;
mod crud;
mod helpers;
mod outage;
mod pagination;
mod revocation;
mod soft_delete;
mod updates;
mod validation;
