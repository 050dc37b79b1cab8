//! `auth.v1.UserService`.

use std::sync::Arc;

use api_client::auth::v1 as pb;
use api_client::auth::v1::user_service_server::UserService;
use shared::pagination::PageRequest;
use tonic::{Request, Response, Status};

use super::{convert, metadata};
use crate::domain::{DisplayName, FieldViolations, SessionId, UserId};
use crate::error::AuthError;
use crate::ops::{Caller, accounts, admin, sessions};
use crate::state::AppState;
use crate::store::users::{UserChanges, UserFilter};

/// The UserService implementation.
pub struct UserApi {
    state: Arc<AppState>,
}

impl UserApi {
    /// Serves with this state.
    pub fn new(state: Arc<AppState>) -> Self {
        Self { state }
    }

    async fn caller<T>(&self, request: &Request<T>) -> Result<Caller, AuthError> {
        sessions::authenticate(&self.state, metadata::bearer_token(request)?).await
    }

    async fn admin<T>(&self, request: &Request<T>) -> Result<Caller, AuthError> {
        let caller = self.caller(request).await?;
        caller.require_admin()?;
        Ok(caller)
    }
}

fn user_id(raw: i64) -> Result<i32, AuthError> {
    UserId::parse(raw).map(|id| id.0).map_err(|description| AuthError::invalid("user_id", description))
}

fn sessions_response(rows: &[shared::models::Session], current: Option<i32>) -> Vec<pb::Session> {
    rows.iter().map(|session| convert::session(session, current)).collect()
}

#[tonic::async_trait]
impl UserService for UserApi {
    async fn get_me(&self, request: Request<pb::GetMeRequest>) -> Result<Response<pb::User>, Status> {
        let caller = self.caller(&request).await?;
        Ok(Response::new(convert::user(&caller.user)))
    }

    async fn update_me(&self, request: Request<pb::UpdateMeRequest>) -> Result<Response<pb::User>, Status> {
        let caller = self.caller(&request).await?;
        let user = accounts::update_name(&self.state, &caller, &request.get_ref().name).await?;
        Ok(Response::new(convert::user(&user)))
    }

    async fn change_password(
        &self,
        request: Request<pb::ChangePasswordRequest>,
    ) -> Result<Response<pb::ChangePasswordResponse>, Status> {
        let caller = self.caller(&request).await?;
        let body = request.get_ref();
        let revoked =
            accounts::change_password(&self.state, &caller, &body.current_password, &body.new_password).await?;
        tracing::info!(user.id = caller.user.id, revoked_sessions = revoked, "password changed");
        Ok(Response::new(pb::ChangePasswordResponse { revoked_session_count: convert::count(revoked) }))
    }

    async fn list_sessions(
        &self,
        request: Request<pb::ListSessionsRequest>,
    ) -> Result<Response<pb::ListSessionsResponse>, Status> {
        let caller = self.caller(&request).await?;
        let rows = sessions::list_own(&self.state, &caller).await?;
        Ok(Response::new(pb::ListSessionsResponse { sessions: sessions_response(&rows, Some(caller.session_id)) }))
    }

    async fn revoke_session(
        &self,
        request: Request<pb::RevokeSessionRequest>,
    ) -> Result<Response<pb::RevokeSessionResponse>, Status> {
        let caller = self.caller(&request).await?;
        let session_id = SessionId::parse(request.get_ref().session_id)
            .map_err(|description| AuthError::invalid("session_id", description))?;
        sessions::revoke_own(&self.state, &caller, session_id.0).await?;
        Ok(Response::new(pb::RevokeSessionResponse {}))
    }

    async fn revoke_sessions(
        &self,
        request: Request<pb::RevokeSessionsRequest>,
    ) -> Result<Response<pb::RevokeSessionsResponse>, Status> {
        let caller = self.caller(&request).await?;
        let include_current = match pb::RevokeScope::try_from(request.get_ref().scope) {
            Ok(pb::RevokeScope::Others) => false,
            Ok(pb::RevokeScope::All) => true,
            _ => return Err(AuthError::invalid("scope", "must be REVOKE_SCOPE_OTHERS or REVOKE_SCOPE_ALL").into()),
        };
        let revoked = sessions::revoke_own_many(&self.state, &caller, include_current).await?;
        Ok(Response::new(pb::RevokeSessionsResponse { revoked_session_count: convert::count(revoked) }))
    }

