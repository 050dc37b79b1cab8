//! The service's one error type and its one mapping to `tonic::Status`; the policy is the
//! auth service's (see its `error.rs`): precise codes, an ErrorInfo reason on every status,
//! unexpected failures logged once here and answered with a generic INTERNAL.

use api_client::ErrorReason;
use shared::violations::FieldViolations;
use tonic::Status;

/// `google.rpc.ErrorInfo.domain` of the errors this service itself returns.
pub const ERROR_DOMAIN: &str = "resource.v1";

/// Everything that can go wrong in a call.
#[derive(Debug, thiserror::Error)]
pub enum ResourceError {
    /// One or more request fields are invalid.
    #[error("invalid request: {0}")]
    InvalidArgument(FieldViolations),
    /// No such resource visible to the caller.
    #[error("resource {0} not found")]
    NotFound(i32),
    /// The resource changed since the etag the caller sent.
    #[error("resource {0} was changed by someone else; read it again and retry with its new etag")]
    EtagMismatch(i32),
    /// Updating a soft-deleted resource.
    #[error("resource {0} is deleted; undelete it first")]
    Deleted(i32),
    /// Undeleting a live resource.
    #[error("resource {0} is not deleted")]
    NotDeleted(i32),
    /// A guest tried to write.
    #[error("guests have read-only access")]
    ReadOnlyRole,
    /// A non-admin asked for other users' resources.
    #[error("listing other users' resources needs the admin role")]
    AdminRequired,
    /// The database cannot be reached.
    #[error("the database is unavailable; retry shortly")]
    DatabaseUnavailable(#[source] anyhow::Error),
    /// A bug or an unforeseen failure.
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

impl ResourceError {
    /// INVALID_ARGUMENT for one field.
    pub fn invalid(field: &str, description: impl Into<String>) -> Self {
        Self::InvalidArgument(FieldViolations::single(field, description))
    }

    /// The ErrorInfo reason of this error, which also decides its status code.
    pub fn reason(&self) -> ErrorReason {
        match self {
            Self::InvalidArgument(_) => ErrorReason::InvalidArgument,
            Self::NotFound(_) => ErrorReason::ResourceNotFound,
            Self::EtagMismatch(_) => ErrorReason::EtagMismatch,
            Self::Deleted(_) => ErrorReason::ResourceDeleted,
            Self::NotDeleted(_) => ErrorReason::ResourceNotDeleted,
            Self::ReadOnlyRole => ErrorReason::ReadOnlyRole,
            Self::AdminRequired => ErrorReason::AdminRequired,
            Self::DatabaseUnavailable(_) => ErrorReason::DatabaseUnavailable,
            Self::Unexpected(_) => ErrorReason::Internal,
        }
    }
}

impl From<ResourceError> for Status {
    fn from(error: ResourceError) -> Self {
        let reason = error.reason();
        let message = match &error {
            ResourceError::Unexpected(cause) => {
                tracing::error!(error = format!("{cause:#}"), "unexpected failure");
                "internal error".to_owned()
            }
            ResourceError::DatabaseUnavailable(cause) => {
                tracing::warn!(error = format!("{cause:#}"), "database unavailable");
                error.to_string()
            }
            _ => error.to_string(),
        };
        let violations = match &error {
            ResourceError::InvalidArgument(violations) => violations.iter().collect(),
            _ => Vec::new(),
        };
        let pairs = violations.iter().map(|v| (v.field.as_str(), v.description.as_str()));
        api_client::errors::error_status(reason.code(), message, reason.as_str(), ERROR_DOMAIN, pairs)
    }
}

impl From<FieldViolations> for ResourceError {
    fn from(violations: FieldViolations) -> Self {
        Self::InvalidArgument(violations)
    }
}

impl From<shared::PoolError> for ResourceError {
    fn from(error: shared::PoolError) -> Self {
        Self::DatabaseUnavailable(anyhow::Error::new(error))
    }
}

impl From<shared::pipelined::ConnectError> for ResourceError {
    fn from(error: shared::pipelined::ConnectError) -> Self {
        Self::DatabaseUnavailable(anyhow::Error::new(error))
    }
}

impl From<diesel::result::Error> for ResourceError {
    fn from(error: diesel::result::Error) -> Self {
        if shared::pool::is_connection_lost(&error) {
            Self::DatabaseUnavailable(anyhow::Error::new(error))
        } else {
            Self::Unexpected(anyhow::Error::new(error).context("database query failed"))
        }
    }
}
