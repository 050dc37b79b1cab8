//! The log file a server writes its output to.

use std::fs::{self, File, OpenOptions};
use std::io::{Read as _, Seek as _, SeekFrom};
use std::path::{Path, PathBuf};

use anyhow::Context as _;

/// How much of the end of a log to quote in an error.
const TAIL_BYTES: u64 = 8 * 1024;

/// The part of a log file written since a given moment.
#[derive(Debug, Clone)]
pub(crate) struct ServerLog {
    /// The log file.
    path: PathBuf,
    /// Where this run's output starts.
    start: u64,
}

impl ServerLog {
    /// Opens `path` for a new run (appending), returning the
    /// file for the server's output.
    pub(crate) fn open(path: &Path) -> anyhow::Result<(Self, File)> {
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .with_context(|| format!("cannot open log file {}", path.display()))?;
        let start = file.metadata().map(|meta| meta.len()).unwrap_or(0);
        let log = Self { path: path.to_owned(), start };
        Ok((log, file))
    }

    /// The log file.
    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// The last few KiB written in this run, for error messages.
    pub(crate) fn tail(&self) -> String {
        match self.read_tail() {
            Ok(text) if text.trim().is_empty() => format!("({} is empty)", self.path.display()),
            Ok(text) => format!("--- {} ---\n{}", self.path.display(), text.trim_end()),
            Err(error) => format!("(cannot read {}: {error})", self.path.display()),
        }
    }

    /// Whether this run's output contains `needle`.
    pub(crate) fn contains(&self, needle: &str) -> bool {
        self.read_tail().is_ok_and(|text| text.contains(needle))
    }

    /// Reads at most [`TAIL_BYTES`] of this run's output.
    fn read_tail(&self) -> std::io::Result<String> {
        let mut file = File::open(&self.path)?;
        let end = fs::metadata(&self.path)?.len();
        let from = self.start.max(end.saturating_sub(TAIL_BYTES)).min(end);
        file.seek(SeekFrom::Start(from))?;
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes)?;
        Ok(String::from_utf8_lossy(&bytes).into_owned())
    }
}
