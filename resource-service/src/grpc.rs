//! `resource.v1.ResourceService`: parse, call one operation, convert.

pub mod convert;

use std::sync::Arc;

use api_client::resource::v1 as pb;
use api_client::resource::v1::resource_service_server::ResourceService;
use shared::pagination::PageRequest;
use shared::violations::FieldViolations;
use tonic::{Request, Response, Status};

use crate::domain::{check_content, check_title, parse_etag, parse_id};
use crate::error::ResourceError;
use crate::ops::{self, Actor, Owners};
use crate::startup::AppState;
use crate::store::ResourceChanges;

/// The ResourceService implementation; requests reach it through the auth guard layer.
pub struct ResourceApi {
    state: Arc<AppState>,
}

impl ResourceApi {
    /// Serves with this state.
    pub fn new(state: Arc<AppState>) -> Self {
        Self { state }
    }
}

/// The caller the guard layer authenticated.
fn actor<T>(request: &Request<T>) -> Result<Actor, Status> {
    let caller = api_client::caller(request)?;
    Ok(convert::actor(caller))
}

fn id(field: &str, raw: i64) -> Result<i32, ResourceError> {
    Ok(parse_id(field, raw)?)
}

#[tonic::async_trait]
impl ResourceService for ResourceApi {
    async fn create_resource(
        &self,
        request: Request<pb::CreateResourceRequest>,
    ) -> Result<Response<pb::Resource>, Status> {
        let actor = actor(&request)?;
        let body = request.get_ref();
        let mut violations = FieldViolations::default();
        violations.check("title", check_title(&body.title));
        if let Some(content) = &body.content {
            violations.check("content", check_content(content));
        }
        violations.finish().map_err(ResourceError::from)?;
        let created = ops::create(&self.state, actor, &body.title, body.content.as_deref()).await?;
        Ok(Response::new(convert::resource(created)))
    }

    async fn get_resource(&self, request: Request<pb::GetResourceRequest>) -> Result<Response<pb::Resource>, Status> {
        let actor = actor(&request)?;
        let resource = ops::get(&self.state, actor, id("id", request.get_ref().id)?).await?;
        Ok(Response::new(convert::resource(resource)))
    }

    async fn list_resources(
        &self,
        request: Request<pb::ListResourcesRequest>,
    ) -> Result<Response<pb::ListResourcesResponse>, Status> {
        let actor = actor(&request)?;
        let body = request.get_ref();
        let owners = match (body.all_owners, body.owner_id) {
            (true, _) => Owners::All,
            (false, 0) => Owners::Mine,
            (false, owner) => Owners::User(id("owner_id", owner)?),
        };
        let filter = ops::list_filter(actor, owners, body.show_deleted)?;
        let query =
            format!("resources|caller={}|owner={:?}|deleted={}", actor.user_id, filter.owner, filter.show_deleted);
        let page = PageRequest::parse(body.page_size, &body.page_token, &query)
            .map_err(|error| ResourceError::invalid(error.field, error.description))?;
        let page = ops::list(&self.state, filter, &page).await?;
        Ok(Response::new(pb::ListResourcesResponse {
            resources: page.items.into_iter().map(convert::resource).collect(),
            next_page_token: page.next_page_token,
        }))
    }

    async fn update_resource(
        &self,
        request: Request<pb::UpdateResourceRequest>,
    ) -> Result<Response<pb::Resource>, Status> {
        let actor = actor(&request)?;
        let body = request.get_ref();
        let Some(resource) = &body.resource else {
            return Err(ResourceError::invalid("resource", "is required").into());
        };
        let resource_id = id("resource.id", resource.id)?;
        let expected_version = match resource.etag.as_str() {
            "" => None,
            etag => Some(
                parse_etag(etag)
                    .ok_or_else(|| ResourceError::invalid("resource.etag", "is not an etag this service issued"))?,
            ),
        };
        let changes = parse_changes(resource, body.update_mask.as_ref())?;
        let updated = ops::update(&self.state, actor, resource_id, expected_version, &changes).await?;
        Ok(Response::new(convert::resource(updated)))
    }

    async fn delete_resource(
        &self,
        request: Request<pb::DeleteResourceRequest>,
    ) -> Result<Response<pb::Resource>, Status> {
        let actor = actor(&request)?;
        let deleted = ops::delete(&self.state, actor, id("id", request.get_ref().id)?).await?;
        Ok(Response::new(convert::resource(deleted)))
    }

    async fn undelete_resource(
        &self,
        request: Request<pb::UndeleteResourceRequest>,
    ) -> Result<Response<pb::Resource>, Status> {
        let actor = actor(&request)?;
        let restored = ops::undelete(&self.state, actor, id("id", request.get_ref().id)?).await?;
        Ok(Response::new(convert::resource(restored)))
    }
}

/// The changes an UpdateResource asks for (AIP-134): the masked fields, or without a mask the
/// populated ones.
fn parse_changes(
    resource: &pb::Resource,
    mask: Option<&prost_types::FieldMask>,
) -> Result<ResourceChanges, ResourceError> {
    let paths: Vec<&str> = match mask {
        Some(mask) if !mask.paths.is_empty() => mask.paths.iter().map(String::as_str).collect(),
        _ => {
            let populated = [("title", !resource.title.is_empty()), ("content", resource.content.is_some())];
            populated.iter().filter(|(_, set)| *set).map(|(path, _)| *path).collect()
        }
    };
    let mut violations = FieldViolations::default();
    let mut changes = ResourceChanges::default();
    for path in paths {
        match path {
            "title" => {
                if violations.check("resource.title", check_title(&resource.title)).is_some() {
                    changes.title = Some(resource.title.clone());
                }
            }
            "content" => {
                let content = resource.content.as_deref();
                if violations.check("resource.content", content.map_or(Ok(()), check_content)).is_some() {
                    changes.content = Some(content.map(str::to_owned));
                }
            }
            other => violations.add("update_mask", format!("unknown path {other:?}; allowed: title, content")),
        }
    }
    violations.finish()?;
    Ok(changes)
}
