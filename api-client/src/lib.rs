//! Generated gRPC stubs of the auth and resource services (packages `auth.v1`, `resource.v1`),
//! for the services themselves and for any backend that calls them, and [`guard`], the tower
//! layer with which a backend checks every request's token with the auth service. No database
//! code here.

/// Package `auth.v1`: accounts, tokens, sessions.
pub mod auth {
    /// Version 1 of the auth API.
    pub mod v1 {
        #![allow(missing_docs, clippy::all, unused_qualifications)]
        tonic::include_proto!("auth.v1");
    }
}

/// Package `resource.v1`: per-user resources.
pub mod resource {
    /// Version 1 of the resource API.
    pub mod v1 {
        #![allow(missing_docs, clippy::all, unused_qualifications)]
        tonic::include_proto!("resource.v1");
    }
}

/// Error statuses with ErrorInfo and BadRequest details, as both services answer them.
pub mod errors;

pub mod guard;

pub use guard::{AuthGuard, AuthLayer, Caller, GuardConfig, caller};

/// The encoded `FileDescriptorSet` of every proto file, for gRPC server reflection.
pub const FILE_DESCRIPTOR_SET: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/descriptor_set.bin"));
