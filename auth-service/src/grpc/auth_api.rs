//! `auth.v1.AuthService`.

use std::sync::Arc;

use api_client::auth::v1 as pb;
use api_client::auth::v1::auth_service_server::AuthService;
use tonic::{Request, Response, Status};

use super::{convert, metadata};
use crate::ops::{accounts, sessions};
use crate::state::AppState;

/// The AuthService implementation.
pub struct AuthApi {
    state: Arc<AppState>,
}

impl AuthApi {
    /// Serves with this state.
    pub fn new(state: Arc<AppState>) -> Self {
        Self { state }
    }
}

#[tonic::async_trait]
impl AuthService for AuthApi {
    async fn register(&self, request: Request<pb::RegisterRequest>) -> Result<Response<pb::User>, Status> {
        let body = request.get_ref();
        let registration = accounts::Registration { email: &body.email, password: &body.password, name: &body.name };
        let user = accounts::register(&self.state, &registration).await?;
        tracing::info!(user.id = user.id, "user registered");
        Ok(Response::new(convert::user(&user)))
    }

    async fn login(&self, request: Request<pb::LoginRequest>) -> Result<Response<pb::LoginResponse>, Status> {
        let client = metadata::client_info(&request);
        let body = request.get_ref();
        let (user, grant) = accounts::login(&self.state, &body.email, &body.password, &client).await?;
        tracing::info!(user.id = user.id, session.id = grant.session_id, "login");
        Ok(Response::new(pb::LoginResponse {
            tokens: Some(convert::token_pair(&grant)),
            user: Some(convert::user(&user)),
        }))
    }

    async fn refresh(&self, request: Request<pb::RefreshRequest>) -> Result<Response<pb::RefreshResponse>, Status> {
        let grant = sessions::refresh(&self.state, &request.get_ref().refresh_token).await?;
        Ok(Response::new(pb::RefreshResponse { tokens: Some(convert::token_pair(&grant)) }))
    }

    async fn logout(&self, request: Request<pb::LogoutRequest>) -> Result<Response<pb::LogoutResponse>, Status> {
        sessions::logout(&self.state, &request.get_ref().refresh_token).await?;
        Ok(Response::new(pb::LogoutResponse {}))
    }

    async fn validate_token(
        &self,
        request: Request<pb::ValidateTokenRequest>,
    ) -> Result<Response<pb::ValidateTokenResponse>, Status> {
        let caller = sessions::authenticate(&self.state, &request.get_ref().access_token).await?;
        Ok(Response::new(convert::validated(&caller)))
    }

    async fn validate_tokens(
        &self,
        request: Request<pb::ValidateTokensRequest>,
    ) -> Result<Response<pb::ValidateTokensResponse>, Status> {
        let outcomes = sessions::authenticate_many(&self.state, &request.get_ref().access_tokens).await?;
        Ok(Response::new(pb::ValidateTokensResponse { verdicts: outcomes.into_iter().map(convert::verdict).collect() }))
    }
}
