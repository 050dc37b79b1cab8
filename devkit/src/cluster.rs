//! A private PostgreSQL server started by this process.

use std::fs;
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{Context as _, anyhow, bail};

use crate::binaries::PgBinaries;
use crate::port::free_local_port;
use crate::ready::{Readiness, wait_until_ready};
use crate::server_log::ServerLog;
use crate::server_user::ServerUser;
use crate::spawner::spawn_tied_to_process;
use crate::sys;

/// How long a server may take to accept connections after it is started.
const START_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a fast shutdown may take before the server is killed.
const STOP_TIMEOUT: Duration = Duration::from_secs(30);
/// How long to wait after an immediate shutdown or a kill.
const KILL_TIMEOUT: Duration = Duration::from_secs(5);
/// What the server (and initdb) get when this process exits: SIGQUIT, PostgreSQL's immediate
/// shutdown.
const SHUTDOWN_ON_EXIT: libc::c_int = libc::SIGQUIT;
/// Free ports to try when the one picked is taken before the server binds it.
const PORT_ATTEMPTS: u32 = 3;
/// Longest path of a Unix socket (`sun_path` less its terminating NUL).
const MAX_SOCKET_PATH: usize = 107;
/// Length of the socket file name PostgreSQL adds to the socket directory, at most.
const SOCKET_FILE_NAME_LEN: usize = "/.s.PGSQL.65535".len();
/// Server settings of throwaway clusters: durability off, room for many parallel tests, and a
/// small WAL (checkpoints every 64 MB instead of 1 GB), so that a run that creates a database per
/// test keeps its disk footprint low.
const THROWAWAY_SETTINGS: &[&str] = &[
    "fsync=off",
    "synchronous_commit=off",
    "full_page_writes=off",
    "max_connections=300",
    "max_wal_size=64MB",
    "min_wal_size=32MB",
];

/// How to run a [`PostgresCluster`].
#[derive(Debug, Clone)]
pub struct ClusterOptions {
    /// The data directory; created with its parents when missing. The server's log
    /// (`<name>.log`) and socket directory (`<name>-socket`) go next to it.
    pub data_dir: PathBuf,
    /// TCP port on 127.0.0.1; `None` picks a free one.
    pub port: Option<u16>,
    /// A cluster for tests: the data directory is wiped on start, and durability is off
    /// (`fsync`, `synchronous_commit`, `full_page_writes`). Never for data worth keeping.
    pub throwaway: bool,
}

/// A running private PostgreSQL server that this process started.
///
/// It listens on 127.0.0.1 only, trusts every local connection, and has the superuser
/// `postgres`. The server stops when this handle is stopped or dropped, and at the latest when
/// the process exits (even a test process, which never drops statics).
#[derive(Debug)]
pub struct PostgresCluster {
    /// TCP port on 127.0.0.1.
    port: u16,
    /// Absolute data directory.
    data_dir: PathBuf,
    /// The server's output of this run.
    log: ServerLog,
    /// The postmaster; `None` once stopped.
    server: Option<Child>,
}

impl PostgresCluster {
    /// Creates the data directory with `initdb` when it is missing or empty (existing data is
    /// kept unless `throwaway`), starts the server and waits until it answers queries.
    pub fn start(options: ClusterOptions) -> anyhow::Result<PostgresCluster> {
        let binaries = PgBinaries::find()?;
        let user = ServerUser::detect()?;
        let layout = Layout::new(options.data_dir)?;
        fs::create_dir_all(&layout.parent).with_context(|| format!("cannot create {}", layout.parent.display()))?;
        user.check_can_enter(&layout.parent)?;
        if options.throwaway {
            wipe_data_dir(&layout.data_dir)?;
            remove_if_present(&layout.socket_dir)?;
        }
        prepare_data_dir(&binaries, user, &layout.data_dir, options.throwaway)?;
        fs::create_dir_all(&layout.socket_dir)
            .with_context(|| format!("cannot create {}", layout.socket_dir.display()))?;
        user.hand_over(&layout.socket_dir)?;

        let attempts = if options.port.is_some() { 1 } else { PORT_ATTEMPTS };
        let mut attempt = 1;
        loop {
            let port = match options.port {
                Some(port) => port,
                None => free_local_port().context("cannot find a free port")?,
            };
            match launch(&binaries, user, &layout, port, options.throwaway) {
                Ok(cluster) => return Ok(cluster),
                Err(failure) if failure.port_taken && attempt < attempts => attempt += 1,
                Err(failure) => return Err(failure.error),
            }
        }
    }

