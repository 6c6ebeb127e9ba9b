use crate::domain::{Email, Password, PersonName, Phone};
use crate::state::AuthState;
use crate::users::{self, NewUser};
use actix_web::{HttpResponse, web};
use secrecy::SecretString;
use serde::Deserialize;
use serde_json::json;
use servicekit::ApiError;
use servicekit::amqp::Envelope;
use servicekit::error::Code;
use servicekit::events::{self, UserRegistered};
use servicekit::http::{JsonBody, RequestId};
use servicekit::outbox;

#[derive(Deserialize, utoipa::ToSchema)]
pub struct RegisterRequest {
    #[schema(
        min_length = 1,
        max_length = 100,
        pattern = r"^[^\x00-\x1f\x7f-\x9f]+$",
        example = "Rahim Uddin"
    )]
    name: String,
    #[schema(format = Email, max_length = 254, example = "rahim@example.com")]
    email: String,
    /// E.164, like `+8801712345678`.
    #[schema(pattern = r"^\+[1-9][0-9]{7,14}$", example = "+8801712345678")]
    phone: String,
    /// 8 to 128 characters ([`crate::domain::Password`]).
    #[schema(value_type = String, min_length = 8, max_length = 128)]
    password: SecretString,
}

/// Creates the user and, in the same transaction, the `user.registered` event in the outbox.
#[tracing::instrument(skip_all)]
pub async fn register(
    state: web::Data<AuthState>,
    request_id: RequestId,
    JsonBody(body): JsonBody<RegisterRequest>,
) -> Result<HttpResponse, ApiError> {
    let name = PersonName::parse(&body.name).map_err(|m| ApiError::invalid_field("name", m))?;
    let email = Email::parse(&body.email).map_err(|m| ApiError::invalid_field("email", m))?;
    let phone = Phone::parse(&body.phone).map_err(|m| ApiError::invalid_field("phone", m))?;
    let password =
        Password::parse(body.password).map_err(|m| ApiError::invalid_field("password", m))?;
    let hash = state.hasher.hash(password.secret().clone()).await?;
    let mut db = state.db.get().await?;
    let tx = db.transaction().await?;
    let user = users::insert(
        &tx,
        NewUser {
            name: &name,
            email: &email,
            phone: &phone,
            password_hash: &hash,
        },
    )
    .await?
    .ok_or_else(|| {
        ApiError::new(
            Code::AlreadyRegistered,
            "an account with this e-mail or phone already exists",
        )
    })?;
    let event = Envelope::new(
        events::USER_REGISTERED,
        &UserRegistered {
            user_id: user.id,
            name: user.name.clone(),
            email: user.email.clone(),
            phone: phone.as_str().to_owned(),
        },
    )
    .map_err(ApiError::internal)?;
    outbox::enqueue(&tx, &event, Some(&request_id.0)).await?;
    tx.commit().await?;
    state.outbox.wake();
    tracing::info!(user = %user.id, "registered");
    Ok(HttpResponse::Created().json(json!({ "user": user })))
}
