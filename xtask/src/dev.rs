//! `cargo xtask dev`: a private PostgreSQL, migrations, a dev admin, and the services.

use std::net::SocketAddr;
use std::path::Path;

use anyhow::Context as _;
use auth_service::secret::Secret;
use auth_service::settings::{AdminAccount, Settings, ephemeral_secret};
use devkit::{ClusterOptions, PostgresCluster};

/// Email of the admin created for local runs.
const DEV_ADMIN_EMAIL: &str = "admin@example.com";
/// Password of that admin (only set when the account is first created).
const DEV_ADMIN_PASSWORD: &str = "dev-admin-password";
/// Port of the private PostgreSQL, fixed so that its URL stays the same between runs.
const DEV_POSTGRES_PORT: u16 = 54329;
/// Database the services use on the private server.
const DEV_DATABASE: &str = "services";

/// Options of `cargo xtask dev`.
#[derive(Debug, clap::Args)]
pub struct DevArgs {
    /// Address of the auth service.
    #[arg(long, default_value = "127.0.0.1:50051")]
    auth_addr: SocketAddr,
    /// Address of the resource service.
    #[arg(long, default_value = "127.0.0.1:50052")]
    resource_addr: SocketAddr,
    /// Use this PostgreSQL instead of starting a private one.
    #[arg(long, env = "DATABASE_URL", hide_env_values = true)]
    database_url: Option<String>,
}

/// Runs everything until Ctrl-C, then stops the services and the private PostgreSQL.
pub fn run(args: &DevArgs) -> anyhow::Result<()> {
    auth_service::telemetry::init(auth_service::telemetry::LogFormat::Text);
    let work_dir = devkit::devkit_dir()?.join("dev");
    let (database_url, cluster) = match &args.database_url {
        Some(url) => (url.clone(), None),
        None => {
            let cluster = PostgresCluster::start(ClusterOptions {
                data_dir: work_dir.join("pgdata"),
                port: Some(DEV_POSTGRES_PORT),
                throwaway: false,
            })
            .context("starting the private PostgreSQL (is PostgreSQL installed? set PG_BIN_DIR or DATABASE_URL)")?;
            (cluster.url(DEV_DATABASE), Some(cluster))
        }
    };
    let runtime = tokio::runtime::Runtime::new()?;
    let outcome = runtime.block_on(serve(args, &database_url, cluster.as_ref(), &work_dir));
    drop(runtime);
    if let Some(cluster) = cluster {
        cluster.stop()?;
    }
    outcome
}

async fn serve(
    args: &DevArgs,
    database_url: &str,
    cluster: Option<&PostgresCluster>,
    work_dir: &Path,
) -> anyhow::Result<()> {
    if let Some(cluster) = cluster {
        create_database_if_missing(&cluster.url("postgres"), DEV_DATABASE).await?;
    }
    let applied = shared::migrate::run_pending(database_url).await?;
    for name in &applied {
        tracing::info!(migration = %name, "applied");
    }
    let mut settings = Settings::new(Secret::new(database_url), dev_signing_secret(work_dir)?);
    settings.listen_addr = args.auth_addr;
    settings.first_admin = Some(AdminAccount {
        email: DEV_ADMIN_EMAIL.to_owned(),
        password: Secret::new(DEV_ADMIN_PASSWORD),
        name: "Dev Admin".to_owned(),
    });
    let auth = auth_service::Application::build(settings).await?;
    let auth_addr = auth.local_addr();
    let mut resource_settings =
        resource_service::Settings::new(Secret::new(database_url), format!("http://{auth_addr}"));
    resource_settings.listen_addr = args.resource_addr;
    let resource = resource_service::Application::build(resource_settings).await?;
    let resource_addr = resource.local_addr();

    let database_shown = if cluster.is_some() { database_url.to_owned() } else { "$DATABASE_URL".to_owned() };
    println!(
        "\n  auth-service      grpc://{auth_addr}  (auth.v1.AuthService, auth.v1.UserService)\
         \n  resource-service  grpc://{resource_addr}  (resource.v1.ResourceService)\
         \n  database          {database_shown}\
         \n  admin             {DEV_ADMIN_EMAIL} / {DEV_ADMIN_PASSWORD} (if this run created it)\
         \n  try               grpcurl -plaintext {auth_addr} list\
         \n  stop              Ctrl-C\n"
    );
    // One Ctrl-C stops both: each server drains when the shared signal fires.
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let signal = async move {
        auth_service::startup::shutdown_signal().await;
        let _ = stop.send(true);
    };
    let until_stopped = |mut stopped: tokio::sync::watch::Receiver<bool>| async move {
        let _ = stopped.wait_for(|stop| *stop).await;
    };
    let (_, auth, resource) = tokio::join!(
        signal,
        auth.run_until(until_stopped(stopped.clone())),
        resource.run_until(until_stopped(stopped)),
    );
    auth.and(resource)
}

/// A signing secret kept in the work directory, so tokens survive restarts of the dev stack.
fn dev_signing_secret(work_dir: &Path) -> anyhow::Result<Secret> {
    let path = work_dir.join("dev-jwt-secret");
    if let Ok(secret) = std::fs::read_to_string(&path) {
        return Ok(Secret::new(secret.trim()));
    }
    let secret = ephemeral_secret();
    std::fs::create_dir_all(work_dir)?;
    std::fs::write(&path, secret.expose())?;
    Ok(secret)
}

async fn create_database_if_missing(maintenance_url: &str, name: &str) -> anyhow::Result<()> {
    use diesel::sql_types::Text;
    use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};

    #[derive(diesel::QueryableByName)]
    struct Found {
        #[diesel(sql_type = diesel::sql_types::Bool)]
        exists: bool,
    }
    let mut conn = AsyncPgConnection::establish(maintenance_url).await?;
    let found: Found = diesel::sql_query("SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1) AS exists")
        .bind::<Text, _>(name)
        .get_result(&mut conn)
        .await?;
    if !found.exists {
        diesel::sql_query(format!("CREATE DATABASE \"{name}\"")).execute(&mut conn).await?;
    }
    Ok(())
}
