//! Spawning both services on one database and talking to them.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use api_client::auth::v1 as auth_pb;
use api_client::auth::v1::auth_service_client::AuthServiceClient;
use api_client::resource::v1 as pb;
use api_client::resource::v1::resource_service_client::ResourceServiceClient;
use auth_service::passwords::HashCost;
use auth_service::secret::Secret;
use auth_service::settings::ephemeral_secret;
pub use devkit::grpc::{assert_error, authed, unique, violated_fields};
use resource_service::startup::AppState;
use tokio::sync::oneshot;
use tonic::Status;
use tonic::transport::Channel;

/// Result type of the tests.
pub type TestResult = Result<(), Box<dyn std::error::Error + Send + Sync>>;

/// A running server and the way to stop it.
pub struct Running {
    shutdown: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
    /// Where it listens.
    pub addr: SocketAddr,
    /// Where its `/metrics` is served, when on.
    pub metrics_addr: Option<SocketAddr>,
}

impl Running {
    /// Stops the server and waits until it has.
    pub async fn stop(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
    }
}

/// Both services on one database.
pub struct Stack {
    /// The auth service.
    pub auth: Running,
    /// The resource service.
    pub resource: Running,
    /// Client of the auth service.
    pub auth_client: AuthServiceClient<Channel>,
    /// Client of the resource service.
    pub resources: ResourceServiceClient<Channel>,
    /// The resource service's state (its pool, for direct checks).
    pub state: Arc<AppState>,
    auth_settings: auth_service::Settings,
}

/// A logged-in user.
pub struct User {
    /// Their id.
    pub id: i64,
    /// Their access token.
    pub token: String,
    /// Their refresh token.
    pub refresh_token: String,
}

/// A change to the resource service's settings.
pub type AdjustSettings = Box<dyn FnOnce(&mut resource_service::Settings) + Send>;

/// A change to the auth service's settings.
pub type AdjustAuthSettings = Box<dyn FnOnce(&mut auth_service::Settings) + Send>;

/// Settings tweaks for a stack.
#[derive(Default)]
pub struct StackOptions {
    /// Adjusts the resource service's settings.
    pub resource: Option<AdjustSettings>,
    /// Adjusts the auth service's settings.
    pub auth: Option<AdjustAuthSettings>,
    /// Use this database instead of a fresh test database.
    pub database_url: Option<String>,
}

/// Both services on a fresh database with default test settings.
pub async fn spawn_stack() -> Stack {
    spawn_stack_with(StackOptions::default()).await
}

/// Both services, adjusted.
pub async fn spawn_stack_with(options: StackOptions) -> Stack {
    let database_url = match options.database_url {
        Some(url) => url,
        None => devkit::test_database().await.expect("a test database").url,
    };
    let mut auth_settings = auth_service::Settings::new(Secret::new(&database_url), ephemeral_secret());
    auth_settings.listen_addr = "127.0.0.1:0".parse().expect("an address");
    auth_settings.passwords.cost = HashCost { memory_kib: 4096, iterations: 1, parallelism: 1 };
    if let Some(adjust) = options.auth {
        adjust(&mut auth_settings);
    }
    let auth = start_auth(auth_settings.clone()).await;

    let mut settings = resource_service::Settings::new(Secret::new(&database_url), format!("http://{}", auth.addr));
    settings.listen_addr = "127.0.0.1:0".parse().expect("an address");
    if let Some(adjust) = options.resource {
        adjust(&mut settings);
    }
    let application = resource_service::Application::build(settings).await.expect("the resource service builds");
    let state = application.state();
    let addr = application.local_addr();
    let metrics_addr = application.metrics_addr();
    let resource = run(addr, metrics_addr, move |stopped| async move {
        application.run_until(stopped).await.expect("the resource service runs");
    });
    Stack {
        auth_client: AuthServiceClient::new(channel(auth.addr)),
        resources: ResourceServiceClient::new(channel(resource.addr)),
        auth,
        resource,
        state,
        auth_settings,
    }
}

/// Starts the auth service with these settings.
pub async fn start_auth(settings: auth_service::Settings) -> Running {
    let application = auth_service::Application::build(settings).await.expect("the auth service builds");
    let addr = application.local_addr();
    let metrics_addr = application.metrics_addr();
    run(addr, metrics_addr, move |stopped| async move {
        application.run_until(stopped).await.expect("the auth service runs");
    })
}

fn run<F, Fut>(addr: SocketAddr, metrics_addr: Option<SocketAddr>, serve: F) -> Running
where
    F: FnOnce(std::pin::Pin<Box<dyn Future<Output = ()> + Send>>) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let (shutdown, stopped) = oneshot::channel::<()>();
    let stopped = Box::pin(async move {
        let _ = stopped.await;
    });
    let task = tokio::spawn(serve(stopped));
    Running { shutdown: Some(shutdown), task: Some(task), addr, metrics_addr }
}

