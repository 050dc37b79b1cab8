//! Building error statuses the way both services answer them: a code, a human message, a
//! google.rpc.ErrorInfo naming the reason, and for bad input a google.rpc.BadRequest.

use tonic::{Code, Status};
use tonic_types::{ErrorDetails, StatusExt};

/// A status with an ErrorInfo (`reason`, `domain`) and one BadRequest violation per
/// `(field, description)` pair.
pub fn error_status<'a>(
    code: Code,
    message: impl Into<String>,
    reason: &str,
    domain: &str,
    violations: impl IntoIterator<Item = (&'a str, &'a str)>,
) -> Status {
    let mut details = ErrorDetails::with_error_info(reason, domain, []);
    for (field, description) in violations {
        details.add_bad_request_violation(field, description);
    }
    Status::with_error_details(code, message, details)
}
