//! One tower layer around every RPC: request id, span and log line, metrics, deadline and load
//! shedding. It sits outermost, so refused and unauthenticated calls are seen too.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use api_client::ErrorReason::{Overloaded, RpcTimeout};
use http::{HeaderValue, Request, Response};
use tokio::sync::Semaphore;
use tonic::Code;
use tonic::body::Body;
use tracing::Instrument;

use crate::metrics::Metrics;

/// Header carrying the id that joins one request's log lines across services.
pub const REQUEST_ID_HEADER: &str = "x-request-id";
/// Longest request id accepted from a caller; a longer or odd one is replaced.
const MAX_REQUEST_ID_LEN: usize = 128;
/// Paths neither limited nor timed: probes must answer under overload, reflection streams.
const EXEMPT_PREFIXES: [&str; 2] = ["/grpc.health.v1.Health/", "/grpc.reflection."];

/// The request id of the current call, as the layer put it into the request's extensions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestId(pub String);

/// Shared state of the layer.
struct Shared {
    metrics: Metrics,
    slots: Arc<Semaphore>,
    max_concurrent: usize,
    timeout: Duration,
    error_domain: &'static str,
}

/// The layer; cheap to clone.
#[derive(Clone)]
pub struct RpcLayer {
    shared: Arc<Shared>,
}

impl RpcLayer {
    /// At most `max_concurrent` RPCs at once, each within `timeout`; `error_domain` goes into the
    /// ErrorInfo of the statuses the layer itself answers.
    pub fn new(metrics: Metrics, max_concurrent: usize, timeout: Duration, error_domain: &'static str) -> Self {
        let max_concurrent = max_concurrent.max(1);
        Self {
            shared: Arc::new(Shared {
                metrics,
                slots: Arc::new(Semaphore::new(max_concurrent)),
                max_concurrent,
                timeout,
                error_domain,
            }),
        }
    }
}

impl<S> tower::Layer<S> for RpcLayer {
    type Service = RpcService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        RpcService { inner, shared: Arc::clone(&self.shared) }
    }
}

/// The service the layer wraps around the server's routes.
#[derive(Clone)]
pub struct RpcService<S> {
    inner: S,
    shared: Arc<Shared>,
}

impl<S, B> tower::Service<Request<B>> for RpcService<S>
where
    S: tower::Service<Request<B>, Response = Response<Body>> + Clone + Send + 'static,
    S::Future: Send,
    B: Send + 'static,
{
    type Response = Response<Body>;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Self::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request<B>) -> Self::Future {
        // The clone is not ready; the ready one (self.inner) serves this call.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let shared = Arc::clone(&self.shared);
        let path = request.uri().path().to_owned();
        let (service, method) = split_path(&path);
        let request_id = take_or_make_request_id(&mut request);
        let peer = peer_of(&request);
        let span = tracing::info_span!("rpc", rpc.service = %service, rpc.method = %method, request_id = %request_id.0, peer = %peer);
        request.extensions_mut().insert(request_id.clone());
        let exempt = EXEMPT_PREFIXES.iter().any(|prefix| path.starts_with(prefix));

        Box::pin(
            async move {
                let started = Instant::now();
                shared.metrics.rpc_started(&service, &method);
                let permit = if exempt { None } else { shared.slots.clone().try_acquire_owned().ok() };
                let mut response = if !exempt && permit.is_none() {
                    overloaded(&shared)
                } else if exempt {
                    inner.call(request).await?
                } else {
                    match tokio::time::timeout(shared.timeout, inner.call(request)).await {
                        Ok(response) => response?,
                        Err(_) => timed_out(&shared),
                    }
                };
                drop(permit);
                if let Ok(value) = HeaderValue::from_str(&request_id.0) {
                    response.headers_mut().insert(REQUEST_ID_HEADER, value);
                }
                let code = status_code(&response);
                let elapsed = started.elapsed();
                shared.metrics.rpc_handled(&service, &method, code, elapsed);
                let elapsed_ms = elapsed.as_secs_f64() * 1000.0;
                if matches!(
                    code,
                    Code::Internal | Code::Unknown | Code::DataLoss | Code::Unavailable | Code::DeadlineExceeded
                ) {
                    tracing::warn!(grpc.code = ?code, elapsed_ms, "rpc failed");
                } else {
                    tracing::info!(grpc.code = ?code, elapsed_ms, "rpc finished");
                }
                Ok(response)
            }
            .instrument(span),
        )
    }
}

