//! `PUT /api/auth/users/{user_id}/roles`: an admin grants and takes back roles.

use crate::state::AuthState;
use crate::users::{self, RolesChange};
use actix_web::{HttpResponse, web};
use serde::Deserialize;
use serde_json::json;
use servicekit::ApiError;
use servicekit::auth::{AuthUser, Role, Roles};
use servicekit::error::Code;
use servicekit::http::JsonBody;
use uuid::Uuid;

#[derive(Deserialize, utoipa::ToSchema)]
pub struct RolesRequest {
    /// Every role the account is to have: `conductor`, `admin`; `passenger` is everyone's
    /// (accepted and implied). Roles left out are taken away.
    #[schema(value_type = Vec<Role>, example = json!(["conductor"]))]
    roles: Vec<String>,
}

/// The set `names` asks for; 400 naming the first name that is not a role.
fn requested(names: &[String]) -> Result<Roles, ApiError> {
    names.iter().try_fold(Roles::PASSENGER, |set, name| {
        Role::parse(name).map(|r| set.with(r)).ok_or_else(|| {
            ApiError::invalid_field(
                "roles",
                format!("{name:?} is not a role (passenger, conductor, admin)"),
            )
        })
    })
}

/// Sets the account's roles. The change shows in the user's tokens from the next sign-in or
/// refresh (refresh reads the roles from the database); access tokens already issued keep
/// what they claim until they expire (docs/architecture.md, "Roles"). Here, though, the
/// caller's admin role is also read from the database: an admin whose role was taken away
/// cannot change roles with a token issued before.
#[tracing::instrument(skip_all, fields(admin = %caller.id))]
pub async fn set(
    state: web::Data<AuthState>,
    caller: AuthUser,
    path: web::Path<Uuid>,
    JsonBody(body): JsonBody<RolesRequest>,
) -> Result<HttpResponse, ApiError> {
    caller.require_admin()?;
    state.revocations.check(&caller).await?;
    let roles = requested(&body.roles)?;
    let user = path.into_inner();
    let mut db = state.db.get().await?;
    let caller_now = users::current_roles(&db, caller.id).await?;
    if !caller_now.is_some_and(|r| r.contains(Role::Admin)) {
        return Err(ApiError::forbidden());
    }
    match users::set_roles(&mut db, user, roles).await? {
        RolesChange::Set { account, before } => {
            if before != roles {
                tracing::info!(%user, ?before, after = ?roles, "roles changed");
            }
            Ok(HttpResponse::Ok().json(json!({ "user": account.user })))
        }
        RolesChange::NoAccount => Err(ApiError::not_found("no such user")),
        RolesChange::LastAdmin => Err(ApiError::new(
            Code::LastAdmin,
            "this is the only admin: make another admin before taking the role away",
        )),
    }
}
