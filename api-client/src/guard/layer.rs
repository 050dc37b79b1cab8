//! The tower layer that checks every request's token before the gRPC service sees it.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use tonic::body::Body;
use tower::{Layer, Service};

use super::auth_guard::AuthGuard;
use super::bearer::{bearer_token, request_id};

/// Tower layer wrapping a service in an [`AuthMiddleware`]; made by [`AuthGuard::layer`].
#[derive(Debug, Clone)]
pub struct AuthLayer {
    guard: AuthGuard,
}

impl AuthLayer {
    /// A layer checking tokens with `guard`.
    pub fn new(guard: AuthGuard) -> Self {
        Self { guard }
    }
}

impl<S> Layer<S> for AuthLayer {
    type Service = AuthMiddleware<S>;

    fn layer(&self, inner: S) -> Self::Service {
        AuthMiddleware { inner, guard: self.guard.clone() }
    }
}

/// Lets through requests to public paths and requests whose bearer token the auth service
/// accepts (with their [`Caller`](super::Caller) in the extensions); answers every other
/// request itself with the refusal.
#[derive(Debug, Clone)]
pub struct AuthMiddleware<S> {
    inner: S,
    guard: AuthGuard,
}

impl<S, B> Service<http::Request<B>> for AuthMiddleware<S>
where
    S: Service<http::Request<B>, Response = http::Response<Body>> + Clone + Send + 'static,
    S::Future: Send,
    B: Send + 'static,
{
    type Response = http::Response<Body>;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Self::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: http::Request<B>) -> Self::Future {
        // The instance polled ready serves this request; the clone stays for the next one.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);

        if self.guard.config().is_public(request.uri().path()) {
            return Box::pin(inner.call(request));
        }
        let guard = self.guard.clone();
        Box::pin(async move {
            let token = match bearer_token(request.headers()) {
                Ok(token) => token.to_owned(),
                Err(refusal) => return Ok(refusal.into_http()),
            };
            let request_id = request_id(request.headers()).map(str::to_owned);
            match guard.authenticate(&token, request_id.as_deref()).await {
                Ok(caller) => {
                    // tonic copies the HTTP extensions into `tonic::Request::extensions()`.
                    request.extensions_mut().insert(caller);
                    inner.call(request).await
                }
                Err(refusal) => Ok(refusal.into_http()),
            }
        })
    }
}