fn overloaded(shared: &Shared) -> Response<Body> {
    let message = format!("overloaded: {} calls already in progress; retry with backoff", shared.max_concurrent);
    let status =
        api_client::errors::error_status(Overloaded.code(), message, Overloaded.as_str(), shared.error_domain, []);
    status.into_http()
}

fn timed_out(shared: &Shared) -> Response<Body> {
    let message = format!("the call did not finish within the server's {:?} deadline", shared.timeout);
    let status =
        api_client::errors::error_status(RpcTimeout.code(), message, RpcTimeout.as_str(), shared.error_domain, []);
    status.into_http()
}

/// `/pkg.Service/Method` → (`pkg.Service`, `Method`).
fn split_path(path: &str) -> (String, String) {
    let trimmed = path.trim_start_matches('/');
    match trimmed.split_once('/') {
        Some((service, method)) => (service.to_owned(), method.to_owned()),
        None => (trimmed.to_owned(), String::new()),
    }
}

/// The caller's request id when it is sane, else a new one; written back into the headers so
/// that whatever the handlers call next (the auth service) receives it.
fn take_or_make_request_id<B>(request: &mut Request<B>) -> RequestId {
    let given = request
        .headers()
        .get(REQUEST_ID_HEADER)
        .and_then(|value| value.to_str().ok())
        .filter(|id| !id.is_empty() && id.len() <= MAX_REQUEST_ID_LEN && id.chars().all(|c| c.is_ascii_graphic()))
        .map(str::to_owned);
    let id = given.unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
    if let Ok(value) = HeaderValue::from_str(&id) {
        request.headers_mut().insert(REQUEST_ID_HEADER, value);
    }
    RequestId(id)
}

fn peer_of<B>(request: &Request<B>) -> String {
    use tonic::transport::server::{TcpConnectInfo, TlsConnectInfo};
    let extensions = request.extensions();
    let addr = extensions
        .get::<TcpConnectInfo>()
        .and_then(TcpConnectInfo::remote_addr)
        .or_else(|| extensions.get::<TlsConnectInfo<TcpConnectInfo>>().and_then(|info| info.get_ref().remote_addr()));
    addr.map_or_else(|| "unknown".to_owned(), |addr| addr.to_string())
}

/// The status code of a unary response: from `grpc-status` in the headers (errors are sent
/// trailers-only), else OK (a unary success carries its status in the trailers).
fn status_code(response: &Response<Body>) -> Code {
    response
        .headers()
        .get("grpc-status")
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.parse::<i32>().ok())
        .map_or(Code::Ok, Code::from_i32)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_split_into_service_and_method() {
        assert_eq!(split_path("/auth.v1.AuthService/Login"), ("auth.v1.AuthService".into(), "Login".into()));
        assert_eq!(split_path("/odd"), ("odd".into(), String::new()));
    }

    #[test]
    fn a_sane_request_id_is_kept_and_an_odd_one_replaced() {
        let mut request = Request::builder().header(REQUEST_ID_HEADER, "abc-123").body(()).unwrap();
        assert_eq!(take_or_make_request_id(&mut request).0, "abc-123");
        let mut odd = Request::builder().header(REQUEST_ID_HEADER, "has space").body(()).unwrap();
        let replaced = take_or_make_request_id(&mut odd).0;
        assert_ne!(replaced, "has space");
        assert_eq!(odd.headers()[REQUEST_ID_HEADER], replaced.as_str());
        let mut none = Request::builder().body(()).unwrap();
        assert_eq!(take_or_make_request_id(&mut none).0.len(), 36);
    }
}
