//! What the end-to-end tests share: a counting double of the auth service, servers running in
//! tasks, and a guard against hanging.

#![allow(dead_code, reason = "each test crate that includes this module uses only part of it")]

pub mod bed;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use api_client::auth::v1::auth_service_server::{AuthService, AuthServiceServer};
use api_client::auth::v1::*;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tokio_stream::wrappers::TcpListenerStream;
use tonic::transport::Server;
use tonic::{Code, Request, Response, Status};
use tonic_types::{ErrorDetails, StatusExt};

/// A server running in a task until stopped (or until the test's runtime ends).
pub struct Running {
    pub addr: SocketAddr,
    pub stop: oneshot::Sender<()>,
    pub task: JoinHandle<Result<(), tonic::transport::Error>>,
}

impl Running {
    pub async fn stop(self) -> anyhow::Result<()> {
        let _ = self.stop.send(());
        within(Duration::from_secs(5), self.task).await???;
        Ok(())
    }
}

pub async fn serve_auth_double(double: &AuthDouble, addr: SocketAddr) -> anyhow::Result<Running> {
    let listener = TcpListener::bind(addr).await?;
    let addr = listener.local_addr()?;
    let (stop, stopped) = oneshot::channel::<()>();
    let server = Server::builder().add_service(AuthServiceServer::new(double.clone()));
    let task = tokio::spawn(server.serve_with_incoming_shutdown(TcpListenerStream::new(listener), async {
        let _ = stopped.await;
    }));
    Ok(Running { addr, stop, task })
}

/// Fails the test instead of hanging it.
pub async fn within<F: Future>(limit: Duration, future: F) -> anyhow::Result<F::Output> {
    tokio::time::timeout(limit, future).await.map_err(|_| anyhow::anyhow!("no answer within {limit:?}"))
}

// ---------------------------------------------------------------------------------------------
// The counting double of the auth service.

/// Answers ValidateToken and ValidateTokens from a table, counts calls, records request ids and
/// batch sizes, can be slowed down, and can play an auth service that predates ValidateTokens.
#[derive(Clone, Default)]
pub struct AuthDouble {
    state: Arc<DoubleState>,
}

#[derive(Default)]
struct DoubleState {
    answers: Mutex<HashMap<String, Answer>>,
    calls: AtomicUsize,
    delay: Mutex<Duration>,
    request_ids: Mutex<Vec<String>>,
    batch_sizes: Mutex<Vec<usize>>,
    batch_request_ids: Mutex<Vec<Option<String>>>,
    without_batches: AtomicBool,
    refused_batches: AtomicUsize,
}

#[derive(Clone)]
enum Answer {
    Valid(ValidateTokenResponse),
    Refused { code: Code, reason: &'static str, message: &'static str },
}

impl AuthDouble {
    pub fn accept(&self, token: &str, user_id: i64, role: Role, lifetime: Duration) {
        let answer = ValidateTokenResponse {
            user_id,
            email: format!("user{user_id}@example.com"),
            role: role as i32,
            is_active: true,
            is_verified: true,
            session_id: user_id * 10,
            expire_time: Some((SystemTime::now() + lifetime).into()),
        };
        self.set(token, Answer::Valid(answer));
    }

    pub fn refuse(&self, token: &str, code: Code, reason: &'static str, message: &'static str) {
        self.set(token, Answer::Refused { code, reason, message });
    }

    fn set(&self, token: &str, answer: Answer) {
        self.state.answers.lock().expect("answers").insert(token.to_owned(), answer);
    }

    pub fn delay(&self, delay: Duration) {
        *self.state.delay.lock().expect("delay") = delay;
    }

    /// Answers ValidateTokens with UNIMPLEMENTED, as an auth service older than it does.
    pub fn refuse_batches(&self) {
        self.state.without_batches.store(true, Ordering::SeqCst);
    }

    /// ValidateTokens calls answered with UNIMPLEMENTED (see `refuse_batches`).
    pub fn refused_batches(&self) -> usize {
        self.state.refused_batches.load(Ordering::SeqCst)
    }

    /// The number of tokens in each ValidateTokens call answered, in order of arrival.
    pub fn batch_sizes(&self) -> Vec<usize> {
        self.state.batch_sizes.lock().expect("batch sizes").clone()
    }

