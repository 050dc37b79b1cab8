//! The release build: the services as deployed, and the load generator at full speed.

use std::ffi::OsString;
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use anyhow::{Context as _, bail};

use super::BenchArgs;

/// Where the workspace and its build output are.
#[derive(Debug, Clone)]
pub struct Paths {
    /// The workspace root (where `Cargo.lock` is).
    pub workspace: PathBuf,
    /// The target directory (`$CARGO_TARGET_DIR` or `<workspace>/target`).
    pub target: PathBuf,
}

impl Paths {
    /// The paths of this workspace, found from where xtask was compiled.
    pub fn discover() -> anyhow::Result<Self> {
        let devkit = devkit::devkit_dir()?;
        let target = devkit.parent().context("devkit's directory has no parent")?.to_owned();
        let workspace =
            Path::new(env!("CARGO_MANIFEST_DIR")).parent().context("xtask lives inside the workspace")?.to_owned();
        Ok(Self { workspace, target })
    }

    /// A binary of the release build.
    pub fn release_binary(&self, name: &str) -> PathBuf {
        self.release_dir().join(name)
    }

    /// The release build's directory.
    pub fn release_dir(&self) -> PathBuf {
        self.target.join("release")
    }

    /// `path` as given when absolute, else under the workspace.
    pub fn in_workspace(&self, path: &Path) -> PathBuf {
        if path.is_absolute() { path.to_owned() } else { self.workspace.join(path) }
    }
}

/// Builds both services and xtask in release mode, then replaces this process with the release
/// xtask running `bench-run` with the same options.
pub fn build_and_reexec(args: &BenchArgs) -> anyhow::Result<()> {
    let paths = Paths::discover()?;
    if !args.no_build {
        build(&paths, args.bin_dir.is_none())?;
    }
    let xtask = paths.release_binary("xtask");
    if !xtask.is_file() {
        bail!("{} is missing: run without --no-build", xtask.display());
    }
    // Everything after the `bench` subcommand is passed on unchanged.
    let forwarded: Vec<OsString> = std::env::args_os().skip_while(|arg| arg != "bench").skip(1).collect();
    let error = Command::new(&xtask).arg("bench-run").args(forwarded).exec();
    Err(anyhow::Error::new(error).context(format!("cannot run {}", xtask.display())))
}

/// `cargo build --release` of the two services (unless they come from elsewhere), then of
/// xtask, timed. Two invocations: built together, cargo would unify the features of their
/// dependencies, and the services would not be the binaries the Dockerfile builds
/// (`-p auth-service -p resource-service`).
fn build(paths: &Paths, services: bool) -> anyhow::Result<()> {
    let started = Instant::now();
    let services = services.then_some(&["auth-service", "resource-service"][..]);
    for packages in services.into_iter().chain([&["xtask"][..]]) {
        let mut command = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
        command.args(["build", "--release"]).current_dir(&paths.workspace);
        for package in packages {
            command.args(["-p", package]);
        }
        println!("bench: cargo build --release -p {}", packages.join(" -p "));
        let status = command.status().context("cannot run cargo")?;
        if !status.success() {
            bail!("the release build failed ({status})");
        }
    }
    println!("bench: release build took {:.1} s", started.elapsed().as_secs_f64());
    Ok(())
}
