//! The calls the scenarios make, one slot type per RPC, each through the generated clients of
//! `api-client` exactly as another backend would call the services.

use std::sync::Arc;
use std::time::Duration;

use api_client::BearerToken;
use api_client::auth::v1::auth_service_client::AuthServiceClient;
use api_client::auth::v1::{LoginRequest, RefreshRequest, ValidateTokenRequest};
use api_client::resource::v1::resource_service_client::ResourceServiceClient;
use api_client::resource::v1::{
    CreateResourceRequest, GetResourceRequest, ListResourcesRequest, Resource, UpdateResourceRequest,
};
use rand::rngs::SmallRng;
use rand::{Rng as _, SeedableRng as _};
use tonic::service::interceptor::InterceptedService;
use tonic::transport::Channel;
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_client::HealthClient;

use super::fill::{self, Session};
use super::load::Slot;
use super::page::PAGE_SIZE;
use super::pgbench::NEW_CONTENT;

/// A resource-service client that sends one session's access token.
type ResourceClient = ResourceServiceClient<InterceptedService<Channel, BearerToken>>;

fn resource_client(channel: Channel, session: &Session) -> anyhow::Result<ResourceClient> {
    Ok(ResourceServiceClient::with_interceptor(channel, session.bearer()?))
}

/// A deterministic RNG per slot, so two runs draw the same ids.
fn rng_for(slot: usize) -> SmallRng {
    SmallRng::seed_from_u64(0x5EED_0000 + slot as u64)
}

/// The echo: `grpc.health.v1.Health/Check` on the bare tonic server.
pub struct Echo {
    client: HealthClient<Channel>,
}

impl Echo {
    /// A slot on `channel`.
    pub fn new(channel: Channel) -> Self {
        Self { client: HealthClient::new(channel) }
    }
}

impl Slot for Echo {
    async fn call(&mut self) -> Result<(), tonic::Status> {
        self.client.check(HealthCheckRequest { service: String::new() }).await.map(drop)
    }
}

/// `AuthService/ValidateToken` of one session's access token.
pub struct ValidateToken {
    client: AuthServiceClient<Channel>,
    token: String,
}

impl ValidateToken {
    /// A slot on `channel` validating `session`'s token.
    pub fn new(channel: Channel, session: &Session) -> Self {
        Self { client: AuthServiceClient::new(channel), token: session.access_token.clone() }
    }
}

impl Slot for ValidateToken {
    async fn call(&mut self) -> Result<(), tonic::Status> {
        let request = ValidateTokenRequest { access_token: self.token.clone() };
        self.client.validate_token(request).await.map(drop)
    }
}

/// `ResourceService/GetResource` of a random live resource of the caller.
pub struct GetResource {
    client: ResourceClient,
    ids: Arc<[i64]>,
    rng: SmallRng,
}

impl GetResource {
    /// Slot number `slot` on `channel`, as `session`.
    pub fn new(slot: usize, channel: Channel, session: &Session) -> anyhow::Result<Self> {
        Ok(Self { client: resource_client(channel, session)?, ids: Arc::clone(&session.live_ids), rng: rng_for(slot) })
    }
}

impl Slot for GetResource {
    async fn call(&mut self) -> Result<(), tonic::Status> {
        let id = self.ids[self.rng.random_range(0..self.ids.len())];
        self.client.get_resource(GetResourceRequest { id }).await.map(drop)
    }
}

/// `ResourceService/ListResources`: the caller's first page of 20.
pub struct ListResources {
    client: ResourceClient,
}

impl ListResources {
    /// A slot on `channel`, as `session`.
    pub fn new(channel: Channel, session: &Session) -> anyhow::Result<Self> {
        Ok(Self { client: resource_client(channel, session)? })
    }
}

impl Slot for ListResources {
    async fn call(&mut self) -> Result<(), tonic::Status> {
        let request = ListResourcesRequest { page_size: PAGE_SIZE, ..ListResourcesRequest::default() };
        self.client.list_resources(request).await.map(drop)
    }
}

