//! One tower layer around every RPC: request id, span and log line, metrics, deadline and load
//! shedding. It sits outermost, so refused and unauthenticated calls are seen too.

use std::fmt;
use std::future::Future;
use std::net::SocketAddr;
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

use crate::rpc_metrics::RpcSeries;

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
    series: RpcSeries,
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
    /// Counts into `series`, at most `max_concurrent` RPCs at once, each within `timeout`;
    /// `error_domain` goes into the ErrorInfo of the statuses the layer itself answers.
    pub fn new(series: RpcSeries, max_concurrent: usize, timeout: Duration, error_domain: &'static str) -> Self {
        let max_concurrent = max_concurrent.max(1);
        Self {
            shared: Arc::new(Shared {
                series,
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
        // A clone of the URI shares its bytes: the path outlives the request without a copy.
        let uri = request.uri().clone();
        let path = uri.path();
        let exempt = EXEMPT_PREFIXES.iter().any(|prefix| path.starts_with(prefix));
        let (request_id, request_id_header) = take_or_make_request_id(&mut request);
        let peer = Peer(peer_of(&request));
        // The span gives the handlers' own lines (a logged failure, say) the call's context;
        // its fields are rendered once, here, not per line.
        let span = {
            let (service, method) = split_path(path);
            let request_id = request_id.0.as_str();
            tracing::info_span!("rpc", rpc.service = service, rpc.method = method, request_id, peer = %peer)
        };
        request.extensions_mut().insert(request_id);

        Box::pin(
            async move {
                let series = shared.series.method(uri.path());
                let started = Instant::now();
                series.started();
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
                if let Some(value) = request_id_header {
                    response.headers_mut().insert(REQUEST_ID_HEADER, never_indexed(value));
                }
                let code = status_code(&response);
                let elapsed = started.elapsed();
                series.handled(code, elapsed);
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
fn split_path(path: &str) -> (&str, &str) {
    let trimmed = path.trim_start_matches('/');
    trimmed.split_once('/').unwrap_or((trimmed, ""))
}

/// The caller's request id when it is sane, else a new one; written back into the headers so
/// that whatever the handlers call next (the auth service) receives it. Also the header value
/// to answer with (`None` only if a generated id were not a valid header, which cannot be).
fn take_or_make_request_id<B>(request: &mut Request<B>) -> (RequestId, Option<HeaderValue>) {
    let given = request
        .headers()
        .get(REQUEST_ID_HEADER)
        .and_then(|value| Some((value.to_str().ok()?, value)))
        .filter(|(id, _)| !id.is_empty() && id.len() <= MAX_REQUEST_ID_LEN && id.chars().all(|c| c.is_ascii_graphic()))
        .map(|(id, value)| (id.to_owned(), value.clone()));
    if let Some((id, value)) = given {
        return (RequestId(id), Some(value));
    }
    let id = new_request_id();
    let value = HeaderValue::from_str(&id).ok();
    if let Some(value) = &value {
        request.headers_mut().insert(REQUEST_ID_HEADER, value.clone());
    }
    (RequestId(id), value)
}

/// A random (version 4) UUID for a call that came without a request id. The bits come from
/// rand's thread-local generator (seeded from the OS, then no system call per id), where uuid's
/// own `new_v4` asks the OS every time.
fn new_request_id() -> String {
    uuid::Builder::from_random_bytes(rand::random()).into_uuid().to_string()
}

/// `value` marked so that HPACK sends it as a literal that is never indexed. A request id is
/// new on every call: indexing it would add an entry to the connection's header table per
/// response, and evict the headers that do repeat. The encoder also compared each new id with
/// every id still in the table; in `cargo xtask bench` that was 3–4 % of the auth service's
/// CPU per ValidateToken. (The mark is not sent; locally, `Debug` of the value prints
/// `Sensitive`, which only h2's trace logs use.)
fn never_indexed(mut value: HeaderValue) -> HeaderValue {
    value.set_sensitive(true);
    value
}

fn peer_of<B>(request: &Request<B>) -> Option<SocketAddr> {
    use tonic::transport::server::{TcpConnectInfo, TlsConnectInfo};
    let extensions = request.extensions();
    extensions
        .get::<TcpConnectInfo>()
        .and_then(TcpConnectInfo::remote_addr)
        .or_else(|| extensions.get::<TlsConnectInfo<TcpConnectInfo>>().and_then(|info| info.get_ref().remote_addr()))
}

/// The caller's address as logged: `ip:port`, or `unknown`.
struct Peer(Option<SocketAddr>);

impl fmt::Display for Peer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(addr) => addr.fmt(f),
            None => f.write_str("unknown"),
        }
    }
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
        assert_eq!(split_path("/auth.v1.AuthService/Login"), ("auth.v1.AuthService", "Login"));
        assert_eq!(split_path("/odd"), ("odd", ""));
    }

    #[test]
    fn a_sane_request_id_is_kept_and_an_odd_one_replaced() {
        let mut request = Request::builder().header(REQUEST_ID_HEADER, "abc-123").body(()).unwrap();
        let (kept, header) = take_or_make_request_id(&mut request);
        assert_eq!(kept.0, "abc-123");
        assert_eq!(header.unwrap(), "abc-123");
        let mut odd = Request::builder().header(REQUEST_ID_HEADER, "has space").body(()).unwrap();
        let (replaced, header) = take_or_make_request_id(&mut odd);
        assert_ne!(replaced.0, "has space");
        assert_eq!(odd.headers()[REQUEST_ID_HEADER], replaced.0.as_str());
        assert_eq!(header.unwrap(), replaced.0.as_str());
        let mut none = Request::builder().body(()).unwrap();
        assert_eq!(take_or_make_request_id(&mut none).0.0.len(), 36);
    }

    /// Answers every call with an empty OK response.
    #[derive(Clone)]
    struct Answer;

    impl tower::Service<Request<()>> for Answer {
        type Response = Response<Body>;
        type Error = std::convert::Infallible;
        type Future = std::future::Ready<Result<Response<Body>, Self::Error>>;

        fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
            Poll::Ready(Ok(()))
        }

        fn call(&mut self, _: Request<()>) -> Self::Future {
            std::future::ready(Ok(Response::new(Body::empty())))
        }
    }

    #[tokio::test]
    async fn the_answer_carries_the_request_id_never_indexed() {
        use tower::{Layer as _, Service as _};
        let series = crate::Metrics::new().rpc_series([]);
        let layer = RpcLayer::new(series, 4, Duration::from_secs(5), "test.example");
        let mut service = layer.layer(Answer);
        let given = Request::builder().uri("/pkg.Svc/Get").header(REQUEST_ID_HEADER, "abc-123").body(()).unwrap();
        let answer = service.call(given).await.unwrap();
        assert_eq!(answer.headers()[REQUEST_ID_HEADER], "abc-123");
        assert!(answer.headers()[REQUEST_ID_HEADER].is_sensitive());
        let without = Request::builder().uri("/pkg.Svc/Get").body(()).unwrap();
        let answer = service.call(without).await.unwrap();
        assert_eq!(answer.headers()[REQUEST_ID_HEADER].len(), 36);
        assert!(answer.headers()[REQUEST_ID_HEADER].is_sensitive());
    }

    #[test]
    fn generated_request_ids_are_distinct_version_4_uuids() {
        let ids: std::collections::HashSet<String> = (0..1000).map(|_| new_request_id()).collect();
        assert_eq!(ids.len(), 1000);
        for id in ids.iter().take(10) {
            let parsed = uuid::Uuid::parse_str(id).unwrap();
            assert_eq!(parsed.get_version_num(), 4, "{id}");
            assert_eq!(parsed.get_variant(), uuid::Variant::RFC4122, "{id}");
        }
    }
}
