//! A throwaway certificate authority for TLS tests: a CA, a server certificate for `localhost`
//! and 127.0.0.1, and client certificates, all made at test time.

use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair,
    KeyUsagePurpose, SanType,
};

/// A CA made for one test, with a server certificate signed by it.
pub struct TestPki {
    ca: CertifiedIssuer<'static, KeyPair>,
    /// PEM of the CA certificate.
    pub ca_pem: String,
    /// PEM of the server certificate (`localhost`, `127.0.0.1`).
    pub server_cert_pem: String,
    /// PEM of the server's private key.
    pub server_key_pem: String,
}

/// PEM files of a [`TestPki`] written to a directory.
#[derive(Debug, Clone)]
pub struct PkiFiles {
    /// The CA certificate.
    pub ca: PathBuf,
    /// The server certificate.
    pub server_cert: PathBuf,
    /// The server key.
    pub server_key: PathBuf,
    /// A client certificate signed by the CA.
    pub client_cert: PathBuf,
    /// Its key.
    pub client_key: PathBuf,
}

impl TestPki {
    /// A fresh CA and server certificate.
    pub fn new() -> anyhow::Result<Self> {
        let mut ca_params = CertificateParams::new(Vec::<String>::new())?;
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        ca_params.distinguished_name.push(DnType::CommonName, "throwaway test CA");
        let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate()?)?;

        let mut server_params = CertificateParams::new(vec!["localhost".to_owned()])?;
        server_params.subject_alt_names.push(SanType::IpAddress([127, 0, 0, 1].into()));
        server_params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        let server_key = KeyPair::generate()?;
        let server_cert = server_params.signed_by(&server_key, &ca)?;
        Ok(Self {
            ca_pem: ca.pem(),
            ca,
            server_cert_pem: server_cert.pem(),
            server_key_pem: server_key.serialize_pem(),
        })
    }

    /// A client certificate (PEM certificate, PEM key) signed by the CA.
    pub fn client(&self, name: &str) -> anyhow::Result<(String, String)> {
        let mut params = CertificateParams::new(Vec::<String>::new())?;
        params.distinguished_name.push(DnType::CommonName, name);
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        let key = KeyPair::generate()?;
        let certificate = params.signed_by(&key, &self.ca)?;
        Ok((certificate.pem(), key.serialize_pem()))
    }

    /// Writes the CA, the server identity and one client identity as PEM files into `dir`.
    pub fn write_to(&self, dir: &Path) -> anyhow::Result<PkiFiles> {
        std::fs::create_dir_all(dir)?;
        let (client_cert, client_key) = self.client("test client")?;
        let files = PkiFiles {
            ca: dir.join("ca.pem"),
            server_cert: dir.join("server.pem"),
            server_key: dir.join("server.key"),
            client_cert: dir.join("client.pem"),
            client_key: dir.join("client.key"),
        };
        std::fs::write(&files.ca, &self.ca_pem)?;
        std::fs::write(&files.server_cert, &self.server_cert_pem)?;
        std::fs::write(&files.server_key, &self.server_key_pem)?;
        std::fs::write(&files.client_cert, client_cert)?;
        std::fs::write(&files.client_key, client_key)?;
        Ok(files)
    }
}