    async fn list_users(
        &self,
        request: Request<pb::ListUsersRequest>,
    ) -> Result<Response<pb::ListUsersResponse>, Status> {
        self.admin(&request).await?;
        let body = request.get_ref();
        let mut violations = FieldViolations::default();
        let role = violations.check("role", convert::parse_role(body.role)).flatten();
        let email_contains = Some(body.email_contains.trim().to_lowercase()).filter(|text| !text.is_empty());
        let filter =
            UserFilter { role: role.map(|role| role.as_str().to_owned()), is_active: body.is_active, email_contains };
        let query =
            format!("users|role={:?}|active={:?}|email={:?}", filter.role, filter.is_active, filter.email_contains);
        let page = match PageRequest::parse(body.page_size, &body.page_token, &query) {
            Ok(page) => Some(page),
            Err(error) => {
                violations.add(error.field, error.description);
                None
            }
        };
        violations.finish().map_err(AuthError::from)?;
        let Some(page) = page else { unreachable!("finish() returned Ok") };
        let page = admin::list_users(&self.state, &filter, &page).await?;
        Ok(Response::new(pb::ListUsersResponse {
            users: page.items.iter().map(convert::user).collect(),
            next_page_token: page.next_page_token,
        }))
    }

    async fn get_user(&self, request: Request<pb::GetUserRequest>) -> Result<Response<pb::User>, Status> {
        self.admin(&request).await?;
        let user = admin::get_user(&self.state, user_id(request.get_ref().user_id)?).await?;
        Ok(Response::new(convert::user(&user)))
    }

    async fn update_user(&self, request: Request<pb::UpdateUserRequest>) -> Result<Response<pb::User>, Status> {
        let caller = self.admin(&request).await?;
        let body = request.get_ref();
        let Some(user) = &body.user else {
            return Err(AuthError::invalid("user", "is required").into());
        };
        let id = UserId::parse(user.id).map_err(|description| AuthError::invalid("user.id", description))?;
        let changes = parse_user_changes(user, body.update_mask.as_ref())?;
        let updated = admin::update_user(&self.state, &caller, id.0, &changes).await?;
        tracing::info!(user.id = updated.id, admin.id = caller.user.id, "user updated by an admin");
        Ok(Response::new(convert::user(&updated)))
    }

    async fn delete_user(
        &self,
        request: Request<pb::DeleteUserRequest>,
    ) -> Result<Response<pb::DeleteUserResponse>, Status> {
        let caller = self.admin(&request).await?;
        let id = user_id(request.get_ref().user_id)?;
        admin::delete_user(&self.state, &caller, id).await?;
        tracing::info!(user.id = id, admin.id = caller.user.id, "user deleted by an admin");
        Ok(Response::new(pb::DeleteUserResponse {}))
    }

    async fn list_user_sessions(
        &self,
        request: Request<pb::ListUserSessionsRequest>,
    ) -> Result<Response<pb::ListUserSessionsResponse>, Status> {
        let caller = self.admin(&request).await?;
        let rows = admin::list_user_sessions(&self.state, user_id(request.get_ref().user_id)?).await?;
        Ok(Response::new(pb::ListUserSessionsResponse { sessions: sessions_response(&rows, Some(caller.session_id)) }))
    }

    async fn revoke_user_sessions(
        &self,
        request: Request<pb::RevokeUserSessionsRequest>,
    ) -> Result<Response<pb::RevokeUserSessionsResponse>, Status> {
        self.admin(&request).await?;
        let revoked = admin::revoke_user_sessions(&self.state, user_id(request.get_ref().user_id)?).await?;
        Ok(Response::new(pb::RevokeUserSessionsResponse { revoked_session_count: convert::count(revoked) }))
    }
}

/// The changes an UpdateUser request asks for (AIP-134): the masked fields, or, without a mask,
/// the populated ones.
fn parse_user_changes(user: &pb::User, mask: Option<&prost_types::FieldMask>) -> Result<UserChanges, AuthError> {
    let paths: Vec<String> = match mask {
        Some(mask) if !mask.paths.is_empty() => mask.paths.clone(),
        _ => {
            let populated = [
                ("name", !user.name.is_empty()),
                ("role", user.role != 0),
                ("is_active", user.is_active),
                ("is_verified", user.is_verified),
            ];
            populated.iter().filter(|(_, set)| *set).map(|(path, _)| (*path).to_owned()).collect()
        }
    };
    let mut violations = FieldViolations::default();
    let mut changes = UserChanges::default();
    for path in &paths {
        match path.as_str() {
            "name" => {
                changes.name =
                    violations.check("user.name", DisplayName::parse(&user.name)).map(|name| name.as_str().to_owned());
            }
            "role" => match convert::parse_role(user.role) {
                Ok(Some(role)) => changes.role = Some(role.as_str().to_owned()),
                Ok(None) => violations.add("user.role", "must be ROLE_ADMIN, ROLE_USER or ROLE_GUEST"),
                Err(description) => violations.add("user.role", description),
            },
            "is_active" => changes.is_active = Some(user.is_active),
            "is_verified" => changes.is_verified = Some(user.is_verified),
            other => violations
                .add("update_mask", format!("unknown path {other:?}; allowed: name, role, is_active, is_verified")),
        }
    }
    violations.finish()?;
    Ok(changes)
}
