//! Channels to the services with sensible defaults: bounded connects and calls, HTTP/2
//! keep-alive, and TLS when asked.
//!
//! ```no_run
//! use api_client::resource::v1::resource_service_client::ResourceServiceClient;
//! use api_client::{ClientConfig, connect};
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let channel = connect("http://resource-service:50052", &ClientConfig::default()).await?;
//! let client = ResourceServiceClient::new(channel);
//! # let _ = client;
//! # Ok(())
//! # }
//! ```
//!
//! The scheme decides the transport: `http://` is plaintext, `https://` is TLS. An `https://`
//! URL without a [`TlsConfig`] trusts the public web PKI (the Mozilla roots bundled with the
//! crate, not the machine's store); a service whose certificate comes from a private CA needs
//! that CA in [`TlsConfig::ca_certificate_pem`]. A `TlsConfig` with an `http://` URL is refused
//! rather than quietly ignored (tonic would connect in plaintext).

use std::fmt;
use std::time::Duration;

use http::Uri;
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Endpoint, Identity};

/// How a channel connects and how long it waits.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// Longest wait for a TCP (and TLS) connection to be established.
    pub connect_timeout: Duration,
    /// Upper bound of every call on the channel, enforced locally (until the response headers
    /// arrive, so a stream may run longer). It is not sent to the server: for a deadline the
    /// server also sees, call `Request::set_timeout`; the shorter of the two applies.
    pub request_timeout: Duration,
    /// How often an HTTP/2 PING checks the connection while calls are in flight. No pings are
    /// sent on an idle connection: servers with a ping policy (grpc-go, grpc-java) close
    /// connections that ping while idle more often than every 5 minutes.
    pub keep_alive_interval: Duration,
    /// How long a PING may stay unanswered before the connection is closed as dead.
    pub keep_alive_timeout: Duration,
    /// TLS settings for an `https://` URL; `None` means the public web PKI (see the module docs).
    pub tls: Option<TlsConfig>,
}

impl Default for ClientConfig {
    /// 5 s connects, 30 s calls, a PING every 30 s answered within 10 s, no TLS settings.
    fn default() -> Self {
        Self {
            connect_timeout: Duration::from_secs(5),
            request_timeout: Duration::from_secs(30),
            keep_alive_interval: Duration::from_secs(30),
            keep_alive_timeout: Duration::from_secs(10),
            tls: None,
        }
    }
}

/// TLS settings of a channel (rustls; no OpenSSL).
#[derive(Debug, Clone, Default)]
pub struct TlsConfig {
    /// PEM of the CA (or CAs) that signed the server's certificate. When set, only these are
    /// trusted; when `None`, the bundled Mozilla roots are.
    pub ca_certificate_pem: Option<Vec<u8>>,
    /// This client's certificate and key, for servers that require mutual TLS.
    pub client_identity: Option<ClientIdentity>,
    /// The name the server's certificate must carry, when it differs from the URL's host (say,
    /// when connecting by IP address).
    pub domain_name: Option<String>,
}

/// A client certificate and its private key, both PEM. `Debug` never prints the key.
#[derive(Clone)]
pub struct ClientIdentity {
    /// PEM of the client certificate (followed by its intermediates, if any).
    pub certificate_pem: Vec<u8>,
    /// PEM of the certificate's private key.
    pub key_pem: Vec<u8>,
}

impl fmt::Debug for ClientIdentity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientIdentity")
            .field("certificate_pem", &format_args!("<{} bytes>", self.certificate_pem.len()))
            .field("key_pem", &format_args!("<redacted>"))
            .finish()
    }
}

