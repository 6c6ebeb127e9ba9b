use crate::domain::{Email, Password, PersonName, Phone};
use crate::state::AuthState;
use crate::users::{self, NewUser};
use actix_web::{HttpResponse, web};
use secrecy::SecretString;
use serde::Deserialize;
use serde_json::json;
use servicekit::ApiError;
use servicekit::http::JsonBody;

#[derive(Deserialize)]
pub struct RegisterRequest {
    name: String,
    email: String,
    phone: String,
    password: SecretString,
}

#[tracing::instrument(skip_all)]
pub async fn register(
    state: web::Data<AuthState>,
    JsonBody(body): JsonBody<RegisterRequest>,
) -> Result<HttpResponse, ApiError> {
    let name = PersonName::parse(&body.name).map_err(|m| ApiError::invalid_field("name", m))?;
    let email = Email::parse(&body.email).map_err(|m| ApiError::invalid_field("email", m))?;
    let phone = Phone::parse(&body.phone).map_err(|m| ApiError::invalid_field("phone", m))?;
    let password =
        Password::parse(body.password).map_err(|m| ApiError::invalid_field("password", m))?;
    let hash = state.hasher.hash(password.secret().clone()).await?;
    let db = state.db.get().await?;
    let user = users::insert(
        &db,
        NewUser {
            name: &name,
            email: &email,
            phone: &phone,
            password_hash: &hash,
        },
    )
    .await?;
    tracing::info!(user = %user.id, "registered");
    Ok(HttpResponse::Created().json(json!({ "user": user })))
}
