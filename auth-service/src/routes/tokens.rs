use crate::refresh::{self, Rotation};
use crate::state::AuthState;
use crate::users;
use actix_web::{HttpResponse, web};
use serde::Deserialize;
use serde_json::json;
use servicekit::ApiError;
use servicekit::auth::AuthUser;
use servicekit::http::JsonBody;

#[derive(Deserialize, utoipa::ToSchema)]
pub struct RefreshRequest {
    #[schema(min_length = 1, max_length = 512)]
    refresh_token: String,
}

fn checked(token: &str) -> Result<&str, ApiError> {
    let token = token.trim();
    if token.is_empty() || token.len() > 512 {
        return Err(ApiError::invalid_field(
            "refresh_token",
            "the refresh token is missing or malformed",
        ));
    }
    Ok(token)
}

#[tracing::instrument(skip_all)]
pub async fn refresh(
    state: web::Data<AuthState>,
    JsonBody(body): JsonBody<RefreshRequest>,
) -> Result<HttpResponse, ApiError> {
    let token = checked(&body.refresh_token)?;
    let mut db = state.db.get().await?;
    let refused = || ApiError::unauthorized("the refresh token is invalid, expired or revoked");
    let (user, family, next) = match refresh::rotate(&mut db, token, state.refresh_ttl_days).await?
    {
        Rotation::Rotated { user, family, next } => (user, family, next),
        Rotation::Refused => return Err(refused()),
        Rotation::Reused { family } => {
            // Someone holds a copy: the session's access tokens stop working too.
            state.revocations.revoke(family).await?;
            return Err(refused());
        }
    };
    let account = users::find_by_id(&db, user)
        .await?
        .ok_or_else(|| ApiError::unauthorized("the account no longer exists"))?;
    Ok(super::tokens_answer(&state.tokens(
        user,
        account.roles,
        account.user.verified(),
        family,
        next,
    )?))
}

#[tracing::instrument(skip_all)]
pub async fn logout(
    state: web::Data<AuthState>,
    JsonBody(body): JsonBody<RefreshRequest>,
) -> Result<HttpResponse, ApiError> {
    let token = checked(&body.refresh_token)?;
    if let Some(family) = refresh::revoke_family(&*state.db.get().await?, token).await? {
        // The session's access tokens end now too, not at their `exp`.
        state.revocations.revoke(family).await?;
    }
    Ok(HttpResponse::NoContent().finish())
}

pub async fn me(state: web::Data<AuthState>, caller: AuthUser) -> Result<HttpResponse, ApiError> {
    state.revocations.check(&caller).await?;
    let account = users::find_by_id(&*state.db.get().await?, caller.id)
        .await?
        .ok_or_else(|| ApiError::unauthorized("the account no longer exists"))?;
    Ok(HttpResponse::Ok().json(json!({ "user": account.user })))
}
