//! Operational settings shared by both services, as clap arguments and as a plain struct.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

/// Files of a TLS identity (PEM), and optionally the CA whose clients are accepted (mTLS).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    /// Certificate chain.
    pub certificate: PathBuf,
    /// Private key.
    pub key: PathBuf,
    /// When set, clients must present a certificate signed by this CA (mutual TLS).
    pub client_ca: Option<PathBuf>,
}

/// How the server runs around its handlers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerSettings {
    /// How long in-flight calls may finish after a shutdown signal before they are dropped.
    pub shutdown_grace: Duration,
    /// Deadline of every RPC (the client's `grpc-timeout` applies when shorter).
    pub rpc_timeout: Duration,
    /// Largest request or response message, in bytes.
    pub max_message_bytes: usize,
    /// RPCs served at once; more are refused at once with RESOURCE_EXHAUSTED (load shedding).
    pub max_concurrent_rpcs: usize,
    /// Serve gRPC reflection (v1 and v1alpha).
    pub reflection: bool,
    /// Where `/metrics` is served (Prometheus text); `None` turns it off.
    pub metrics_addr: Option<SocketAddr>,
    /// How often the database is checked for the health service.
    pub health_interval: Duration,
    /// Server TLS; plaintext when `None`.
    pub tls: Option<TlsFiles>,
    /// Send what a plaintext connection's responses write during one pass of the run queue in
    /// one system call (see [`crate::batched_writes`]); `false`, or TLS, writes each as HTTP/2
    /// makes it.
    pub batch_writes: bool,
}

impl ServerSettings {
    /// Whether accepted connections batch their writes: when asked, and never under TLS, where
    /// tokio-rustls writes a failed handshake's alert without a flush and drops the connection
    /// (a batch would hold the alert back).
    pub fn batches_writes(&self) -> bool {
        self.batch_writes && self.tls.is_none()
    }
}

impl Default for ServerSettings {
    fn default() -> Self {
        Self {
            shutdown_grace: Duration::from_secs(20),
            rpc_timeout: Duration::from_secs(30),
            max_message_bytes: 4 * 1024 * 1024,
            max_concurrent_rpcs: 1024,
            reflection: true,
            metrics_addr: None,
            health_interval: Duration::from_secs(5),
            tls: None,
            batch_writes: true,
        }
    }
}

/// The command-line and environment form of [`ServerSettings`].
#[derive(Debug, Clone, clap::Args)]
pub struct ServerArgs {
    /// How long in-flight calls may finish after SIGTERM/SIGINT before they are dropped.
    #[arg(long, env = "SHUTDOWN_GRACE_PERIOD", default_value = "20s", value_parser = humantime::parse_duration)]
    pub shutdown_grace_period: Duration,
    /// Deadline of every RPC (a shorter client deadline wins).
    #[arg(long, env = "RPC_TIMEOUT", default_value = "30s", value_parser = humantime::parse_duration)]
    pub rpc_timeout: Duration,
    /// Largest request or response message, in bytes.
    #[arg(long, env = "MAX_MESSAGE_BYTES", default_value_t = 4 * 1024 * 1024)]
    pub max_message_bytes: usize,
    /// RPCs served at once; beyond it calls are refused at once with RESOURCE_EXHAUSTED.
    #[arg(long, env = "MAX_CONCURRENT_RPCS", default_value_t = 1024)]
    pub max_concurrent_rpcs: usize,
    /// Serve gRPC server reflection (v1 and v1alpha), for grpcurl.
    #[arg(long, env = "GRPC_REFLECTION", default_value_t = true, action = clap::ArgAction::Set)]
    pub grpc_reflection: bool,
    /// Address of the Prometheus `/metrics` endpoint; empty turns it off.
    #[arg(long, env = "METRICS_ADDR")]
    pub metrics_addr: Option<String>,
    /// How often the database is checked for the gRPC health service.
    #[arg(long, env = "HEALTH_CHECK_INTERVAL", default_value = "5s", value_parser = humantime::parse_duration)]
    pub health_check_interval: Duration,
    /// Server certificate chain (PEM); with --tls-key, the server speaks TLS.
    #[arg(long, env = "TLS_CERT_FILE", requires = "tls_key_file")]
    pub tls_cert_file: Option<PathBuf>,
    /// Server private key (PEM).
    #[arg(long, env = "TLS_KEY_FILE", requires = "tls_cert_file")]
    pub tls_key_file: Option<PathBuf>,
    /// CA (PEM) whose client certificates are required (mutual TLS).
    #[arg(long, env = "TLS_CLIENT_CA_FILE", requires = "tls_cert_file")]
    pub tls_client_ca_file: Option<PathBuf>,
    /// Send each plaintext connection's responses of one pass of the run queue in one system
    /// call; `false` (or TLS) writes every response as it is made.
    #[arg(long, env = "BATCH_WRITES", default_value_t = true, action = clap::ArgAction::Set)]
    pub batch_writes: bool,
}

