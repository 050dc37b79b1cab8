//! The servers under test, configured as deployed: the release binaries, a clean environment
//! holding what `deploy/` sets for them (JSON logs at `info`, so every RPC writes a line;
//! metrics served; the 5 s validation cache) and otherwise the binaries' defaults (argon2id
//! m=19 MiB t=2 p=1, one hash per CPU, 16 pooled connections; `--service-env
//! DATABASE_POOL_SIZE=8` gives the pool size of `deploy/k8s`). Plus the echo server.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;

use super::processes::{Launch, ServerProcess, free_local_addr};
use super::release::Paths;

/// The resource service's validation cache as deployed (`deploy/k8s/resource-service.env`).
pub const CACHE_ON: &str = "5s";
/// No validation cache: every call costs a ValidateToken.
pub const CACHE_OFF: &str = "0s";

/// What every server of the run is started with.
#[derive(Debug, Clone)]
pub struct StackConfig {
    /// Where the workspace and xtask's release build are.
    pub paths: Paths,
    /// Where the service binaries are (the release build, or `--bin-dir`).
    pub service_bin_dir: PathBuf,
    /// The services' logs go here; `None` sends them to /dev/null.
    pub log_dir: Option<PathBuf>,
    /// Serve /metrics.
    pub metrics: bool,
    /// `--service-env` additions.
    pub extra_env: Vec<(String, String)>,
    /// The services' database.
    pub database_url: String,
    /// The signing secret (one per run, like a deployment's Secret).
    pub jwt_secret: String,
}

impl StackConfig {
    /// A service binary.
    pub fn service_binary(&self, name: &str) -> PathBuf {
        self.service_bin_dir.join(name)
    }

    fn log_file(&self, name: &str) -> Option<PathBuf> {
        self.log_dir.as_ref().map(|dir| dir.join(format!("{name}.log")))
    }

    /// What both services get.
    fn common_env(&self) -> anyhow::Result<Vec<(String, String)>> {
        let metrics_addr = if self.metrics { free_local_addr()?.to_string() } else { String::new() };
        let mut env = vec![
            ("DATABASE_URL".to_owned(), self.database_url.clone()),
            ("LOG_FORMAT".to_owned(), "json".to_owned()),
            ("RUST_LOG".to_owned(), "info".to_owned()),
            ("METRICS_ADDR".to_owned(), metrics_addr),
        ];
        env.extend(self.extra_env.iter().cloned());
        Ok(env)
    }

    /// Starts the bare tonic server (`xtask bench-echo`).
    pub async fn start_echo(&self) -> anyhow::Result<ServerProcess> {
        let addr = free_local_addr()?;
        ServerProcess::start(Launch {
            label: "echo".to_owned(),
            program: self.paths.release_binary("xtask"),
            args: vec!["bench-echo".to_owned(), "--listen".to_owned(), addr.to_string()],
            env: Vec::new(),
            addr,
            log_file: self.log_file("echo"),
        })
        .await
    }

    /// Starts the auth service.
    pub async fn start_auth(&self) -> anyhow::Result<ServerProcess> {
        let addr = free_local_addr()?;
        let mut env = self.common_env()?;
        env.extend([
            ("AUTH_LISTEN_ADDR".to_owned(), addr.to_string()),
            ("AUTH_JWT_SECRET".to_owned(), self.jwt_secret.clone()),
        ]);
        ServerProcess::start(Launch {
            label: "auth-service".to_owned(),
            program: self.service_binary("auth-service"),
            args: Vec::new(),
            env,
            addr,
            log_file: self.log_file("auth-service"),
        })
        .await
    }

    /// Starts the resource service against the auth service at `auth`, with the validation
    /// cache kept `cache_ttl` ([`CACHE_ON`] or [`CACHE_OFF`]).
    pub async fn start_resource(&self, auth: SocketAddr, cache_ttl: &str) -> anyhow::Result<ServerProcess> {
        let addr = free_local_addr()?;
        let mut env = self.common_env()?;
        env.extend([
            ("RESOURCE_LISTEN_ADDR".to_owned(), addr.to_string()),
            ("AUTH_SERVICE_URL".to_owned(), format!("http://{auth}")),
            ("AUTH_CACHE_TTL".to_owned(), cache_ttl.to_owned()),
        ]);
        let name = if cache_ttl == CACHE_OFF { "resource-service-cache-off" } else { "resource-service" };
        ServerProcess::start(Launch {
            label: name.to_owned(),
            program: self.service_binary("resource-service"),
            args: Vec::new(),
            env,
            addr,
            log_file: self.log_file(name),
        })
        .await
    }

    /// The environment for the report: secrets and per-run ports left out.
    pub fn public_env(&self) -> BTreeMap<String, String> {
        let mut env: BTreeMap<String, String> = [
            ("LOG_FORMAT", "json"),
            ("RUST_LOG", "info"),
            ("METRICS_ADDR", if self.metrics { "127.0.0.1:<free port>" } else { "(off)" }),
            ("AUTH_CACHE_TTL", "5s, and 0s for GetResource (cache off)"),
            ("logs", if self.log_dir.is_some() { "files" } else { "/dev/null" }),
            ("binaries", &self.service_bin_dir.display().to_string()),
        ]
        .into_iter()
        .map(|(key, value)| (key.to_owned(), value.to_owned()))
        .collect();
        env.extend(self.extra_env.iter().cloned());
        env
    }
}
