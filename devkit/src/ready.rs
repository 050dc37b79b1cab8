//! Waits until a freshly started server answers queries.

use std::fs;
use std::net::Ipv4Addr;
use std::path::Path;
use std::process::{Child, ExitStatus};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use diesel::QueryableByName;
use diesel::sql_types::Text;
use diesel_async::{AsyncConnection as _, AsyncPgConnection, RunQueryDsl as _};
use tokio::net::TcpStream;

use crate::own_runtime::block_on_own_runtime;

/// Pause between two attempts.
const POLL_INTERVAL: Duration = Duration::from_millis(50);
/// Longest a single attempt may take (a port held by something else may never answer).
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(2);

/// How waiting for a server ended.
#[derive(Debug)]
pub(crate) enum Readiness {
    /// It answered a query.
    Ready,
    /// The server process exited.
    Exited(ExitStatus),
    /// It did not answer in time; the error of the last attempt.
    TimedOut(String),
}

/// Polls `server` (a TCP connect to `port`, then a query through `url` that must report
/// `data_dir`, so another server on the same port does not count) until it answers, exits, or
/// `timeout` passes.
pub(crate) fn wait_until_ready(
    server: &mut Child,
    url: &str,
    port: u16,
    data_dir: &Path,
    timeout: Duration,
) -> anyhow::Result<Readiness> {
    block_on_own_runtime(move || async move {
        let deadline = Instant::now() + timeout;
        loop {
            let attempt = tokio::time::timeout(ATTEMPT_TIMEOUT, answers(url, port, data_dir));
            // Give up on an attempt as soon as the server exits.
            let last_error = tokio::select! {
                status = exit_of(server) => return Ok(Readiness::Exited(status?)),
                outcome = attempt => match outcome {
                    Ok(Ok(())) => return Ok(Readiness::Ready),
                    Ok(Err(error)) => format!("{error:#}"),
                    Err(_) => format!("no answer within {ATTEMPT_TIMEOUT:?}"),
                },
            };
            if Instant::now() >= deadline {
                return Ok(Readiness::TimedOut(last_error));
            }
            tokio::time::sleep(POLL_INTERVAL).await;
        }
    })
}

/// Resolves when `server` exits (polling, as std cannot wait asynchronously).
async fn exit_of(server: &mut Child) -> anyhow::Result<ExitStatus> {
    loop {
        if let Some(status) = server.try_wait().context("cannot check the server process")? {
            return Ok(status);
        }
        tokio::time::sleep(POLL_INTERVAL).await;
    }
}

/// The `data_directory` setting.
#[derive(QueryableByName)]
struct DataDirectory {
    /// Its value.
    #[diesel(sql_type = Text)]
    data_directory: String,
}

/// One attempt: the port accepts a connection and the server there, which must be the one of
/// `data_dir`, runs a query.
async fn answers(url: &str, port: u16, data_dir: &Path) -> anyhow::Result<()> {
    TcpStream::connect((Ipv4Addr::LOCALHOST, port))
        .await
        .with_context(|| format!("nothing accepts connections on 127.0.0.1:{port}"))?;
    let mut connection = AsyncPgConnection::establish(url).await.with_context(|| format!("cannot connect to {url}"))?;
    let answer: DataDirectory = diesel::sql_query("SELECT current_setting('data_directory') AS data_directory")
        .get_result(&mut connection)
        .await
        .context("the server does not answer queries")?;
    let served = Path::new(&answer.data_directory);
    if served != data_dir && fs::canonicalize(served).ok() != fs::canonicalize(data_dir).ok() {
        bail!("port {port} is served by another PostgreSQL server (data directory {})", served.display());
    }
    Ok(())
}
