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

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[derive(Debug, Parser)]
    struct Command {
        #[command(flatten)]
        database: DatabaseArgs,
    }

    /// `--help` documents the defaults, and tests and embedders get `PoolSettings::default()`:
    /// one pool, whichever way it is configured.
    #[test]
    fn the_command_lines_pool_is_the_default_pool() {
        let parsed = Command::try_parse_from(["service"]).expect("no option is required");
        assert_eq!(parsed.database.pool(), PoolSettings::default());
        let sized = Command::try_parse_from(["service", "--database-pool-size=4", "--database-connect-timeout=250ms"])
            .expect("valid options");
        assert_eq!(sized.database.pool(), PoolSettings { max_size: 4, connection_timeout: Duration::from_millis(250) });
    }

    #[test]
    fn a_secret_comes_from_its_variable_before_its_file_and_drops_the_files_newline() {
        let dir = std::env::temp_dir().join(format!("read-secret-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("url");
        std::fs::write(&file, "postgres://from-file\n").unwrap();
        let given = Secret::new("postgres://given");
        assert_eq!(read_secret("DATABASE_URL", Some(&given), Some(&file)).unwrap().expose(), "postgres://given");
        assert_eq!(read_secret("DATABASE_URL", None, Some(&file)).unwrap().expose(), "postgres://from-file");
        let missing = read_secret("DATABASE_URL", None, None).unwrap_err().to_string();
        assert_eq!(missing, "DATABASE_URL is not set (nor DATABASE_URL_FILE)");
        let unreadable = read_secret("DATABASE_URL", None, Some(&dir.join("absent"))).unwrap_err().to_string();
        assert!(unreadable.starts_with("reading DATABASE_URL_FILE "), "{unreadable}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
