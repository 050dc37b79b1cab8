//! Helpers for end-to-end tests that talk gRPC: bearer metadata and assertions on error details.

use tonic::{Code, Request, Status};
use tonic_types::StatusExt;

/// A request carrying `authorization: Bearer <token>`.
///
/// # Panics
/// When the token is not valid header text (tests only pass tokens the services issued).
pub fn authed<T>(message: T, access_token: &str) -> Request<T> {
    let mut request = Request::new(message);
    let value = format!("Bearer {access_token}").parse().expect("an ASCII header value");
    request.metadata_mut().insert("authorization", value);
    request
}

/// A string unique within the test run (process id, counter, clock).
pub fn unique() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.subsec_nanos());
    format!("{}-{}-{nanos}", std::process::id(), NEXT.fetch_add(1, Ordering::Relaxed))
}

/// Asserts that a call failed with `code` and a google.rpc.ErrorInfo of `reason`; returns the
/// status for further checks.
///
/// # Panics
/// When the call succeeded or failed differently: that is the assertion.
pub fn assert_error<T: std::fmt::Debug>(result: Result<T, Status>, code: Code, reason: &str) -> Status {
    let status = result.expect_err("the call should fail");
    assert_eq!(status.code(), code, "unexpected status: {status:?}");
    let details = status.get_error_details();
    let info = details.error_info().unwrap_or_else(|| panic!("no ErrorInfo in {status:?}"));
    assert_eq!(info.reason, reason, "unexpected reason in {status:?}");
    status
}

/// The field paths of the google.rpc.BadRequest of a status, in order.
pub fn violated_fields(status: &Status) -> Vec<String> {
    let details = status.get_error_details();
    details.bad_request().map(|bad| bad.field_violations.iter().map(|v| v.field.clone()).collect()).unwrap_or_default()
}