/// Why a channel could not be made.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConnectError {
    /// The URL does not parse, or is not `http://` or `https://`.
    #[error("invalid service URL {url:?}: {problem}")]
    InvalidUrl {
        /// The URL as given.
        url: String,
        /// What is wrong with it.
        problem: String,
    },
    /// A [`TlsConfig`] was given for an `http://` URL.
    #[error("TLS is configured but {url:?} is not an https:// URL")]
    TlsNeedsHttps {
        /// The URL as given.
        url: String,
    },
    /// [`TlsConfig::ca_certificate_pem`] holds no PEM certificate, so nothing could be trusted.
    #[error("the CA certificate PEM holds no `-----BEGIN CERTIFICATE-----` block")]
    NoCaCertificate,
    /// The TLS settings are unusable (a PEM that does not parse, a key that does not match).
    #[error("invalid TLS settings")]
    Tls(#[source] tonic::transport::Error),
    /// The first connection failed (only [`connect`]; a lazy channel connects on first use).
    #[error("cannot connect to {url}")]
    Connect {
        /// The URL as given.
        url: String,
        /// What failed: DNS, TCP, TLS, HTTP/2, or the connect timeout.
        #[source]
        source: tonic::transport::Error,
    },
}

/// How much a connection may receive before its callers read it. h2 also sizes its guard
/// against floods of small DATA frames at half of it: every small frame counts until its caller
/// reads it, and a unary gRPC answer is one. hyper's adaptive window starts at 64 KiB, where
/// 130–150 small answers arriving before their callers ran closed the connection (GOAWAY
/// ENHANCE_YOUR_CALM, `too_many_data_frames`) and failed every call on it; these fixed sizes are
/// hyper's own defaults.
const CONNECTION_WINDOW: u32 = 5 * 1024 * 1024;
/// How much one call may receive before its caller reads it.
const STREAM_WINDOW: u32 = 2 * 1024 * 1024;

impl ClientConfig {
    /// The tonic endpoint with these settings, for callers who want to tune it further (user
    /// agent, concurrency limit, …) before connecting. Do not turn `http2_adaptive_window` on:
    /// tonic then replaces the fixed windows with a 64 KiB start (see `CONNECTION_WINDOW`).
    pub fn endpoint(&self, url: &str) -> Result<Endpoint, ConnectError> {
        let invalid = |problem: String| ConnectError::InvalidUrl { url: url.to_owned(), problem };
        let uri: Uri = url.parse().map_err(|error: http::uri::InvalidUri| invalid(error.to_string()))?;
        let https = match uri.scheme_str() {
            Some("https") => true,
            Some("http") => false,
            _ => return Err(invalid("expected an http:// or https:// URL".to_owned())),
        };
        if uri.host().is_none() {
            return Err(invalid("it names no host".to_owned()));
        }

        let endpoint = Endpoint::from(uri)
            .connect_timeout(self.connect_timeout)
            .timeout(self.request_timeout)
            .tcp_nodelay(true)
            .http2_keep_alive_interval(self.keep_alive_interval)
            .keep_alive_timeout(self.keep_alive_timeout)
            .keep_alive_while_idle(false)
            .initial_connection_window_size(CONNECTION_WINDOW)
            .initial_stream_window_size(STREAM_WINDOW);
        match (https, &self.tls) {
            (true, tls) => {
                // tonic skips what is not a PEM block, and an empty trust store would only show
                // up as "unknown issuer" at the first handshake.
                let ca = tls.as_ref().and_then(|tls| tls.ca_certificate_pem.as_deref());
                if ca.is_some_and(|pem| !contains(pem, b"-----BEGIN CERTIFICATE-----")) {
                    return Err(ConnectError::NoCaCertificate);
                }
                endpoint.tls_config(client_tls_config(tls.as_ref())).map_err(ConnectError::Tls)
            }
            (false, Some(_)) => Err(ConnectError::TlsNeedsHttps { url: url.to_owned() }),
            (false, None) => Ok(endpoint),
        }
    }
}

/// A channel to `url`, connected before it is returned: fails at once when the service cannot
/// be reached. It reconnects by itself later. Cheap to clone; share one per service.
pub async fn connect(url: &str, config: &ClientConfig) -> Result<Channel, ConnectError> {
    let endpoint = config.endpoint(url)?;
    endpoint.connect().await.map_err(|source| ConnectError::Connect { url: url.to_owned(), source })
}

