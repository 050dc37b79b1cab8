//! Command-line and environment options both services take the same way.

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::pool::PoolSettings;
use crate::secret::Secret;

/// Where the database is and how many connections to keep.
#[derive(Debug, Clone, clap::Args)]
pub struct DatabaseArgs {
    /// PostgreSQL URL, e.g. postgres://user:password@host:5432/db.
    #[arg(long, env = "DATABASE_URL", hide_env_values = true, global = true)]
    pub database_url: Option<Secret>,
    /// File holding the PostgreSQL URL (instead of DATABASE_URL).
    #[arg(long, env = "DATABASE_URL_FILE", global = true)]
    pub database_url_file: Option<PathBuf>,
    /// Most database connections.
    #[arg(long, env = "DATABASE_POOL_SIZE", default_value_t = 16)]
    pub database_pool_size: u32,
    /// How long a call waits for a database connection before UNAVAILABLE.
    #[arg(long, env = "DATABASE_CONNECT_TIMEOUT", default_value = "3s", value_parser = humantime::parse_duration)]
    pub database_connect_timeout: Duration,
}

impl DatabaseArgs {
    /// The URL, from DATABASE_URL or the file DATABASE_URL_FILE names.
    pub fn url(&self) -> anyhow::Result<Secret> {
        read_secret("DATABASE_URL", self.database_url.as_ref(), self.database_url_file.as_deref())
    }

    /// The pool sizing.
    pub fn pool(&self) -> PoolSettings {
        PoolSettings { max_size: self.database_pool_size, connection_timeout: self.database_connect_timeout }
    }
}

/// A secret from its variable or, failing that, from the file named by `<NAME>_FILE` (as
/// Kubernetes mounts Secrets); a trailing newline of the file is dropped.
pub fn read_secret(name: &str, value: Option<&Secret>, file: Option<&Path>) -> anyhow::Result<Secret> {
    match (value, file) {
        (Some(value), _) => Ok(value.clone()),
        (None, Some(path)) => {
            let text = std::fs::read_to_string(path)
                .map_err(|error| anyhow::anyhow!("reading {name}_FILE {}: {error}", path.display()))?;
            Ok(Secret::new(text.trim_end_matches(['\n', '\r'])))
        }
        (None, None) => anyhow::bail!("{name} is not set (nor {name}_FILE)"),
    }
}
