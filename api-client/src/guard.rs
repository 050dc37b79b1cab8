//! The token guard: protects a backend's gRPC API with the auth service's `ValidateToken`.
//!
//! Tonic interceptors are synchronous, so the check is a tower layer. For every request whose
//! path is not public it reads `authorization: Bearer <access token>`, asks the auth service
//! who the bearer is (reusing a recent answer for the same token for a few seconds), and stores
//! the [`Caller`] in the request's extensions, where a handler reads it with [`caller`].
//! Refusals reach the client as UNAUTHENTICATED / PERMISSION_DENIED with a
//! `google.rpc.ErrorInfo` (domain `auth.v1`) whose reason names the cause; an auth service that
//! is down or slow gives UNAVAILABLE (reason `AUTH_UNAVAILABLE`) or DEADLINE_EXCEEDED (reason
//! `AUTH_TIMEOUT`), never a hang.
//!
//! Under load the guard sends validations together: at most
//! [`GuardConfig::calls_in_flight`] calls run at once, and the validations that find them all
//! taken go in one `ValidateTokens` call when a slot frees (see `batch.rs`).
//!
//! Protecting an API takes a few lines:
//!
//! ```no_run
//! use api_client::auth::v1::user_service_server::{UserService, UserServiceServer};
//! use api_client::{AuthGuard, GuardConfig};
//! use tonic::transport::{Endpoint, Server};
//!
//! # async fn serve(my_service: impl UserService) -> Result<(), Box<dyn std::error::Error>> {
//! // Lazy: the backend starts while the auth service is down and recovers when it returns.
//! let auth_channel = Endpoint::from_static("http://auth-service:50051").connect_lazy();
//! let guard = AuthGuard::new(auth_channel, GuardConfig::default());
//!
//! Server::builder()
//!     .layer(guard.layer())
//!     .add_service(UserServiceServer::new(my_service))
//!     .serve("0.0.0.0:50052".parse()?)
//!     .await?;
//! # Ok(())
//! # }
//! ```
//!
//! and in a handler:
//!
//! ```no_run
//! # use api_client::auth::v1::{GetMeRequest, User};
//! # fn get_me(request: tonic::Request<GetMeRequest>) -> Result<tonic::Response<User>, tonic::Status> {
//! let caller = api_client::caller(&request)?;
//! if !caller.is_admin() {
//!     // …only the caller's own data…
//! }
//! # let _ = caller.user_id;
//! # Ok(tonic::Response::new(User::default()))
//! # }
//! ```

mod auth_guard;
mod batch;
mod bearer;
mod cache;
mod caller;
mod config;
mod errors;
mod layer;
mod stats;
mod validate;

pub use auth_guard::{AuthGuard, CallObserver};
pub use caller::{Caller, caller};
pub use config::GuardConfig;
pub use layer::{AuthLayer, AuthMiddleware};
pub use stats::GuardStats;