/// A channel to `url` that connects on its first call, so a backend can start while the service
/// is down (what [`AuthGuard`](crate::AuthGuard) wants). Fails only on a bad URL or TLS settings.
pub fn connect_lazy(url: &str, config: &ClientConfig) -> Result<Channel, ConnectError> {
    Ok(config.endpoint(url)?.connect_lazy())
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|window| window == needle)
}

/// tonic's TLS settings for `tls` (the bundled Mozilla roots when there is no CA of its own).
fn client_tls_config(tls: Option<&TlsConfig>) -> ClientTlsConfig {
    let config = ClientTlsConfig::new();
    let Some(tls) = tls else {
        return config.with_webpki_roots();
    };
    let config = match &tls.ca_certificate_pem {
        Some(pem) => config.ca_certificate(Certificate::from_pem(pem)),
        None => config.with_webpki_roots(),
    };
    let config = match &tls.client_identity {
        Some(identity) => config.identity(Identity::from_pem(&identity.certificate_pem, &identity.key_pem)),
        None => config,
    };
    match &tls.domain_name {
        Some(domain_name) => config.domain_name(domain_name.clone()),
        None => config,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refusal(url: &str, config: &ClientConfig) -> ConnectError {
        config.endpoint(url).expect_err("the endpoint must be refused")
    }

    #[test]
    fn the_endpoint_carries_the_configured_timeouts() {
        let config = ClientConfig { connect_timeout: Duration::from_millis(700), ..ClientConfig::default() };
        let endpoint = config.endpoint("http://127.0.0.1:50051").unwrap();
        assert_eq!(endpoint.get_connect_timeout(), Some(Duration::from_millis(700)));
        assert!(endpoint.get_tcp_nodelay());
        assert_eq!(endpoint.uri(), &Uri::from_static("http://127.0.0.1:50051"));
    }

    #[test]
    fn urls_without_a_usable_scheme_or_host_are_refused() {
        let config = ClientConfig::default();
        for url in ["127.0.0.1:50051", "grpc://auth:50051", "http://", "not a url", ""] {
            assert!(matches!(refusal(url, &config), ConnectError::InvalidUrl { .. }), "{url:?} was accepted");
        }
    }

    #[test]
    fn tls_settings_with_a_plaintext_url_are_refused() {
        let config = ClientConfig { tls: Some(TlsConfig::default()), ..ClientConfig::default() };
        let error = refusal("http://auth:50051", &config);
        assert!(matches!(error, ConnectError::TlsNeedsHttps { .. }));
        assert_eq!(error.to_string(), "TLS is configured but \"http://auth:50051\" is not an https:// URL");
    }

    #[test]
    fn an_https_url_without_tls_settings_uses_the_public_roots() {
        assert!(ClientConfig::default().endpoint("https://auth.example.com").is_ok());
    }

    #[test]
    fn a_ca_that_is_not_pem_is_refused_when_the_endpoint_is_built() {
        let with_ca = |pem: &[u8]| ClientConfig {
            tls: Some(TlsConfig { ca_certificate_pem: Some(pem.to_vec()), ..TlsConfig::default() }),
            ..ClientConfig::default()
        };
        let not_pem = refusal("https://auth:50051", &with_ca(b"not a certificate"));
        assert!(matches!(not_pem, ConnectError::NoCaCertificate), "{not_pem:?}");
        let broken =
            refusal("https://auth:50051", &with_ca(b"-----BEGIN CERTIFICATE-----\n%%%\n-----END CERTIFICATE-----\n"));
        assert!(matches!(broken, ConnectError::Tls(_)), "{broken:?}");
    }

    #[test]
    fn the_private_key_never_shows_in_debug_output() {
        let identity = ClientIdentity {
            certificate_pem: b"-----BEGIN CERTIFICATE-----".to_vec(),
            key_pem: b"-----BEGIN PRIVATE KEY----- secret".to_vec(),
        };
        let tls = TlsConfig { client_identity: Some(identity), ..TlsConfig::default() };
        let printed = format!("{:?}", ClientConfig { tls: Some(tls), ..ClientConfig::default() });
        assert!(!printed.contains("secret"), "{printed}");
        assert!(printed.contains("<redacted>"), "{printed}");
    }
}
