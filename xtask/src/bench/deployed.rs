//! How `deploy/k8s` runs each service, so the bench can run it the same way: the settings of
//! its ConfigMap (`<service>.env`) and the CPU limit of its container (`<service>.yaml`). The
//! limit matters because tokio starts one worker thread per CPU that
//! `std::thread::available_parallelism` reports, and inside a pod that honours the cgroup's CPU
//! quota: a container limited to one CPU runs one worker, whatever the node has.

use std::path::Path;

use anyhow::Context;

/// Settings the bench sets per run instead of taking them from the ConfigMap: addresses (free
/// loopback ports), where the auth service is (the bench's own) and DNS balancing (there is no
/// headless Service here).
const SET_PER_RUN: &[&str] =
    &["AUTH_LISTEN_ADDR", "RESOURCE_LISTEN_ADDR", "METRICS_ADDR", "AUTH_SERVICE_URL", "AUTH_SERVICE_DNS_REFRESH"];

/// One service as deployed.
#[derive(Debug, Clone, PartialEq)]
pub struct Deployment {
    /// The ConfigMap's settings, less those the bench sets per run.
    pub env: Vec<(String, String)>,
    /// The container's CPU limit in CPUs, if it has one.
    pub cpu_limit: Option<f64>,
}

impl Deployment {
    /// Reads `deploy/k8s/<service>.env` and `deploy/k8s/<service>.yaml`.
    pub fn read(workspace: &Path, service: &str) -> anyhow::Result<Self> {
        let dir = workspace.join("deploy").join("k8s");
        let read = |name: String| {
            let path = dir.join(name);
            std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))
        };
        let env = parse_env_file(&read(format!("{service}.env"))?)
            .into_iter()
            .filter(|(key, _)| !SET_PER_RUN.contains(&key.as_str()))
            .collect();
        let cpu_limit = container_cpu_limit(&read(format!("{service}.yaml"))?)?;
        Ok(Self { env, cpu_limit })
    }

    /// Whether the ConfigMap sets `variable`.
    pub fn sets(&self, variable: &str) -> bool {
        self.env.iter().any(|(key, _)| key == variable)
    }

    /// The worker threads tokio starts in the pod on a node with `cpus` CPUs, unless the
    /// ConfigMap sets them (`TOKIO_WORKER_THREADS`): the limit rounded down, as
    /// `available_parallelism` rounds a cgroup quota, at least one, at most `cpus`.
    pub fn worker_threads(&self, cpus: usize) -> usize {
        let cpus = cpus.max(1);
        // A limit is a few CPUs at most: the cast cannot truncate.
        #[expect(clippy::cast_possible_truncation, clippy::cast_sign_loss, reason = "a small positive number")]
        self.cpu_limit.map_or(cpus, |limit| (limit.floor() as usize).clamp(1, cpus))
    }
}

/// `KEY=VALUE` lines, as `envFrom` reads a ConfigMap made from an env file (comments and blank
/// lines skipped).
fn parse_env_file(text: &str) -> Vec<(String, String)> {
    text.lines()
        .map(str::trim)
        .filter(|line| !line.is_empty() && !line.starts_with('#'))
        .filter_map(|line| line.split_once('='))
        .map(|(key, value)| (key.trim().to_owned(), value.trim().to_owned()))
        .collect()
}

/// The `cpu` under the first `limits:` of a manifest (`"2"`, `1`, `500m`).
fn container_cpu_limit(manifest: &str) -> anyhow::Result<Option<f64>> {
    let mut lines = manifest.lines().skip_while(|line| line.trim() != "limits:");
    let Some(limits) = lines.next() else { return Ok(None) };
    let indent = |line: &str| line.len() - line.trim_start().len();
    let block = lines.take_while(|line| line.trim().is_empty() || indent(line) > indent(limits));
    for line in block {
        if let Some(value) = line.trim().strip_prefix("cpu:") {
            let value = value.trim().trim_matches('"');
            let cpus = match value.strip_suffix('m') {
                Some(millis) => millis.parse::<f64>().map(|millis| millis / 1000.0),
                None => value.parse::<f64>(),
            };
            return cpus.map(Some).with_context(|| format!("a CPU limit of {value:?}"));
        }
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    const MANIFEST: &str = "
          resources:
            requests:
              cpu: 250m
              memory: 96Mi
            limits:
              cpu: \"1\"
              memory: 256Mi
          securityContext:
            runAsNonRoot: true
";

    #[test]
    fn the_cpu_limit_is_read_from_limits_not_requests() -> anyhow::Result<()> {
        assert_eq!(container_cpu_limit(MANIFEST)?, Some(1.0));
        assert_eq!(container_cpu_limit(&MANIFEST.replace("\"1\"", "1500m"))?, Some(1.5));
        assert_eq!(container_cpu_limit(&MANIFEST.replace("cpu: \"1\"", "nvidia: 1"))?, None);
        assert!(container_cpu_limit(&MANIFEST.replace("\"1\"", "lots")).is_err());
        Ok(())
    }

    #[test]
    fn worker_threads_follow_the_limit_within_the_machine() {
        let limited = |cpu_limit| Deployment { env: Vec::new(), cpu_limit };
        assert_eq!(limited(Some(1.0)).worker_threads(2), 1);
        assert_eq!(limited(Some(1.5)).worker_threads(4), 1);
        assert_eq!(limited(Some(2.0)).worker_threads(4), 2);
        assert_eq!(limited(Some(4.0)).worker_threads(2), 2);
        assert_eq!(limited(Some(0.25)).worker_threads(2), 1);
        assert_eq!(limited(None).worker_threads(2), 2);
    }

    #[test]
    fn env_files_give_their_settings_without_comments() {
        let env = parse_env_file("# comment\nLOG_FORMAT=json\n\nRUST_LOG = info\nURL=a=b\n");
        let expected = [("LOG_FORMAT", "json"), ("RUST_LOG", "info"), ("URL", "a=b")];
        assert_eq!(env, expected.map(|(key, value)| (key.to_owned(), value.to_owned())));
    }

    #[test]
    fn both_services_are_read_from_the_repository() -> anyhow::Result<()> {
        let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).parent().context("xtask has a parent")?;
        for service in ["auth-service", "resource-service"] {
            let deployment = Deployment::read(workspace, service)?;
            assert!(deployment.cpu_limit.is_some(), "{service} has a CPU limit");
            assert!(deployment.env.iter().any(|(key, _)| key == "DATABASE_POOL_SIZE"), "{service}: {deployment:?}");
            assert!(deployment.env.iter().all(|(key, _)| !SET_PER_RUN.contains(&key.as_str())));
        }
        Ok(())
    }
}
