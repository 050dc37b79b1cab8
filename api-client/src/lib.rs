//! Generated gRPC stubs of the auth and resource services (packages `auth.v1`, `resource.v1`),
//! for the services themselves and for any backend that calls them. No database code here.

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

/// The encoded `FileDescriptorSet` of every proto file, for gRPC server reflection.
pub const FILE_DESCRIPTOR_SET: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/descriptor_set.bin"));
