//! TLS through `connect`: a health server on a real socket (port 0) with certificates made for
//! the test by a throwaway CA, reached with the crate's `TlsConfig`, with and without mutual TLS.

use std::net::SocketAddr;
use std::time::Duration;

use api_client::{ClientConfig, ClientIdentity, ConnectError, TlsConfig, connect};
use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair,
    KeyUsagePurpose,
};
use tokio::net::TcpListener;
use tokio_stream::wrappers::TcpListenerStream;
use tonic::transport::{Certificate, Channel, Identity, Server, ServerTlsConfig};
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;

#[tokio::test]
async fn a_server_certified_by_the_configured_ca_is_reached_over_tls() -> anyhow::Result<()> {
    let pki = TestPki::new()?;
    let addr = serve_health_over_tls(&pki, ClientAuth::None).await?;

    let tls = TlsConfig { domain_name: Some("localhost".to_owned()), ..pki.trusting_ca() };
    let channel = connect(&format!("https://{addr}"), &config(tls)).await?;

    assert_eq!(health(channel).await?, ServingStatus::Serving as i32);
    Ok(())
}

#[tokio::test]
async fn the_host_of_the_url_is_the_name_checked_by_default() -> anyhow::Result<()> {
    let pki = TestPki::new()?;
    let addr = serve_health_over_tls(&pki, ClientAuth::None).await?;

    // The certificate names `localhost`, not `127.0.0.1`.
    let wrong_name = connect(&format!("https://{addr}"), &config(pki.trusting_ca())).await;
    assert!(matches!(wrong_name, Err(ConnectError::Connect { .. })), "{wrong_name:?}");

    let channel = connect(&format!("https://localhost:{}", addr.port()), &config(pki.trusting_ca())).await?;
    assert_eq!(health(channel).await?, ServingStatus::Serving as i32);
    Ok(())
}

#[tokio::test]
async fn a_server_certificate_from_an_unknown_ca_is_refused() -> anyhow::Result<()> {
    let pki = TestPki::new()?;
    let addr = serve_health_over_tls(&pki, ClientAuth::None).await?;

    // No TlsConfig: only the public roots are trusted, and the test CA is not one of them.
    let refused = connect(&format!("https://localhost:{}", addr.port()), &ClientConfig::default()).await;

    let error = refused.expect_err("an unknown CA must not be trusted");
    assert!(matches!(error, ConnectError::Connect { .. }), "{error:?}");
    assert!(chain(&error).contains("UnknownIssuer"), "{}", chain(&error));
    Ok(())
}

#[tokio::test]
async fn a_server_requiring_client_certificates_accepts_the_configured_identity() -> anyhow::Result<()> {
    let pki = TestPki::new()?;
    let addr = serve_health_over_tls(&pki, ClientAuth::Required).await?;
    let url = format!("https://localhost:{}", addr.port());

    let with_identity = TlsConfig { client_identity: Some(pki.client_identity()?), ..pki.trusting_ca() };
    let channel = connect(&url, &config(with_identity)).await?;
    assert_eq!(health(channel).await?, ServingStatus::Serving as i32);

    // TLS 1.3 reports a refused client certificate after the handshake: at connect or at the call.
    let anonymous = async { health(connect(&url, &config(pki.trusting_ca())).await?).await };
    assert!(anonymous.await.is_err(), "a client without a certificate must be refused");
    Ok(())
}

fn config(tls: TlsConfig) -> ClientConfig {
    ClientConfig { connect_timeout: Duration::from_secs(2), tls: Some(tls), ..ClientConfig::default() }
}

async fn health(channel: Channel) -> anyhow::Result<i32> {
    let answer = HealthClient::new(channel).check(HealthCheckRequest { service: String::new() }).await?;
    Ok(answer.into_inner().status)
}

/// The error and its causes on one line.
fn chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut cause = error.source();
    while let Some(error) = cause {
        text.push_str(": ");
        text.push_str(&error.to_string());
        cause = error.source();
    }
    text
}

enum ClientAuth {
    None,
    Required,
}

/// Serves gRPC health over TLS with the test PKI's server certificate until the test ends.
async fn serve_health_over_tls(pki: &TestPki, client_auth: ClientAuth) -> anyhow::Result<SocketAddr> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let mut tls = ServerTlsConfig::new().identity(Identity::from_pem(&pki.server_certificate, &pki.server_key));
    if let ClientAuth::Required = client_auth {
        tls = tls.client_ca_root(Certificate::from_pem(&pki.ca_certificate));
    }
    let (_reporter, health_service) = tonic_health::server::health_reporter();
    let server = Server::builder().tls_config(tls)?.add_service(health_service);
    tokio::spawn(server.serve_with_incoming(TcpListenerStream::new(listener)));
    Ok(addr)
}

/// A CA made for one test, a server certificate for `localhost` and a way to make client ones.
struct TestPki {
    ca: CertifiedIssuer<'static, KeyPair>,
    ca_certificate: String,
    server_certificate: String,
    server_key: String,
}

impl TestPki {
    fn new() -> anyhow::Result<Self> {
        let mut ca_params = CertificateParams::new(Vec::<String>::new())?;
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        ca_params.distinguished_name.push(DnType::CommonName, "api-client test CA");
        let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate()?)?;

        let mut server_params = CertificateParams::new(vec!["localhost".to_owned()])?;
        server_params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        let server_key = KeyPair::generate()?;
        let server_certificate = server_params.signed_by(&server_key, &ca)?;

        Ok(Self {
            ca_certificate: ca.pem(),
            ca,
            server_certificate: server_certificate.pem(),
            server_key: server_key.serialize_pem(),
        })
    }

    /// Client settings trusting this CA only.
    fn trusting_ca(&self) -> TlsConfig {
        TlsConfig { ca_certificate_pem: Some(self.ca_certificate.clone().into_bytes()), ..TlsConfig::default() }
    }

    /// A client certificate signed by this CA.
    fn client_identity(&self) -> anyhow::Result<ClientIdentity> {
        let mut params = CertificateParams::new(Vec::<String>::new())?;
        params.distinguished_name.push(DnType::CommonName, "greeter");
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        let key = KeyPair::generate()?;
        let certificate = params.signed_by(&key, &self.ca)?;
        Ok(ClientIdentity {
            certificate_pem: certificate.pem().into_bytes(),
            key_pem: key.serialize_pem().into_bytes(),
        })
    }
}
