//! The measured servers as child processes: started with a production-like environment,
//! awaited through their gRPC health service, stopped with SIGTERM as an orchestrator would.

use std::fs::{File, OpenOptions};
use std::net::{Ipv4Addr, SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{Context as _, anyhow, bail};

use super::sys::send_sigterm;
use tonic::transport::Endpoint;
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;

/// How long a server may take to answer SERVING.
const READY_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a server may take to exit after SIGTERM (its drain has nothing in flight).
const STOP_TIMEOUT: Duration = Duration::from_secs(30);

/// How to start one server.
#[derive(Debug, Clone)]
pub struct Launch {
    /// Name in messages and in the report.
    pub label: String,
    /// The program.
    pub program: PathBuf,
    /// Its arguments.
    pub args: Vec<String>,
    /// Its whole environment (besides `PATH`): nothing leaks in from the caller's shell.
    pub env: Vec<(String, String)>,
    /// The gRPC address it will listen on.
    pub addr: SocketAddr,
    /// Where its output goes; `None` is /dev/null.
    pub log_file: Option<PathBuf>,
}

/// A running server that this process started.
#[derive(Debug)]
pub struct ServerProcess {
    label: String,
    child: Option<Child>,
    addr: SocketAddr,
}

impl ServerProcess {
    /// Starts the server and waits until its health service answers SERVING.
    pub async fn start(launch: Launch) -> anyhow::Result<Self> {
        let output = match &launch.log_file {
            Some(path) => open_log(path)?,
            None => File::options().write(true).open("/dev/null").context("cannot open /dev/null")?,
        };
        let mut command = Command::new(&launch.program);
        command
            .args(&launch.args)
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .envs(launch.env.iter().map(|(key, value)| (key, value)))
            .stdin(Stdio::null())
            .stdout(output.try_clone()?)
            .stderr(output);
        // Killed outright (SIGKILL, a crash), this process runs no destructor: the server then
        // gets SIGTERM from the kernel instead of running on.
        let child = devkit::spawn_tied_to_process(command, libc::SIGTERM)
            .with_context(|| format!("cannot start {}", launch.program.display()))?;
        let mut server = Self { label: launch.label, child: Some(child), addr: launch.addr };
        server.wait_until_serving(launch.log_file.as_deref()).await?;
        Ok(server)
    }

    /// Its name in the report.
    pub fn label(&self) -> &str {
        &self.label
    }

    /// Its process id.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().map_or(0, Child::id)
    }

    /// Its gRPC address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://<addr>`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Whether it has exited (and how).
    pub fn exited(&mut self) -> Option<ExitStatus> {
        self.child.as_mut().and_then(|child| child.try_wait().ok().flatten())
    }

    async fn wait_until_serving(&mut self, log_file: Option<&Path>) -> anyhow::Result<()> {
        let deadline = Instant::now() + READY_TIMEOUT;
        let endpoint = Endpoint::from_shared(self.url())?.connect_timeout(Duration::from_secs(1));
        let mut last_error = String::from("not tried");
        while Instant::now() < deadline {
            if let Some(status) = self.exited() {
                let hint = match log_file {
                    Some(path) => format!("its log: {}", path.display()),
                    None => "rerun with --log-dir target/bench/logs to keep its log".to_owned(),
                };
                bail!("{} exited during start-up ({status}); {hint}", self.label);
            }
            match check_health(&endpoint).await {
                Ok(true) => return Ok(()),
                Ok(false) => last_error = "NOT_SERVING".to_owned(),
                Err(error) => last_error = error,
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Err(anyhow!("{} did not answer SERVING within {READY_TIMEOUT:?} (last: {last_error})", self.label))
    }

    /// SIGTERM, then waits for the exit; SIGKILL when it takes too long. The exit status tells
    /// whether the server stopped as cleanly as it should.
    pub fn stop(mut self) -> anyhow::Result<ExitStatus> {
        let mut child = self.child.take().ok_or_else(|| anyhow!("{} was already stopped", self.label))?;
        if let Some(status) = child.try_wait()? {
            bail!("{} had already exited ({status})", self.label);
        }
        // An error means it is gone already; waiting tells how it ended.
        let _ = send_sigterm(child.id());
        let deadline = Instant::now() + STOP_TIMEOUT;
        while Instant::now() < deadline {
            if let Some(status) = child.try_wait()? {
                return Ok(status);
            }
            thread::sleep(Duration::from_millis(20));
        }
        child.kill()?;
        let status = child.wait()?;
        bail!("{} ignored SIGTERM for {STOP_TIMEOUT:?} and was killed ({status})", self.label)
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            // Leaving on an error: nobody to report to, the process must not outlive us.
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Whether the server's overall health (service `""`) is SERVING.
async fn check_health(endpoint: &Endpoint) -> Result<bool, String> {
    let channel = endpoint.connect().await.map_err(|error| error.to_string())?;
    let answer = HealthClient::new(channel)
        .check(HealthCheckRequest { service: String::new() })
        .await
        .map_err(|status| status.to_string())?;
    Ok(answer.into_inner().status() == ServingStatus::Serving)
}

fn open_log(path: &Path) -> anyhow::Result<File> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    OpenOptions::new().create(true).append(true).open(path).with_context(|| format!("cannot open {}", path.display()))
}

/// A loopback address whose port was free a moment ago (bound, read back, released).
pub fn free_local_addr() -> anyhow::Result<SocketAddr> {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).context("cannot find a free port")?;
    Ok(listener.local_addr()?)
}