    /// The URL of `database` on this server: `postgres://postgres@127.0.0.1:PORT/DATABASE`.
    pub fn url(&self, database: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{database}", self.port)
    }

    /// The TCP port the server listens on (on 127.0.0.1).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The absolute data directory.
    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    /// The file the server writes its log to.
    pub fn log_file(&self) -> &Path {
        self.log.path()
    }

    /// The last few KiB the server logged since it was started, for error messages.
    pub fn log_tail(&self) -> String {
        self.log.tail()
    }

    /// Stops the server (fast shutdown: open sessions are disconnected) and waits for it to
    /// exit. Fails when the server had already died or had to be killed.
    pub fn stop(mut self) -> anyhow::Result<()> {
        self.shutdown()
    }

    /// Stops the server if it is still running.
    fn shutdown(&mut self) -> anyhow::Result<()> {
        let Some(mut server) = self.server.take() else {
            return Ok(());
        };
        if let Some(status) = server.try_wait()? {
            bail!(
                "the PostgreSQL server of {} had already exited ({status})\n{}",
                self.data_dir.display(),
                self.log.tail()
            );
        }
        let status = stop_process(&mut server)?;
        if !status.success() {
            bail!("the PostgreSQL server of {} exited with {status}\n{}", self.data_dir.display(), self.log.tail());
        }
        Ok(())
    }
}

impl Drop for PostgresCluster {
    fn drop(&mut self) {
        // Nobody to report to; the server is gone either way.
        let _ = self.shutdown();
    }
}

/// Where a cluster's files go.
#[derive(Debug)]
struct Layout {
    /// Absolute data directory.
    data_dir: PathBuf,
    /// Its parent.
    parent: PathBuf,
    /// The server's log file.
    log_file: PathBuf,
    /// The directory for the server's Unix socket.
    socket_dir: PathBuf,
}

impl Layout {
    /// The layout around `data_dir` (made absolute).
    fn new(data_dir: PathBuf) -> anyhow::Result<Self> {
        let data_dir = if data_dir.is_absolute() {
            data_dir
        } else {
            std::path::absolute(&data_dir).with_context(|| format!("bad data directory {}", data_dir.display()))?
        };
        let (Some(parent), Some(name)) = (data_dir.parent(), data_dir.file_name()) else {
            bail!("the data directory {} has no parent", data_dir.display());
        };
        let name = name.to_string_lossy();
        Ok(Self {
            parent: parent.to_owned(),
            log_file: parent.join(format!("{name}.log")),
            socket_dir: parent.join(format!("{name}-socket")),
            data_dir,
        })
    }

    /// The `-k` argument: the socket directory, or none (TCP only) if its path is too long
    /// for a Unix socket.
    fn socket_arg(&self) -> &Path {
        if self.socket_dir.as_os_str().len() + SOCKET_FILE_NAME_LEN <= MAX_SOCKET_PATH {
            &self.socket_dir
        } else {
            Path::new("")
        }
    }
}

/// Why a start attempt failed.
struct LaunchFailure {
    /// The port was taken (worth retrying with another).
    port_taken: bool,
    /// What happened, with the server's log.
    error: anyhow::Error,
}

impl From<anyhow::Error> for LaunchFailure {
    fn from(error: anyhow::Error) -> Self {
        Self { port_taken: false, error }
    }
}

/// Starts the server on `port` and waits until it is ready.
fn launch(
    binaries: &PgBinaries,
    user: ServerUser,
    layout: &Layout,
    port: u16,
    throwaway: bool,
) -> Result<PostgresCluster, LaunchFailure> {
    let (log, log_output) = ServerLog::open(&layout.log_file)?;
    let mut command = Command::new(&binaries.postgres);
    command
        .arg("-D")
        .arg(&layout.data_dir)
        .arg("-p")
        .arg(port.to_string())
        .arg("-k")
        .arg(layout.socket_arg())
        .args(["-c", "listen_addresses=127.0.0.1"]);
    for setting in THROWAWAY_SETTINGS.iter().filter(|_| throwaway) {
        command.args(["-c", setting]);
    }
    command
        .current_dir("/")
        .stdin(Stdio::null())
        .stdout(log_output.try_clone().context("cannot share the log file")?)
        .stderr(log_output);
    user.apply(&mut command);
    let server = spawn_tied_to_process(command, SHUTDOWN_ON_EXIT)
        .with_context(|| format!("cannot run {}", binaries.postgres.display()))?;
    let mut cluster = PostgresCluster { port, data_dir: layout.data_dir.clone(), log, server: Some(server) };

    let url = cluster.url("postgres");
    let server = cluster.server.as_mut().ok_or_else(|| anyhow!("the server handle vanished"))?;
    let failure = match wait_until_ready(server, &url, port, &layout.data_dir, START_TIMEOUT)? {
        Readiness::Ready => return Ok(cluster),
        Readiness::Exited(status) => format!("exited during startup ({status})"),
        Readiness::TimedOut(last_error) => {
            format!("did not answer within {START_TIMEOUT:?} (last error: {last_error})")
        }
    };
    let port_taken = cluster.log.contains("could not bind");
    let error = anyhow!(
        "the PostgreSQL server for {} on port {port} {failure}\n{}",
        layout.data_dir.display(),
        cluster.log.tail()
    );
    // Dropping `cluster` stops whatever is left of the server.
    Err(LaunchFailure { port_taken, error })
}