impl ServerArgs {
    /// The settings; `default_metrics_addr` applies when METRICS_ADDR is not given.
    pub fn to_settings(&self, default_metrics_addr: SocketAddr) -> anyhow::Result<ServerSettings> {
        let metrics_addr = match self.metrics_addr.as_deref().map(str::trim) {
            None => Some(default_metrics_addr),
            Some("") => None,
            Some(addr) => Some(addr.parse().map_err(|error| anyhow::anyhow!("METRICS_ADDR {addr:?}: {error}"))?),
        };
        let tls = match (&self.tls_cert_file, &self.tls_key_file) {
            (Some(certificate), Some(key)) => Some(TlsFiles {
                certificate: certificate.clone(),
                key: key.clone(),
                client_ca: self.tls_client_ca_file.clone(),
            }),
            _ => None,
        };
        Ok(ServerSettings {
            shutdown_grace: self.shutdown_grace_period,
            rpc_timeout: self.rpc_timeout,
            max_message_bytes: self.max_message_bytes,
            max_concurrent_rpcs: self.max_concurrent_rpcs.max(1),
            reflection: self.grpc_reflection,
            metrics_addr,
            health_interval: self.health_check_interval,
            tls,
            batch_writes: self.batch_writes,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_are_batched_when_asked_and_never_under_tls() {
        let plaintext = ServerSettings::default();
        assert!(plaintext.batches_writes());
        assert!(!ServerSettings { batch_writes: false, ..ServerSettings::default() }.batches_writes());
        let tls = TlsFiles { certificate: "cert.pem".into(), key: "key.pem".into(), client_ca: None };
        assert!(!ServerSettings { tls: Some(tls), ..ServerSettings::default() }.batches_writes());
    }

    #[derive(Debug, clap::Parser)]
    struct Command {
        #[command(flatten)]
        server: ServerArgs,
    }

    /// The defaults are written in `--help` and in `ServerSettings::default()` (which tests and
    /// embedders use); they must be the same settings.
    #[test]
    fn the_command_lines_defaults_are_the_default_settings() {
        use clap::Parser;
        let metrics_addr: SocketAddr = "127.0.0.1:9000".parse().unwrap();
        let parsed = Command::try_parse_from(["service"]).expect("no option is required");
        let settings = parsed.server.to_settings(metrics_addr).expect("the defaults are valid");
        assert_eq!(settings, ServerSettings { metrics_addr: Some(metrics_addr), ..ServerSettings::default() });
    }

    #[test]
    fn an_empty_metrics_address_turns_metrics_off_and_a_bad_one_is_refused() {
        use clap::Parser;
        let default_addr: SocketAddr = "127.0.0.1:9000".parse().unwrap();
        let off = Command::try_parse_from(["service", "--metrics-addr="]).unwrap();
        assert_eq!(off.server.to_settings(default_addr).unwrap().metrics_addr, None);
        let bad = Command::try_parse_from(["service", "--metrics-addr=nowhere"]).unwrap();
        let error = bad.server.to_settings(default_addr).unwrap_err().to_string();
        assert!(error.contains("METRICS_ADDR \"nowhere\""), "{error}");
    }
}