/// `ResourceService/CreateResource` with the content pgbench inserts.
pub struct CreateResource {
    client: ResourceClient,
    slot: usize,
    count: u64,
}

impl CreateResource {
    /// Slot number `slot` on `channel`, as `session`.
    pub fn new(slot: usize, channel: Channel, session: &Session) -> anyhow::Result<Self> {
        Ok(Self { client: resource_client(channel, session)?, slot, count: 0 })
    }
}

impl Slot for CreateResource {
    async fn call(&mut self) -> Result<(), tonic::Status> {
        self.count += 1;
        let request = CreateResourceRequest {
            title: format!("Bench {} #{}", self.slot, self.count),
            content: Some(NEW_CONTENT.to_owned()),
        };
        self.client.create_resource(request).await.map(drop)
    }
}

/// `ResourceService/UpdateResource`: a new title for a random live resource of the caller,
/// without a mask or an etag (the populated fields change, whatever the version).
pub struct UpdateResource {
    client: ResourceClient,
    ids: Arc<[i64]>,
    rng: SmallRng,
    count: u64,
}

impl UpdateResource {
    /// Slot number `slot` on `channel`, as `session`.
    pub fn new(slot: usize, channel: Channel, session: &Session) -> anyhow::Result<Self> {
        Ok(Self {
            client: resource_client(channel, session)?,
            ids: Arc::clone(&session.live_ids),
            rng: rng_for(slot),
            count: 0,
        })
    }
}

impl Slot for UpdateResource {
    async fn call(&mut self) -> Result<(), tonic::Status> {
        self.count += 1;
        let id = self.ids[self.rng.random_range(0..self.ids.len())];
        let resource = Resource { id, title: format!("Updated #{}", self.count), ..Resource::default() };
        let request = UpdateResourceRequest { resource: Some(resource), update_mask: None };
        self.client.update_resource(request).await.map(drop)
    }
}

/// `AuthService/Login` of the data set's users in turn (each login a real argon2id verify and
/// a new session).
pub struct Login {
    client: AuthServiceClient<Channel>,
    next_user: i64,
    pause: Option<Duration>,
}

impl Login {
    /// Slot number `slot` on `channel`; slots start at different users.
    pub fn new(slot: usize, channel: Channel) -> Self {
        Self { client: AuthServiceClient::new(channel), next_user: slot as i64 * 97, pause: None }
    }

    /// A slot that waits `pause` between logins (a trickle rather than a storm).
    pub fn paced(slot: usize, channel: Channel, pause: Duration) -> Self {
        Self { pause: Some(pause), ..Self::new(slot, channel) }
    }
}

impl Slot for Login {
    async fn call(&mut self) -> Result<(), tonic::Status> {
        self.next_user += 1;
        let user = 1 + self.next_user % fill::USERS;
        let request = LoginRequest { email: fill::email(user), password: fill::PASSWORD.to_owned() };
        self.client.login(request).await.map(drop)
    }

    fn pause(&self) -> Option<Duration> {
        self.pause
    }
}

/// `AuthService/Refresh`, rotating one session's refresh token call after call (a slot owns
/// its session: two slots refreshing one token would be reuse).
pub struct Refresh {
    client: AuthServiceClient<Channel>,
    refresh_token: String,
}

impl Refresh {
    /// A slot on `channel` owning `session`.
    pub fn new(channel: Channel, session: &Session) -> Self {
        Self { client: AuthServiceClient::new(channel), refresh_token: session.refresh_token.clone() }
    }
}

impl Slot for Refresh {
    async fn call(&mut self) -> Result<(), tonic::Status> {
        let request = RefreshRequest { refresh_token: self.refresh_token.clone() };
        let tokens = self.client.refresh(request).await?.into_inner().tokens.unwrap_or_default();
        self.refresh_token = tokens.refresh_token;
        Ok(())
    }
}
