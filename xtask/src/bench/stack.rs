//! The servers under test, configured as deployed: the release binaries, in a clean environment
//! holding the settings of their ConfigMaps in `deploy/k8s` (JSON logs at `info`, so every RPC
//! writes a line; metrics served; the 5 s validation cache; the pools and shared connections)
//! and the worker threads their ConfigMaps or CPU limits give them in a pod (see
//! [`Deployment`]), otherwise the binaries' defaults (argon2id m=19 MiB t=2 p=1, one hash per
//! CPU). Plus the echo server.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::Context as _;

use service_kit::runtime::WORKER_THREADS_VAR;

use super::deployed::Deployment;
use super::processes::{Launch, ServerProcess, free_local_addr};

/// The resource service's validation cache as deployed (`deploy/k8s/resource-service.env`).
pub const CACHE_ON: &str = "5s";
/// No validation cache: every call costs a ValidateToken.
pub const CACHE_OFF: &str = "0s";

/// What every server of the run is started with.
#[derive(Debug, Clone)]
pub struct StackConfig {
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
    /// How `deploy/k8s` runs the auth service.
    pub auth_deployment: Deployment,
    /// How `deploy/k8s` runs the resource service.
    pub resource_deployment: Deployment,
    /// CPUs of this machine (the node).
    pub cpus: usize,
}

impl StackConfig {
    /// A service binary.
    pub fn service_binary(&self, name: &str) -> PathBuf {
        self.service_bin_dir.join(name)
    }

    fn log_file(&self, name: &str) -> Option<PathBuf> {
        self.log_dir.as_ref().map(|dir| dir.join(format!("{name}.log")))
    }

    /// A service's environment: its ConfigMap, the worker threads of its CPU limit (unless the
    /// ConfigMap sets them, as it does in a pod), then the run's `settings` (addresses,
    /// database, secrets), then `--service-env`.
    fn service_env(&self, deployment: &Deployment, settings: &[(&str, String)]) -> Vec<(String, String)> {
        let mut env = deployment.env.clone();
        if !deployment.sets(WORKER_THREADS_VAR) {
            env.push((WORKER_THREADS_VAR.to_owned(), deployment.worker_threads(self.cpus).to_string()));
        }
        env.extend(settings.iter().map(|(key, value)| ((*key).to_owned(), value.clone())));
        env.extend(self.extra_env.iter().cloned());
        env
    }

    /// `METRICS_ADDR`: a free port, or empty (off).
    fn metrics_addr(&self) -> anyhow::Result<String> {
        Ok(if self.metrics { free_local_addr()?.to_string() } else { String::new() })
    }

    /// Starts the bare tonic server (`xtask bench-echo` of this very build), answering
    /// ListResources with the page in `page`, if given.
    pub async fn start_echo(&self, page: Option<&Path>) -> anyhow::Result<ServerProcess> {
        let addr = free_local_addr()?;
        let mut args = vec!["bench-echo".to_owned(), "--listen".to_owned(), addr.to_string()];
        if let Some(page) = page {
            args.extend(["--page".to_owned(), page.display().to_string()]);
        }
        ServerProcess::start(Launch {
            label: "echo".to_owned(),
            program: std::env::current_exe().context("cannot find this program's path")?,
            args,
            env: Vec::new(),
            addr,
            log_file: self.log_file("echo"),
        })
        .await
    }

    /// Starts the auth service.
    pub async fn start_auth(&self) -> anyhow::Result<ServerProcess> {
        let addr = free_local_addr()?;
        let env = self.service_env(
            &self.auth_deployment,
            &[
                ("AUTH_LISTEN_ADDR", addr.to_string()),
                ("METRICS_ADDR", self.metrics_addr()?),
                ("DATABASE_URL", self.database_url.clone()),
                ("AUTH_JWT_SECRET", self.jwt_secret.clone()),
            ],
        );
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
        let env = self.service_env(
            &self.resource_deployment,
            &[
                ("RESOURCE_LISTEN_ADDR", addr.to_string()),
                ("METRICS_ADDR", self.metrics_addr()?),
                ("DATABASE_URL", self.database_url.clone()),
                ("AUTH_SERVICE_URL", format!("http://{auth}")),
                ("AUTH_CACHE_TTL", cache_ttl.to_owned()),
            ],
        );
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

    /// The environment for the report, per service (`<service> <KEY>`): secrets and per-run
    /// ports left out.
    pub fn public_env(&self) -> BTreeMap<String, String> {
        let per_run = [
            ("METRICS_ADDR", if self.metrics { "127.0.0.1:<free port>" } else { "(off)" }.to_owned()),
            ("logs", if self.log_dir.is_some() { "files" } else { "/dev/null" }.to_owned()),
            ("binaries", self.service_bin_dir.display().to_string()),
        ];
        let resource_run = [("AUTH_CACHE_TTL", format!("{CACHE_ON}, and {CACHE_OFF} for GetResource (cache off)"))];
        let auth = self.service_env(&self.auth_deployment, &per_run);
        let resource = self.service_env(&self.resource_deployment, &[&per_run[..], &resource_run[..]].concat());
        let labelled = |service: &str, env: Vec<(String, String)>| {
            env.into_iter().map(move |(key, value)| (format!("{service} {key}"), value)).collect::<Vec<_>>()
        };
        labelled("auth-service", auth).into_iter().chain(labelled("resource-service", resource)).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stack(auth_env: &[(&str, &str)], cpu_limit: Option<f64>) -> StackConfig {
        let deployment = |env: &[(&str, &str)]| Deployment {
            env: env.iter().map(|(key, value)| ((*key).to_owned(), (*value).to_owned())).collect(),
            cpu_limit,
        };
        StackConfig {
            service_bin_dir: PathBuf::from("bin"),
            log_dir: None,
            metrics: false,
            extra_env: Vec::new(),
            database_url: String::new(),
            jwt_secret: String::new(),
            auth_deployment: deployment(auth_env),
            resource_deployment: deployment(&[]),
            cpus: 2,
        }
    }

    fn worker_threads(env: &[(String, String)]) -> Vec<&str> {
        env.iter().filter(|(key, _)| key == WORKER_THREADS_VAR).map(|(_, value)| value.as_str()).collect()
    }

    #[test]
    fn the_config_maps_worker_count_is_kept_and_the_limit_gives_the_others() {
        let stack = stack(&[(WORKER_THREADS_VAR, "1")], Some(2.0));
        assert_eq!(worker_threads(&stack.service_env(&stack.auth_deployment, &[])), ["1"]);
        assert_eq!(worker_threads(&stack.service_env(&stack.resource_deployment, &[])), ["2"]);
    }
}