/// Runs `initdb` unless `data_dir` already holds a cluster.
fn prepare_data_dir(binaries: &PgBinaries, user: ServerUser, data_dir: &Path, throwaway: bool) -> anyhow::Result<()> {
    if data_dir.join("PG_VERSION").is_file() {
        return Ok(());
    }
    match fs::read_dir(data_dir) {
        Ok(mut entries) => {
            if entries.next().is_some() {
                bail!("{} is neither empty nor a PostgreSQL data directory; not touching it", data_dir.display());
            }
        }
        Err(_) => fs::create_dir_all(data_dir).with_context(|| format!("cannot create {}", data_dir.display()))?,
    }
    fs::set_permissions(data_dir, fs::Permissions::from_mode(0o700))
        .with_context(|| format!("cannot restrict {}", data_dir.display()))?;
    user.hand_over(data_dir)?;

    let mut command = Command::new(&binaries.initdb);
    command.arg("-D").arg(data_dir).args(["-A", "trust", "-U", "postgres", "-E", "UTF8", "--no-locale"]);
    if throwaway {
        command.arg("--no-sync");
    }
    command.current_dir("/").stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
    user.apply(&mut command);
    let output = spawn_tied_to_process(command, SHUTDOWN_ON_EXIT)
        .and_then(Child::wait_with_output)
        .with_context(|| format!("cannot run {}", binaries.initdb.display()))?;
    if !output.status.success() {
        bail!(
            "initdb for {} failed ({}):\n{}{}",
            data_dir.display(),
            output.status,
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }
    Ok(())
}

/// Removes a throwaway cluster's data directory — but nothing that is not one.
fn wipe_data_dir(data_dir: &Path) -> anyhow::Result<()> {
    let is_cluster = data_dir.join("PG_VERSION").is_file();
    let is_empty = fs::read_dir(data_dir).is_ok_and(|mut entries| entries.next().is_none());
    if data_dir.exists() && !is_cluster && !is_empty {
        bail!("{} is neither empty nor a PostgreSQL data directory; refusing to wipe it", data_dir.display());
    }
    remove_if_present(data_dir)
}

/// Removes `dir` and everything in it, if it exists.
fn remove_if_present(dir: &Path) -> anyhow::Result<()> {
    match fs::remove_dir_all(dir) {
        Ok(()) => Ok(()),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(error) => Err(error).with_context(|| format!("cannot remove {}", dir.display())),
    }
}

/// Asks the postmaster for a fast shutdown (SIGINT) and waits; escalates to an immediate
/// shutdown (SIGQUIT) and then SIGKILL when it takes too long.
fn stop_process(server: &mut Child) -> anyhow::Result<ExitStatus> {
    for (signal, timeout) in [(libc::SIGINT, STOP_TIMEOUT), (libc::SIGQUIT, KILL_TIMEOUT)] {
        // An error means the process is already gone; waiting tells how it ended.
        let _ = sys::send_signal(server.id(), signal);
        if let Some(status) = wait_for_exit(server, timeout)? {
            return Ok(status);
        }
    }
    let _ = server.kill();
    let status = server.wait()?;
    bail!("the PostgreSQL server did not shut down and was killed ({status})")
}

/// The exit status of `process`, or `None` if it still runs after `timeout`.
fn wait_for_exit(process: &mut Child, timeout: Duration) -> anyhow::Result<Option<ExitStatus>> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(status) = process.try_wait()? {
            return Ok(Some(status));
        }
        if Instant::now() >= deadline {
            return Ok(None);
        }
        thread::sleep(Duration::from_millis(20));
    }
}
