//! Finds the PostgreSQL server programs.

use std::env;
use std::fs;
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, bail};

/// Where Debian and Ubuntu install each PostgreSQL version (`<dir>/<version>/bin`).
const DEBIAN_ROOT: &str = "/usr/lib/postgresql";

/// The programs needed to create and run a cluster.
#[derive(Debug, Clone)]
pub(crate) struct PgBinaries {
    /// `initdb`, creates a data directory.
    pub(crate) initdb: PathBuf,
    /// `postgres`, the server.
    pub(crate) postgres: PathBuf,
}

impl PgBinaries {
    /// Looks in `$PG_BIN_DIR` if set, else on `PATH`, else in the newest
    /// `/usr/lib/postgresql/<version>/bin`.
    pub(crate) fn find() -> anyhow::Result<Self> {
        if let Some(dir) = env::var_os("PG_BIN_DIR").filter(|dir| !dir.is_empty()) {
            let dir = PathBuf::from(dir);
            return Self::in_dir(&dir)
                .with_context(|| format!("PG_BIN_DIR={} lacks initdb or postgres", dir.display()));
        }
        if let Some(found) = Self::on_path() {
            return Ok(found);
        }
        if let Some(found) = newest_debian_bin_dir().and_then(|dir| Self::in_dir(&dir)) {
            return Ok(found);
        }
        bail!(
            "PostgreSQL server programs (initdb, postgres) not found: set PG_BIN_DIR, put them on \
             PATH, or install PostgreSQL (e.g. apt-get install postgresql)"
        )
    }

    /// Both programs from one directory.
    fn in_dir(dir: &Path) -> Option<Self> {
        let initdb = dir.join("initdb");
        let postgres = dir.join("postgres");
        (is_executable(&initdb) && is_executable(&postgres)).then_some(Self { initdb, postgres })
    }

    /// The first directory on `PATH` that holds both programs.
    fn on_path() -> Option<Self> {
        let path = env::var_os("PATH")?;
        env::split_paths(&path).find_map(|dir| Self::in_dir(&dir))
    }
}

/// The `bin` directory of the highest version under `/usr/lib/postgresql`.
fn newest_debian_bin_dir() -> Option<PathBuf> {
    fs::read_dir(DEBIAN_ROOT)
        .ok()?
        .filter_map(Result::ok)
        .filter_map(|entry| {
            let version = version_key(entry.file_name().to_str()?)?;
            let bin = entry.path().join("bin");
            bin.is_dir().then_some((version, bin))
        })
        .max_by(|(a, _), (b, _)| a.cmp(b))
        .map(|(_, bin)| bin)
}

/// "15" → [15], "9.6" → [9, 6]; `None` for anything that is not a version.
fn version_key(name: &str) -> Option<Vec<u32>> {
    name.split('.').map(|part| part.parse().ok()).collect()
}

/// A regular file with an execute bit.
fn is_executable(path: &Path) -> bool {
    fs::metadata(path).is_ok_and(|meta| meta.is_file() && meta.permissions().mode() & 0o111 != 0)
}

#[cfg(test)]
mod tests {
    use super::version_key;

    #[test]
    fn versions_compare_numerically() {
        assert!(version_key("15") > version_key("9.6"));
        assert!(version_key("10") > version_key("9"));
        assert_eq!(version_key("main"), None);
    }
}
