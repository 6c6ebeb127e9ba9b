use crate::domain::Nid;
use crate::state::AuthState;
use crate::users::{self, NidClaim};
use actix_web::{HttpResponse, web};
use serde::Deserialize;
use serde_json::json;
use servicekit::ApiError;
use servicekit::auth::AuthUser;
use servicekit::error::Code;
use servicekit::http::JsonBody;

#[derive(Deserialize, utoipa::ToSchema)]
pub struct NidRequest {
    /// 10 or 17 digits.
    #[schema(pattern = r"^([0-9]{10}|[0-9]{17})$", example = "1234567890")]
    nid: String,
}

/// Verifies an NID and binds it to the caller's account: one account per citizen. The
/// number is checked by the verifier, then stored only as a keyed hash (unique: parallel
/// claims of one NID leave exactly one winner) and a masked form.
#[tracing::instrument(skip_all, fields(user = %caller.id))]
pub async fn verify(
    state: web::Data<AuthState>,
    caller: AuthUser,
    JsonBody(body): JsonBody<NidRequest>,
) -> Result<HttpResponse, ApiError> {
    state.revocations.check(&caller).await?;
    let nid = Nid::parse(&body.nid).map_err(|m| ApiError::invalid_field("nid", m))?;
    state
        .nid_verifier
        .verify(&nid)
        .await
        .inspect_err(|e| tracing::info!(error = %e, "an NID was not verified"))?;
    let hash = state.nid_key.hash(&nid).map_err(ApiError::internal)?;
    let claim = users::claim_nid(&*state.db.get().await?, caller.id, &hash, &nid.masked()).await?;
    match claim {
        NidClaim::Stored(account) => Ok(HttpResponse::Ok().json(json!({ "user": account.user }))),
        NidClaim::HeldByAnother => Err(ApiError::new(
            Code::NidInUse,
            "this NID is verified on another account",
        )),
        NidClaim::OtherNidHeld => Err(ApiError::new(
            Code::NidAlreadyVerified,
            "your account has another NID verified; it cannot be replaced",
        )),
        NidClaim::NoAccount => Err(ApiError::unauthorized("the account no longer exists")),
    }
}
