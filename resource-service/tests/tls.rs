//! TLS on both servers, and mutual TLS on the resource → auth call, with certificates made at
//! test time.

#[allow(dead_code, unused_imports, reason = "shared with the api tests; each binary uses a part")]
#[path = "support/mod.rs"]
mod helpers;

use api_client::auth::v1::auth_service_client::AuthServiceClient;
use api_client::auth::v1::{LoginRequest, RegisterRequest};
use api_client::resource::v1::resource_service_client::ResourceServiceClient;
use api_client::resource::v1::{CreateResourceRequest, ListResourcesRequest};
use api_client::{ClientConfig, ClientIdentity, TlsConfig};
use devkit::pki::TestPki;
use helpers::{StackOptions, TestResult, authed, spawn_stack_with, unique};
use service_kit::TlsFiles;

#[tokio::test(flavor = "multi_thread")]
async fn both_services_speak_tls_and_the_auth_service_requires_client_certificates() -> TestResult {
    let pki = TestPki::new()?;
    let files = pki.write_to(&devkit::scratch_dir(&format!("tls-{}", unique()))?)?;
    let (auth_files, resource_files) = (files.clone(), files.clone());
    let stack = spawn_stack_with(StackOptions {
        auth: Some(Box::new(move |settings| {
            settings.server.tls = Some(TlsFiles {
                certificate: auth_files.server_cert,
                key: auth_files.server_key,
                client_ca: Some(auth_files.ca),
            });
        })),
        resource: Some(Box::new(move |settings| {
            settings.server.tls = Some(TlsFiles {
                certificate: resource_files.server_cert.clone(),
                key: resource_files.server_key.clone(),
                client_ca: None,
            });
            settings.auth_url = settings.auth_url.replace("http://", "https://");
            settings.auth_client.tls = Some(TlsConfig {
                ca_certificate_pem: std::fs::read(&resource_files.ca).ok(),
                client_identity: Some(ClientIdentity {
                    certificate_pem: std::fs::read(&resource_files.client_cert).unwrap_or_default(),
                    key_pem: std::fs::read(&resource_files.client_key).unwrap_or_default(),
                }),
                domain_name: Some("localhost".into()),
            });
        })),
        ..StackOptions::default()
    })
    .await;

    let trust = |identity: Option<ClientIdentity>| ClientConfig {
        tls: Some(TlsConfig {
            ca_certificate_pem: Some(pki.ca_pem.clone().into_bytes()),
            client_identity: identity,
            domain_name: Some("localhost".into()),
        }),
        ..ClientConfig::default()
    };
    let (client_cert, client_key) = pki.client("grpc test client")?;
    let with_certificate =
        trust(Some(ClientIdentity { certificate_pem: client_cert.into_bytes(), key_pem: client_key.into_bytes() }));
    let auth_url = format!("https://{}", stack.auth.addr);
    let resource_url = format!("https://{}", stack.resource.addr);

    // Over TLS with a client certificate, the auth service works.
    let mut auth = AuthServiceClient::new(api_client::connect(&auth_url, &with_certificate).await?);
    let email = format!("tls-{}@example.com", unique());
    auth.register(RegisterRequest { email: email.clone(), password: "correct horse battery".into(), name: "T".into() })
        .await?;
    let login = auth.login(LoginRequest { email, password: "correct horse battery".into() }).await?.into_inner();
    let token = login.tokens.ok_or("no tokens")?.access_token;

    // The resource service (TLS) validates the token over mutual TLS with the auth service.
    let mut resources = ResourceServiceClient::new(api_client::connect(&resource_url, &trust(None)).await?);
    resources
        .create_resource(authed(CreateResourceRequest { title: "over TLS".into(), content: None }, &token))
        .await?;
    let listed = resources.list_resources(authed(ListResourcesRequest::default(), &token)).await?.into_inner();
    assert_eq!(listed.resources.len(), 1);

    // A client without a certificate is refused by the auth service.
    let anonymous = api_client::connect_lazy(&auth_url, &trust(None))?;
    let refused = AuthServiceClient::new(anonymous)
        .validate_token(api_client::auth::v1::ValidateTokenRequest { access_token: token.clone() })
        .await;
    // Whether it sees the alert (CertificateRequired) or the closed connection first is a race
    // between the two, so only the refusal is asserted.
    assert!(refused.is_err(), "a client without a certificate got through: {refused:?}");

    // Plaintext is refused by both.
    let plaintext = api_client::connect_lazy(&format!("http://{}", stack.resource.addr), &ClientConfig::default())?;
    let refused =
        ResourceServiceClient::new(plaintext).list_resources(authed(ListResourcesRequest::default(), &token)).await;
    assert!(refused.is_err(), "plaintext reached the TLS server: {refused:?}");
    Ok(())
}