fn channel(addr: SocketAddr) -> Channel {
    Channel::from_shared(format!("http://{addr}"))
        .expect("a valid endpoint")
        .connect_timeout(Duration::from_secs(5))
        .timeout(Duration::from_secs(30))
        .connect_lazy()
}

impl Stack {
    /// Restarts the auth service on the same port (after [`Running::stop`]).
    pub async fn restart_auth(&mut self) {
        let mut settings = self.auth_settings.clone();
        settings.listen_addr = self.auth.addr;
        self.auth = start_auth(settings).await;
    }

    /// Registers and logs in a user with this role.
    pub async fn user(&self, role: auth_pb::Role) -> User {
        let email = format!("user-{}@example.com", unique());
        let password = "correct horse battery";
        let register = auth_pb::RegisterRequest { email: email.clone(), password: password.into(), name: "U".into() };
        let user = self.auth_client.clone().register(register).await.expect("register").into_inner();
        if role != auth_pb::Role::User {
            let role_name = match role {
                auth_pb::Role::Admin => "admin",
                _ => "guest",
            };
            self.set_user_column(user.id, &format!("role = '{role_name}'")).await;
        }
        let login = auth_pb::LoginRequest { email: email.clone(), password: password.into() };
        let tokens = self.auth_client.clone().login(login).await.expect("login").into_inner().tokens.expect("tokens");
        User { id: user.id, token: tokens.access_token, refresh_token: tokens.refresh_token }
    }

    /// The stored password hash of a user.
    pub async fn password_hash_of(&self, email: &str) -> String {
        use diesel::prelude::*;
        use diesel_async::RunQueryDsl;
        use shared::schema::users;
        let mut conn = self.state.pool.get().await.expect("a connection");
        users::table
            .filter(users::email.eq(email))
            .select(users::hashed_password)
            .first(&mut conn)
            .await
            .expect("a user")
    }

    /// Changes a user row directly (`SET <assignment>`).
    pub async fn set_user_column(&self, user_id: i64, assignment: &str) {
        use diesel_async::RunQueryDsl;
        let mut conn = self.state.pool.get().await.expect("a connection");
        diesel::sql_query(format!("UPDATE users SET {assignment} WHERE id = {user_id}"))
            .execute(&mut *conn)
            .await
            .expect("update the user");
    }

    /// Inserts a resource for `owner` directly in the database; returns its id.
    pub async fn insert_resource(&self, owner: i64, title: &str) -> i32 {
        let conn = self.state.pool.get().await.expect("a connection");
        let row =
            shared::models::NewResource { user_id: i32::try_from(owner).expect("an INTEGER id"), title, content: None };
        resource_service::store::insert(&conn, &row).await.expect("insert a resource").id
    }

    /// CreateResource as `user`.
    pub async fn create(&self, user: &User, title: &str, content: Option<&str>) -> Result<pb::Resource, Status> {
        let request = pb::CreateResourceRequest { title: title.into(), content: content.map(str::to_owned) };
        Ok(self.resources.clone().create_resource(authed(request, &user.token)).await?.into_inner())
    }

    /// GetResource as `user`.
    pub async fn get(&self, user: &User, id: i64) -> Result<pb::Resource, Status> {
        Ok(self.resources.clone().get_resource(authed(pb::GetResourceRequest { id }, &user.token)).await?.into_inner())
    }

    /// ListResources as `user`.
    pub async fn list(
        &self,
        user: &User,
        request: pb::ListResourcesRequest,
    ) -> Result<pb::ListResourcesResponse, Status> {
        Ok(self.resources.clone().list_resources(authed(request, &user.token)).await?.into_inner())
    }

    /// UpdateResource as `user`.
    pub async fn update(
        &self,
        user: &User,
        resource: pb::Resource,
        paths: Option<&[&str]>,
    ) -> Result<pb::Resource, Status> {
        let update_mask =
            paths.map(|paths| prost_types::FieldMask { paths: paths.iter().map(|p| (*p).to_owned()).collect() });
        let request = pb::UpdateResourceRequest { resource: Some(resource), update_mask };
        Ok(self.resources.clone().update_resource(authed(request, &user.token)).await?.into_inner())
    }

    /// DeleteResource as `user`.
    pub async fn delete(&self, user: &User, id: i64) -> Result<pb::Resource, Status> {
        Ok(self
            .resources
            .clone()
            .delete_resource(authed(pb::DeleteResourceRequest { id }, &user.token))
            .await?
            .into_inner())
    }

    /// UndeleteResource as `user`.
    pub async fn undelete(&self, user: &User, id: i64) -> Result<pb::Resource, Status> {
        let request = pb::UndeleteResourceRequest { id };
        Ok(self.resources.clone().undelete_resource(authed(request, &user.token)).await?.into_inner())
    }
}
