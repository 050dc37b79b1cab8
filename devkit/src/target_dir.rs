//! Where test clusters keep their data: `<workspace target dir>/devkit`.

use std::env;
use std::fs;
use std::path::{Path, PathBuf};

use anyhow::Context as _;

use crate::sys;

/// Prefix of a test cluster's directory; the rest is the owning process id.
const TEST_DIR_PREFIX: &str = "test-";

/// `<target>/devkit`, where `<target>` is `$CARGO_TARGET_DIR` or the workspace's `target`.
pub fn devkit_dir() -> anyhow::Result<PathBuf> {
    let root = workspace_root()?;
    let target = match env::var_os("CARGO_TARGET_DIR").filter(|dir| !dir.is_empty()) {
        // A relative CARGO_TARGET_DIR is relative to where cargo ran; the workspace root is the
        // best guess from inside a test, whose working directory is its package.
        Some(dir) => root.join(dir),
        None => root.join("target"),
    };
    Ok(target.join("devkit"))
}

/// This process's test cluster directory inside `devkit_dir`.
pub(crate) fn own_test_dir(devkit_dir: &Path) -> PathBuf {
    devkit_dir.join(format!("{TEST_DIR_PREFIX}{}", std::process::id()))
}

/// Removes the test cluster directories of processes that no longer exist (best effort).
pub(crate) fn remove_stale_test_dirs(devkit_dir: &Path) {
    let Ok(entries) = fs::read_dir(devkit_dir) else {
        return;
    };
    for entry in entries.filter_map(Result::ok) {
        let name = entry.file_name();
        let Some(pid) =
            name.to_str().and_then(|name| name.strip_prefix(TEST_DIR_PREFIX)).and_then(|pid| pid.parse::<u32>().ok())
        else {
            continue;
        };
        if pid != std::process::id() && !sys::process_exists(pid) {
            // Another process may be removing it too; nothing to do about failures.
            let _ = fs::remove_dir_all(entry.path());
        }
    }
}

/// The nearest directory above this crate that holds a `Cargo.lock`.
fn workspace_root() -> anyhow::Result<PathBuf> {
    let manifest_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest_dir.ancestors().find(|dir| dir.join("Cargo.lock").is_file()).map(Path::to_path_buf).with_context(|| {
        format!(
            "no Cargo.lock above {}: cannot find the workspace target directory \
                 (set CARGO_TARGET_DIR)",
            manifest_dir.display()
        )
    })
}
