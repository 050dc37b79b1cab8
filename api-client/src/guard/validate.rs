//! The calls to the auth service, each bounded in time: `ValidateToken` for one token,
//! `ValidateTokens` for several.

use std::time::Duration;

use tonic::metadata::{Ascii, MetadataValue};
use tonic::transport::Channel;
use tonic::{Code, Request, Status};

use super::caller::Caller;
use super::errors;
use crate::auth::v1::auth_service_client::AuthServiceClient;
use crate::auth::v1::token_verdict::Outcome;
use crate::auth::v1::{TokenVerdict, ValidateTokenRequest, ValidateTokensRequest};

/// Asks the auth service who bears `access_token`. The call carries `grpc-timeout` and is also
/// abandoned locally when `call_timeout` passes, so a stuck connection cannot hang the request.
pub(crate) async fn validate_token(
    channel: Channel,
    access_token: &str,
    request_id: Option<&str>,
    call_timeout: Duration,
) -> Result<Caller, Status> {
    let mut request = Request::new(ValidateTokenRequest { access_token: access_token.to_owned() });
    request.set_timeout(call_timeout);
    forward_request_id(&mut request, request_id);

    let mut client = AuthServiceClient::new(channel);
    let answer = match tokio::time::timeout(call_timeout, client.validate_token(request)).await {
        Ok(Ok(response)) => response.into_inner(),
        Ok(Err(status)) => return Err(failed_call(&status, call_timeout, request_id)),
        Err(_elapsed) => {
            let answer = errors::auth_timeout(call_timeout);
            tracing::warn!(request.id = request_id, "auth service did not answer ValidateToken in time");
            return Err(answer);
        }
    };
    Caller::try_from(answer)
}

/// Asks the auth service about several tokens in one `ValidateTokens` call, sent with
/// `request_id`: one verdict per token, in order (see [`caller_from_verdict`]). `Err` when the
/// call as a whole failed (an auth service without the RPC answers UNIMPLEMENTED, which the
/// caller handles).
pub(crate) async fn validate_tokens(
    channel: Channel,
    access_tokens: Vec<String>,
    request_id: Option<&str>,
    call_timeout: Duration,
) -> Result<Vec<TokenVerdict>, Status> {
    let asked = access_tokens.len();
    let mut request = Request::new(ValidateTokensRequest { access_tokens });
    request.set_timeout(call_timeout);
    forward_request_id(&mut request, request_id);
    let mut client = AuthServiceClient::new(channel);
    let verdicts = match tokio::time::timeout(call_timeout, client.validate_tokens(request)).await {
        Ok(Ok(response)) => response.into_inner().verdicts,
        Ok(Err(status)) => return Err(status),
        Err(_elapsed) => return Err(Status::deadline_exceeded("ValidateTokens did not answer in time")),
    };
    if verdicts.len() != asked {
        let problem = format!("its ValidateTokens answer had {} verdicts for {asked} tokens", verdicts.len());
        return Err(Status::internal(problem));
    }
    Ok(verdicts)
}

/// One token's verdict as what [`validate_token`] would have returned for it; a refusal is
/// logged with `request_id`, the id of the request that brought the token.
pub(crate) fn caller_from_verdict(
    verdict: TokenVerdict,
    call_timeout: Duration,
    request_id: Option<&str>,
) -> Result<Caller, Status> {
    match verdict.outcome {
        Some(Outcome::Caller(answer)) => Caller::try_from(answer),
        Some(Outcome::Refusal(refusal)) => {
            let status = Status::with_details(Code::from(refusal.code), refusal.message, refusal.details.into());
            Err(failed_call(&status, call_timeout, request_id))
        }
        None => Err(errors::auth_unavailable("its ValidateTokens answer had a verdict without outcome")),
    }
}

/// Sends `request_id` (when it is a valid header value) as the call's `x-request-id`.
fn forward_request_id<T>(request: &mut Request<T>, request_id: Option<&str>) {
    if let Some(value) = request_id.and_then(request_id_metadata) {
        request.metadata_mut().insert("x-request-id", value);
    }
}

/// The request id to forward, marked so that HPACK never indexes it: an id is new on every
/// call, so indexing it would only churn the connection's header table (`None` if it is not a
/// valid header value).
fn request_id_metadata(id: &str) -> Option<MetadataValue<Ascii>> {
    let mut value = MetadataValue::try_from(id).ok()?;
    value.set_sensitive(true);
    Some(value)
}

/// What the client sees for a failed call to the auth service, logged.
pub(crate) fn failed_call(status: &Status, call_timeout: Duration, request_id: Option<&str>) -> Status {
    log_failure(status, request_id);
    errors::from_auth_service(status, call_timeout)
}

/// Logs a failed call once, here where it is handled: a refused token is routine, an auth
/// service that cannot answer (a deadline included) is not.
fn log_failure(status: &Status, request_id: Option<&str>) {
    if errors::is_refusal(status.code()) {
        tracing::debug!(request.id = request_id, code = ?status.code(), "token refused by the auth service");
    } else {
        tracing::warn!(
            request.id = request_id,
            code = ?status.code(),
            error = status.message(),
            "call to the auth service failed"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_forwarded_request_id_is_never_indexed() {
        let value = request_id_metadata("req-7f3a").unwrap();
        assert_eq!(value, "req-7f3a");
        assert!(value.is_sensitive());
        assert!(request_id_metadata("line\nbreak").is_none());
    }
}