    /// ValidateToken calls received.
    pub fn calls(&self) -> usize {
        self.state.calls.load(Ordering::SeqCst)
    }

    /// The `x-request-id` of each ValidateTokens call answered, in order of arrival.
    pub fn batch_request_ids(&self) -> Vec<Option<String>> {
        self.state.batch_request_ids.lock().expect("batch request ids").clone()
    }

    pub fn request_ids(&self) -> Vec<String> {
        self.state.request_ids.lock().expect("request ids").clone()
    }
}

impl AuthDouble {
    /// Sleeps for the configured delay.
    async fn wait(&self) {
        let delay = *self.state.delay.lock().expect("delay");
        tokio::time::sleep(delay).await;
    }

    /// What the table says about `token`; unknown tokens are invalid.
    fn answer(&self, token: &str) -> Result<ValidateTokenResponse, Status> {
        let answer = self.state.answers.lock().expect("answers").get(token).cloned();
        match answer {
            Some(Answer::Valid(answer)) => Ok(answer),
            Some(Answer::Refused { code, reason, message }) => {
                Err(Status::with_error_details(code, message, ErrorDetails::with_error_info(reason, "auth.v1", [])))
            }
            None => Err(Status::with_error_details(
                Code::Unauthenticated,
                "invalid access token",
                ErrorDetails::with_error_info("INVALID_TOKEN", "auth.v1", []),
            )),
        }
    }
}

#[tonic::async_trait]
impl AuthService for AuthDouble {
    async fn validate_token(
        &self,
        request: Request<ValidateTokenRequest>,
    ) -> Result<Response<ValidateTokenResponse>, Status> {
        self.state.calls.fetch_add(1, Ordering::SeqCst);
        if let Some(id) = request.metadata().get("x-request-id").and_then(|id| id.to_str().ok()) {
            self.state.request_ids.lock().expect("request ids").push(id.to_owned());
        }
        self.wait().await;
        self.answer(&request.into_inner().access_token).map(Response::new)
    }

    async fn validate_tokens(
        &self,
        request: Request<ValidateTokensRequest>,
    ) -> Result<Response<ValidateTokensResponse>, Status> {
        if self.state.without_batches.load(Ordering::SeqCst) {
            self.state.refused_batches.fetch_add(1, Ordering::SeqCst);
            return Err(Status::unimplemented("Method not found: auth.v1.AuthService/ValidateTokens"));
        }
        let request_id = request.metadata().get("x-request-id").and_then(|id| id.to_str().ok()).map(str::to_owned);
        self.state.batch_request_ids.lock().expect("batch request ids").push(request_id);
        let tokens = request.into_inner().access_tokens;
        self.state.batch_sizes.lock().expect("batch sizes").push(tokens.len());
        self.wait().await;
        let verdicts = tokens
            .iter()
            .map(|token| {
                let outcome = match self.answer(token) {
                    Ok(caller) => token_verdict::Outcome::Caller(caller),
                    Err(status) => token_verdict::Outcome::Refusal(TokenRefusal {
                        code: status.code().into(),
                        message: status.message().to_owned(),
                        reason: status.get_details_error_info().map(|info| info.reason).unwrap_or_default(),
                        details: status.details().to_vec(),
                    }),
                };
                TokenVerdict { outcome: Some(outcome) }
            })
            .collect();
        Ok(Response::new(ValidateTokensResponse { verdicts }))
    }

    async fn register(&self, _: Request<RegisterRequest>) -> Result<Response<User>, Status> {
        Err(Status::unimplemented("not in the double"))
    }

    async fn login(&self, _: Request<LoginRequest>) -> Result<Response<LoginResponse>, Status> {
        Err(Status::unimplemented("not in the double"))
    }

    async fn refresh(&self, _: Request<RefreshRequest>) -> Result<Response<RefreshResponse>, Status> {
        Err(Status::unimplemented("not in the double"))
    }

    async fn logout(&self, _: Request<LogoutRequest>) -> Result<Response<LogoutResponse>, Status> {
        Err(Status::unimplemented("not in the double"))
    }
}
