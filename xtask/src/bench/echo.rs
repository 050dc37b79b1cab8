//! The framework ceiling: a bare tonic server whose main RPC is `grpc.health.v1.Health/Check`,
//! a unary call with a message of a few bytes each way — an echo in all but name. Given a page
//! (`--page`, see [`super::page`]), it also answers `ResourceService/ListResources` with that
//! page, from memory: what carrying a page of 20 resources costs without the database.
//!
//! It runs as a process of its own (`xtask bench-echo`) on tokio's default multi-threaded
//! runtime with the server settings service-kit's `serve` asks for (TCP_NODELAY, HTTP/2
//! keep-alive every 30 s with a 10 s timeout), so its CPU and memory are read like the
//! services' and the only difference left is what they do per call.
//!
//! The listener goes through tonic's `TcpIncoming` with TCP_NODELAY set on every accepted
//! socket: with a plain `TcpListenerStream`, tonic ignores the builder's `tcp_nodelay` (its
//! documentation says so), Nagle's algorithm stays on, and responses finishing one by one wait
//! for delayed ACKs — 40 ms on Linux.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context as _;
use api_client::resource::v1 as pb;
use api_client::resource::v1::resource_service_server::{ResourceService, ResourceServiceServer};
use tokio::net::TcpListener;
use tonic::transport::Server;
use tonic::transport::server::TcpIncoming;
use tonic::{Request, Response, Status};

use super::page;

/// Options of `xtask bench-echo`.
#[derive(Debug, Clone, clap::Args)]
pub struct EchoArgs {
    /// Address to listen on.
    #[arg(long)]
    pub listen: SocketAddr,
    /// Also answer ListResources with the page in this file (written by the benchmark).
    #[arg(long)]
    pub page: Option<PathBuf>,
}

/// Serves the echo until SIGTERM or SIGINT.
pub fn serve_echo(args: &EchoArgs) -> anyhow::Result<()> {
    // What `#[tokio::main]` builds for the services: one worker per CPU.
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    runtime.block_on(async {
        let listener = TcpListener::bind(args.listen).await.with_context(|| format!("cannot bind {}", args.listen))?;
        let page = args.page.as_deref().map(page::read).transpose()?;
        serve(listener, page, shared::shutdown::shutdown_signal()).await
    })
}

/// Serves the echo (and the page, if any) on `listener` until `shutdown` completes.
pub(super) async fn serve(
    listener: TcpListener,
    page: Option<pb::ListResourcesResponse>,
    shutdown: impl Future<Output = ()>,
) -> anyhow::Result<()> {
    let (_reporter, health) = tonic_health::server::health_reporter();
    Server::builder()
        .tcp_nodelay(true)
        .http2_keepalive_interval(Some(Duration::from_secs(30)))
        .http2_keepalive_timeout(Some(Duration::from_secs(10)))
        .add_service(health)
        .add_optional_service(page.map(|page| ResourceServiceServer::new(PageEcho { page })))
        .serve_with_incoming_shutdown(TcpIncoming::from(listener).with_nodelay(Some(true)), shutdown)
        .await?;
    Ok(())
}

/// ListResources answered with a page held in memory; the other RPCs are not served.
struct PageEcho {
    page: pb::ListResourcesResponse,
}

/// What the echo answers to the RPCs it does not serve.
fn not_served() -> Status {
    Status::unimplemented("the bench's echo server answers ListResources only")
}

#[tonic::async_trait]
impl ResourceService for PageEcho {
    async fn create_resource(&self, _: Request<pb::CreateResourceRequest>) -> Result<Response<pb::Resource>, Status> {
        Err(not_served())
    }

    async fn get_resource(&self, _: Request<pb::GetResourceRequest>) -> Result<Response<pb::Resource>, Status> {
        Err(not_served())
    }

    async fn list_resources(
        &self,
        _: Request<pb::ListResourcesRequest>,
    ) -> Result<Response<pb::ListResourcesResponse>, Status> {
        // A clone, as the service builds a fresh message from its rows for every call.
        Ok(Response::new(self.page.clone()))
    }

    async fn update_resource(&self, _: Request<pb::UpdateResourceRequest>) -> Result<Response<pb::Resource>, Status> {
        Err(not_served())
    }

    async fn delete_resource(&self, _: Request<pb::DeleteResourceRequest>) -> Result<Response<pb::Resource>, Status> {
        Err(not_served())
    }

    async fn undelete_resource(
        &self,
        _: Request<pb::UndeleteResourceRequest>,
    ) -> Result<Response<pb::Resource>, Status> {
        Err(not_served())
    }
}

#[cfg(test)]
mod tests {
    use api_client::resource::v1::resource_service_client::ResourceServiceClient;
    use tonic_health::pb::health_check_response::ServingStatus;
    use tonic_health::pb::health_client::HealthClient;

    use super::*;

    fn a_page() -> pb::ListResourcesResponse {
        let resource =
            |id| pb::Resource { id, owner_id: 7, title: format!("Resource {id}"), ..pb::Resource::default() };
        pb::ListResourcesResponse {
            resources: (1..=3).rev().map(resource).collect(),
            next_page_token: "next".to_owned(),
        }
    }

    #[tokio::test]
    async fn the_echo_answers_health_checks_and_list_resources_with_its_page_over_a_socket() -> anyhow::Result<()> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let url = format!("http://{}", listener.local_addr()?);
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(serve(listener, Some(a_page()), async move { drop(stopped.await) }));
        let channel = tonic::transport::Endpoint::from_shared(url)?.connect().await?;

        let health = HealthClient::new(channel.clone()).check(tonic_health::pb::HealthCheckRequest::default()).await?;
        assert_eq!(health.into_inner().status(), ServingStatus::Serving);
        let mut resources = ResourceServiceClient::new(channel);
        let request = pb::ListResourcesRequest { page_size: page::PAGE_SIZE, ..Default::default() };
        let listed = resources.list_resources(request).await?;
        assert_eq!(listed.into_inner(), a_page());
        let refused = resources.get_resource(pb::GetResourceRequest { id: 1 }).await.expect_err("not served");
        assert_eq!(refused.code(), tonic::Code::Unimplemented);

        drop(resources);
        drop(stop);
        tokio::time::timeout(Duration::from_secs(10), server).await.context("the echo did not stop")???;
        Ok(())
    }

    #[tokio::test]
    async fn without_a_page_the_echo_serves_no_resource_service() -> anyhow::Result<()> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let url = format!("http://{}", listener.local_addr()?);
        let server = tokio::spawn(serve(listener, None, std::future::pending()));
        let channel = tonic::transport::Endpoint::from_shared(url)?.connect().await?;
        let listed = ResourceServiceClient::new(channel).list_resources(pb::ListResourcesRequest::default()).await;
        assert_eq!(listed.expect_err("no page").code(), tonic::Code::Unimplemented);
        server.abort();
        Ok(())
    }
}
