//! The test bed of the guard's tests: the auth double, a small protected service behind the
//! guard's layer, and a client of it.

use std::net::SocketAddr;

use api_client::auth::v1::user_service_client::UserServiceClient;
use api_client::auth::v1::user_service_server::{UserService, UserServiceServer};
use api_client::auth::v1::*;
use api_client::{AuthGuard, GuardConfig};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio_stream::wrappers::TcpListenerStream;
use tonic::transport::{Channel, Endpoint, Server};
use tonic::{Request, Response, Status};
use tonic_types::StatusExt;

use super::{AuthDouble, Running, serve_auth_double};

/// The auth double, the protected service and a client of it.
pub struct TestBed {
    pub double: AuthDouble,
    pub auth: Option<Running>,
    pub auth_addr: SocketAddr,
    pub guard: AuthGuard,
    pub app_channel: Channel,
    _app: Running,
}

impl TestBed {
    /// An auth double, and a protected service whose guard calls it.
    pub async fn spawn(config: GuardConfig) -> anyhow::Result<Self> {
        let double = AuthDouble::default();
        let auth = serve_auth_double(&double, "127.0.0.1:0".parse()?).await?;
        let auth_addr = auth.addr;
        Self::assemble(double, Some(auth), auth_addr, config).await
    }

    /// A protected service whose guard calls whatever listens at `auth_addr` (maybe nothing).
    pub async fn spawn_with_auth_at(auth_addr: SocketAddr, config: GuardConfig) -> anyhow::Result<Self> {
        Self::assemble(AuthDouble::default(), None, auth_addr, config).await
    }

    pub async fn assemble(
        double: AuthDouble,
        auth: Option<Running>,
        auth_addr: SocketAddr,
        config: GuardConfig,
    ) -> anyhow::Result<Self> {
        let auth_channel = Endpoint::from_shared(format!("http://{auth_addr}"))?.connect_lazy();
        let guard = AuthGuard::new(auth_channel, config);
        let app = serve_protected(&guard).await?;
        let app_channel = Endpoint::from_shared(format!("http://{}", app.addr))?.connect().await?;
        Ok(Self { double, auth, auth_addr, guard, app_channel, _app: app })
    }

    pub fn client(&self) -> UserServiceClient<Channel> {
        UserServiceClient::new(self.app_channel.clone())
    }

    /// Calls GetMe with `authorization: Bearer <token>`, or without authorization.
    pub async fn get_me(&self, token: Option<&str>) -> Result<User, Status> {
        let request = match token {
            Some(token) => bearer(token),
            None => Request::new(GetMeRequest {}),
        };
        Ok(self.client().get_me(request).await?.into_inner())
    }

    pub async fn stop_auth(&mut self) -> anyhow::Result<()> {
        if let Some(auth) = self.auth.take() {
            auth.stop().await?;
        }
        Ok(())
    }

    /// Serves the same double again on the same address.
    pub async fn restart_auth(&mut self) -> anyhow::Result<()> {
        self.auth = Some(serve_auth_double(&self.double, self.auth_addr).await?);
        Ok(())
    }
}

/// `UserService.GetMe` and health behind the guard, as a backend would serve them.
pub async fn serve_protected(guard: &AuthGuard) -> anyhow::Result<Running> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let (health, health_service) = tonic_health::server::health_reporter();
    health.set_serving::<UserServiceServer<Me>>().await;
    let (stop, stopped) = oneshot::channel::<()>();
    let server =
        Server::builder().layer(guard.layer()).add_service(health_service).add_service(UserServiceServer::new(Me));
    let task = tokio::spawn(server.serve_with_incoming_shutdown(TcpListenerStream::new(listener), async {
        let _ = stopped.await;
    }));
    Ok(Running { addr, stop, task })
}

pub fn bearer(token: &str) -> Request<GetMeRequest> {
    let mut request = Request::new(GetMeRequest {});
    let value = format!("Bearer {token}").parse().expect("a token fit for metadata");
    request.metadata_mut().insert("authorization", value);
    request
}

pub fn reason(status: &Status) -> String {
    status.get_details_error_info().map(|info| info.reason).unwrap_or_default()
}

/// The protected service: GetMe answers with the caller the guard stored.
struct Me;

#[tonic::async_trait]
impl UserService for Me {
    async fn get_me(&self, request: Request<GetMeRequest>) -> Result<Response<User>, Status> {
        let caller = api_client::caller(&request)?;
        Ok(Response::new(User {
            id: caller.user_id,
            email: caller.email.clone(),
            name: String::new(),
            role: caller.role as i32,
            is_active: caller.is_active,
            is_verified: caller.is_verified,
            create_time: None,
            update_time: None,
        }))
    }

    async fn update_me(&self, _: Request<UpdateMeRequest>) -> Result<Response<User>, Status> {
        Err(Status::unimplemented("not needed"))
    }

    async fn change_password(
        &self,
        _: Request<ChangePasswordRequest>,
    ) -> Result<Response<ChangePasswordResponse>, Status> {
        Err(Status::unimplemented("not needed"))
    }

    async fn list_sessions(&self, _: Request<ListSessionsRequest>) -> Result<Response<ListSessionsResponse>, Status> {
        Err(Status::unimplemented("not needed"))
    }

    async fn revoke_session(
        &self,
        _: Request<RevokeSessionRequest>,
    ) -> Result<Response<RevokeSessionResponse>, Status> {
        Err(Status::unimplemented("not needed"))
    }

    async fn revoke_sessions(
        &self,
        _: Request<RevokeSessionsRequest>,
    ) -> Result<Response<RevokeSessionsResponse>, Status> {
        Err(Status::unimplemented("not needed"))
    }

    async fn list_users(&self, _: Request<ListUsersRequest>) -> Result<Response<ListUsersResponse>, Status> {
        Err(Status::unimplemented("not needed"))
    }

    async fn get_user(&self, _: Request<GetUserRequest>) -> Result<Response<User>, Status> {
        Err(Status::unimplemented("not needed"))
    }

    async fn update_user(&self, _: Request<UpdateUserRequest>) -> Result<Response<User>, Status> {
        Err(Status::unimplemented("not needed"))
    }

    async fn delete_user(&self, _: Request<DeleteUserRequest>) -> Result<Response<DeleteUserResponse>, Status> {
        Err(Status::unimplemented("not needed"))
    }

    async fn list_user_sessions(
        &self,
        _: Request<ListUserSessionsRequest>,
    ) -> Result<Response<ListUserSessionsResponse>, Status> {
        Err(Status::unimplemented("not needed"))
    }

    async fn revoke_user_sessions(
        &self,
        _: Request<RevokeUserSessionsRequest>,
    ) -> Result<Response<RevokeUserSessionsResponse>, Status> {
        Err(Status::unimplemented("not needed"))
    }
}
