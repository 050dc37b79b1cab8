//! The Rust client of the auth and resource services, and the token check that lets any
//! backend protect its own gRPC API with the auth service.
//!
//! What is inside:
//!
//! - [`auth::v1`] and [`resource::v1`]: the generated stubs (messages, clients, server traits).
//! - [`connect`](mod@connect): channels with sensible defaults: bounded connects and calls,
//!   HTTP/2 keep-alive, TLS (rustls) for `https://` URLs.
//! - [`bearer`]: `authorization: Bearer <token>` on every call of a client, or on one request.
//! - [`guard`]: the tower layer that validates every incoming call's token with the auth service
//!   and caches the answers briefly; the resource-service uses exactly this.
//! - [`reasons`]: the reasons the services give for their errors, as an enum to match on.
//! - [`errors`]: building error statuses the way the services do.
//!
//! No database code, nothing of the services' internals.
//!
//! # Calling a service
//!
//! ```no_run
//! use api_client::auth::v1::LoginRequest;
//! use api_client::auth::v1::auth_service_client::AuthServiceClient;
//! use api_client::resource::v1::CreateResourceRequest;
//! use api_client::resource::v1::resource_service_client::ResourceServiceClient;
//! use api_client::{BearerToken, ClientConfig, connect};
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let config = ClientConfig::default(); // 5 s connects, 30 s calls, keep-alive; TLS for https://
//! let mut auth = AuthServiceClient::new(connect("http://auth-service:50051", &config).await?);
//! let login = LoginRequest { email: "ada@example.com".into(), password: "correct horse battery".into() };
//! let tokens = auth.login(login).await?.into_inner().tokens.unwrap_or_default();
//!
//! let channel = connect("http://resource-service:50052", &config).await?;
//! let mut resources = ResourceServiceClient::with_interceptor(channel, BearerToken::new(&tokens.access_token)?);
//! let created = resources.create_resource(CreateResourceRequest { title: "Groceries".into(), content: None }).await?;
//! # let _ = created;
//! # Ok(())
//! # }
//! ```
//!
//! With TLS from a private CA:
//!
//! ```no_run
//! use api_client::{ClientConfig, TlsConfig, connect_lazy};
//!
//! # fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let tls = TlsConfig { ca_certificate_pem: Some(std::fs::read("/etc/certs/ca.pem")?), ..TlsConfig::default() };
//! let channel = connect_lazy("https://auth-service:50051", &ClientConfig { tls: Some(tls), ..ClientConfig::default() })?;
//! # let _ = channel;
//! # Ok(())
//! # }
//! ```
//!
//! # Protecting your own API with the auth service
//!
//! ```no_run
//! # use api_client::auth::v1::user_service_server::{UserService as MyService, UserServiceServer as MyServiceServer};
//! use api_client::{AuthGuard, ClientConfig, GuardConfig, connect_lazy};
//! use tonic::transport::Server;
//!
//! # async fn serve(my_service: impl MyService) -> Result<(), Box<dyn std::error::Error>> {
//! // Lazy: the backend starts while the auth service is down and recovers when it returns.
//! let auth_channel = connect_lazy("http://auth-service:50051", &ClientConfig::default())?;
//! let guard = AuthGuard::new(auth_channel, GuardConfig::default());
//! Server::builder()
//!     .layer(guard.layer()) // every call but health and reflection needs a valid token
//!     .add_service(MyServiceServer::new(my_service))
//!     .serve("0.0.0.0:8443".parse()?)
//!     .await?;
//! # Ok(())
//! # }
//! ```
//!
//! A handler reads who called with [`caller`]`(&request)?`. The whole program is
//! `examples/protected_service.rs`.
//!
//! # Reacting to errors
//!
//! ```no_run
//! use api_client::{ErrorReason, StatusReason};
//!
//! # fn handle(status: tonic::Status) {
//! match status.reason() {
//!     Some(ErrorReason::TokenExpired) => { /* refresh, then retry */ }
//!     Some(ErrorReason::InvalidArgument) => {
//!         for violation in status.field_violations() {
//!             eprintln!("{}: {}", violation.field, violation.description);
//!         }
//!     }
//!     Some(reason) if reason.is_transient() => { /* retry with backoff */ }
//!     _ => eprintln!("{}", status.message()),
//! }
//! # }
//! ```

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

pub mod balance;
pub mod bearer;
pub mod connect;
/// Error statuses with ErrorInfo and BadRequest details, as both services answer them.
pub mod errors;
pub mod guard;
pub mod reasons;

pub use balance::connect_balanced;
pub use bearer::{BearerToken, InvalidBearerToken, with_bearer};
pub use connect::{ClientConfig, ClientIdentity, ConnectError, TlsConfig, connect, connect_lazy};
pub use guard::{AuthGuard, AuthLayer, Caller, GuardConfig, caller};
pub use reasons::{ErrorReason, FieldViolation, StatusReason};

/// The encoded `FileDescriptorSet` of every proto file, for gRPC server reflection.
pub const FILE_DESCRIPTOR_SET: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/descriptor_set.bin"));
