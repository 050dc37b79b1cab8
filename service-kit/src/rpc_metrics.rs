//! The RPC layer's Prometheus series, resolved once per method rather than on every call.
//!
//! The layer sits in front of the router, so it sees any path a caller sends. Only the methods
//! the server answers (listed at start from the services' descriptors, see
//! [`crate::served_methods`]) get series of their own; every other path is counted under
//! `grpc_service="unknown", grpc_method="unknown"`, so that callers inventing paths cannot grow
//! the registry without bound. Resolving a method is one map lookup; the labels are built, and
//! the series created, the first time a method (and a method's status code) is seen.

use std::collections::HashMap;
use std::sync::OnceLock;
use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::Histogram;

use crate::served_methods::ServedMethod;

/// What the series of paths that name no served method are labelled with.
pub const UNKNOWN: &str = "unknown";
/// Status codes 0 (OK) to 16 (UNAUTHENTICATED).
const CODES: usize = 17;

/// Labels of the per-method series.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct MethodLabels {
    grpc_type: &'static str,
    grpc_service: String,
    grpc_method: String,
}

/// Labels of the per-method, per-code series.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct CodeLabels {
    grpc_type: &'static str,
    grpc_service: String,
    grpc_method: String,
    grpc_code: &'static str,
}

/// The three families the RPC layer writes to (handles onto the registered ones).
#[derive(Clone)]
pub(crate) struct RpcFamilies {
    pub(crate) started: Family<MethodLabels, Counter>,
    pub(crate) handled: Family<CodeLabels, Counter>,
    pub(crate) handling_seconds: Family<MethodLabels, Histogram>,
}

/// The series of every served method, and of the unknown ones (the RPC layer holds one set).
pub struct RpcSeries {
    by_path: HashMap<String, MethodSeries>,
    unknown: MethodSeries,
}

impl RpcSeries {
    /// Series for these served methods, and one set for any other path (counted as unary:
    /// nothing streams on a path the server does not serve).
    pub(crate) fn new(families: RpcFamilies, methods: impl IntoIterator<Item = ServedMethod>) -> Self {
        let by_path = methods
            .into_iter()
            .map(|served| {
                let path = format!("/{}/{}", served.service, served.method);
                (path, MethodSeries::new(families.clone(), served))
            })
            .collect();
        let unknown = ServedMethod { service: UNKNOWN.to_owned(), method: UNKNOWN.to_owned(), grpc_type: "unary" };
        let unknown = MethodSeries::new(families, unknown);
        Self { by_path, unknown }
    }

    /// The series of the method at `path` (`/pkg.Service/Method`), or the unknown ones.
    pub fn method(&self, path: &str) -> &MethodSeries {
        self.by_path.get(path).unwrap_or(&self.unknown)
    }
}

/// One method's series, each created on first use.
pub struct MethodSeries {
    families: RpcFamilies,
    labels: MethodLabels,
    started: OnceLock<Counter>,
    handling_seconds: OnceLock<Histogram>,
    handled: [OnceLock<Counter>; CODES],
}

impl MethodSeries {
    fn new(families: RpcFamilies, served: ServedMethod) -> Self {
        let ServedMethod { service, method, grpc_type } = served;
        Self {
            families,
            labels: MethodLabels { grpc_type, grpc_service: service, grpc_method: method },
            started: OnceLock::new(),
            handling_seconds: OnceLock::new(),
            handled: std::array::from_fn(|_| OnceLock::new()),
        }
    }

    /// Counts a call that started.
    pub fn started(&self) {
        self.started.get_or_init(|| self.families.started.get_or_create(&self.labels).clone()).inc();
    }

    /// Counts a call that finished with `code` after `elapsed`.
    pub fn handled(&self, code: tonic::Code, elapsed: Duration) {
        let slot = &self.handled[(code as usize).min(CODES - 1)];
        let counter = slot.get_or_init(|| {
            let labels = CodeLabels {
                grpc_type: self.labels.grpc_type,
                grpc_service: self.labels.grpc_service.clone(),
                grpc_method: self.labels.grpc_method.clone(),
                grpc_code: code_name(code),
            };
            self.families.handled.get_or_create(&labels).clone()
        });
        counter.inc();
        let histogram =
            self.handling_seconds.get_or_init(|| self.families.handling_seconds.get_or_create(&self.labels).clone());
        histogram.observe(elapsed.as_secs_f64());
    }
}

