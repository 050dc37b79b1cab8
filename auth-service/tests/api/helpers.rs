//! Spawning the service and talking to it.

use std::sync::Arc;
use std::time::Duration;

use api_client::auth::v1 as pb;
use api_client::auth::v1::auth_service_client::AuthServiceClient;
use api_client::auth::v1::user_service_client::UserServiceClient;
use auth_service::passwords::HashCost;
use auth_service::secret::Secret;
use auth_service::settings::{Settings, ephemeral_secret};
use auth_service::state::AppState;
use auth_service::{Application, store};
pub use devkit::grpc::{assert_error, authed, unique, violated_fields};
use tokio::sync::oneshot;
use tonic::Status;
use tonic::transport::Channel;

/// Result type of the tests.
pub type TestResult = Result<(), Box<dyn std::error::Error + Send + Sync>>;

/// A cheap argon2id cost so that tests that register many users stay quick; one test checks
/// the production default separately.
pub const TEST_HASH_COST: HashCost = HashCost { memory_kib: 4096, iterations: 1, parallelism: 1 };

/// A running service and clients connected to it.
pub struct TestApp {
    /// The test's own database.
    pub database_url: String,
    /// AuthService client.
    pub auth: AuthServiceClient<Channel>,
    /// UserService client.
    pub users: UserServiceClient<Channel>,
    /// The channel both clients use, for other clients (say, an `AuthGuard`).
    pub channel: Channel,
    /// The server's state, for direct database checks.
    pub state: Arc<AppState>,
    /// The settings the server runs with.
    pub settings: Settings,
    shutdown: Option<oneshot::Sender<()>>,
    server: Option<tokio::task::JoinHandle<()>>,
}

/// Tokens and identity of a logged-in test user.
pub struct LoggedIn {
    /// The user.
    pub user: pb::User,
    /// Its tokens.
    pub tokens: pb::TokenPair,
    /// Its password.
    pub password: String,
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
    }
}

/// Test settings on a database: port 0, cheap hashing, a random key.
pub fn test_settings(database_url: &str) -> Settings {
    let mut settings = Settings::new(Secret::new(database_url), ephemeral_secret());
    settings.listen_addr = "127.0.0.1:0".parse().expect("a valid address");
    settings.passwords.cost = TEST_HASH_COST;
    settings
}

/// The service on a fresh database with test settings.
pub async fn spawn_app() -> TestApp {
    spawn_app_with(|_| {}).await
}

/// The service on a fresh database, with settings adjusted by `adjust`.
pub async fn spawn_app_with(adjust: impl FnOnce(&mut Settings)) -> TestApp {
    let database = devkit::test_database().await.expect("a test database");
    let mut settings = test_settings(&database.url);
    adjust(&mut settings);
    spawn_app_on(settings).await
}

/// The service with exactly these settings.
pub async fn spawn_app_on(settings: Settings) -> TestApp {
    let application = Application::build(settings.clone()).await.expect("the service builds");
    let endpoint = format!("http://{}", application.local_addr());
    let state = application.state();
    let (shutdown, stopped) = oneshot::channel::<()>();
    let server = tokio::spawn(async move {
        application
            .run_until(async {
                let _ = stopped.await;
            })
            .await
            .expect("the server runs");
    });
    let channel = Channel::from_shared(endpoint)
        .expect("a valid endpoint")
        .connect_timeout(Duration::from_secs(5))
        .timeout(Duration::from_secs(30))
        .connect_lazy();
    TestApp {
        database_url: settings.database_url.expose().to_owned(),
        auth: AuthServiceClient::new(channel.clone()),
        users: UserServiceClient::new(channel.clone()),
        channel,
        state,
        settings,
        shutdown: Some(shutdown),
        server: Some(server),
    }
}

impl TestApp {
    /// Stops the server and waits until it has.
    pub async fn stop(mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        if let Some(server) = self.server.take() {
            let _ = server.await;
        }
    }

    /// Registers a user.
    pub async fn register(&self, email: &str, password: &str, name: &str) -> Result<pb::User, Status> {
        let request = pb::RegisterRequest { email: email.into(), password: password.into(), name: name.into() };
        Ok(self.auth.clone().register(request).await?.into_inner())
    }

    /// Logs in.
    pub async fn login(&self, email: &str, password: &str) -> Result<pb::LoginResponse, Status> {
        let request = pb::LoginRequest { email: email.into(), password: password.into() };
        Ok(self.auth.clone().login(request).await?.into_inner())
    }

    /// Registers a user with a unique email and logs in.
    pub async fn new_user(&self) -> LoggedIn {
        let email = format!("user-{}@example.com", unique());
        let password = "correct horse battery".to_owned();
        self.register(&email, &password, "Test User").await.expect("register");
        let login = self.login(&email, &password).await.expect("login");
        LoggedIn { user: login.user.expect("a user"), tokens: login.tokens.expect("tokens"), password }
    }

    /// A new user promoted to admin, logged in.
    pub async fn new_admin(&self) -> LoggedIn {
        let mut admin = self.new_user().await;
        let changes = store::users::UserChanges { role: Some("admin".into()), ..Default::default() };
        let conn = self.state.pool.get().await.expect("a connection");
        store::users::update(&conn, id(admin.user.id), &changes).await.expect("promote");
        admin.user.role = pb::Role::Admin.into();
        admin
    }

    /// Logs the same user in again (a second session).
    pub async fn login_again(&self, user: &LoggedIn) -> pb::TokenPair {
        self.login(&user.user.email, &user.password).await.expect("login").tokens.expect("tokens")
    }

    /// ValidateToken.
    pub async fn validate(&self, access_token: &str) -> Result<pb::ValidateTokenResponse, Status> {
        let request = pb::ValidateTokenRequest { access_token: access_token.into() };
        Ok(self.auth.clone().validate_token(request).await?.into_inner())
    }

    /// Runs SQL on the service's database; how many rows it touched.
    pub async fn run_sql(&self, sql: &str) -> Result<usize, Box<dyn std::error::Error + Send + Sync>> {
        let mut conn = self.state.pool.get().await?;
        Ok(diesel_async::RunQueryDsl::execute(diesel::sql_query(sql), &mut conn).await?)
    }

    /// Refresh.
    pub async fn refresh(&self, refresh_token: &str) -> Result<pb::TokenPair, Status> {
        let request = pb::RefreshRequest { refresh_token: refresh_token.into() };
        Ok(self.auth.clone().refresh(request).await?.into_inner().tokens.expect("tokens"))
    }
}

/// A database id from an API id.
pub fn id(api_id: i64) -> i32 {
    i32::try_from(api_id).expect("ids fit INTEGER")
}

/// Notifications heard on one channel, by a connection of their own.
pub struct Listening {
    /// The payloads, in order.
    pub payloads: tokio::sync::mpsc::UnboundedReceiver<String>,
    _client: tokio_postgres::Client,
}

/// Listens on `channel` of the database at `database_url`.
pub async fn listen(database_url: &str, channel: &str) -> Result<Listening, tokio_postgres::Error> {
    let (client, mut connection) = tokio_postgres::connect(database_url, tokio_postgres::NoTls).await?;
    let (sender, payloads) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Some(Ok(message)) = std::future::poll_fn(|cx| connection.poll_message(cx)).await {
            if let tokio_postgres::AsyncMessage::Notification(notification) = message
                && sender.send(notification.payload().to_owned()).is_err()
            {
                return;
            }
        }
    });
    client.batch_execute(&format!("LISTEN {channel}")).await?;
    Ok(Listening { payloads, _client: client })
}