/// The name go-grpc-prometheus uses for a status code.
fn code_name(code: tonic::Code) -> &'static str {
    use tonic::Code;
    match code {
        Code::Ok => "OK",
        Code::Cancelled => "Canceled",
        Code::Unknown => "Unknown",
        Code::InvalidArgument => "InvalidArgument",
        Code::DeadlineExceeded => "DeadlineExceeded",
        Code::NotFound => "NotFound",
        Code::AlreadyExists => "AlreadyExists",
        Code::PermissionDenied => "PermissionDenied",
        Code::ResourceExhausted => "ResourceExhausted",
        Code::FailedPrecondition => "FailedPrecondition",
        Code::Aborted => "Aborted",
        Code::OutOfRange => "OutOfRange",
        Code::Unimplemented => "Unimplemented",
        Code::Internal => "Internal",
        Code::Unavailable => "Unavailable",
        Code::DataLoss => "DataLoss",
        Code::Unauthenticated => "Unauthenticated",
    }
}

#[cfg(test)]
mod tests {
    use crate::Metrics;

    use super::*;

    fn served() -> Vec<ServedMethod> {
        let method = |service: &str, method: &str, grpc_type| ServedMethod {
            service: service.to_owned(),
            method: method.to_owned(),
            grpc_type,
        };
        vec![method("auth.v1.AuthService", "Login", "unary"), method("grpc.health.v1.Health", "Watch", "server_stream")]
    }

    #[test]
    fn handled_rpcs_appear_with_service_method_and_code() {
        let metrics = Metrics::new();
        let series = metrics.rpc_series(served());
        let login = series.method("/auth.v1.AuthService/Login");
        login.started();
        login.handled(tonic::Code::Unauthenticated, Duration::from_millis(3));
        login.started();
        login.handled(tonic::Code::Unauthenticated, Duration::from_millis(4));
        let text = metrics.render();
        assert!(text.contains(r#"grpc_server_started_total{grpc_type="unary",grpc_service="auth.v1.AuthService",grpc_method="Login"} 2"#), "{text}");
        assert!(text.contains(r#"grpc_method="Login",grpc_code="Unauthenticated"} 2"#), "{text}");
        assert!(text.contains(r#"grpc_server_handling_seconds_count{grpc_type="unary",grpc_service="auth.v1.AuthService",grpc_method="Login"} 2"#), "{text}");
    }

    #[test]
    fn a_streaming_method_is_labelled_with_how_it_streams() {
        let metrics = Metrics::new();
        let series = metrics.rpc_series(served());
        let watch = series.method("/grpc.health.v1.Health/Watch");
        watch.started();
        watch.handled(tonic::Code::Cancelled, Duration::from_secs(30));
        let text = metrics.render();
        assert!(text.contains(r#"grpc_server_started_total{grpc_type="server_stream",grpc_service="grpc.health.v1.Health",grpc_method="Watch"} 1"#), "{text}");
        assert!(text.contains(r#"grpc_server_handled_total{grpc_type="server_stream",grpc_service="grpc.health.v1.Health",grpc_method="Watch",grpc_code="Canceled"} 1"#), "{text}");
    }

    #[test]
    fn paths_of_no_served_method_share_the_unknown_series() {
        let metrics = Metrics::new();
        let series = metrics.rpc_series(served());
        for index in 0..50 {
            let path = format!("/made.up.Service{index}/Method{index}");
            series.method(&path).started();
            series.method(&path).handled(tonic::Code::Unimplemented, Duration::from_millis(1));
        }
        let text = metrics.render();
        assert!(!text.contains("made.up"), "{text}");
        assert!(
            text.contains(
                r#"grpc_server_started_total{grpc_type="unary",grpc_service="unknown",grpc_method="unknown"} 50"#
            ),
            "{text}"
        );
        assert!(text.contains(r#"grpc_method="unknown",grpc_code="Unimplemented"} 50"#), "{text}");
        assert!(!text.contains("Login"), "a method never called has no series yet: {text}");
    }
}
