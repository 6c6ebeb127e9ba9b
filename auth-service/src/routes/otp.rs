use crate::domain::Phone;
use crate::otp::Verdict;
use crate::state::AuthState;
use crate::throttle::account_subject;
use crate::users::{self, Login};
use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;
use serde_json::json;
use servicekit::ApiError;
use servicekit::amqp::Envelope;
use servicekit::error::Code;
use servicekit::events::{self, OtpRequested};
use servicekit::http::{JsonBody, RequestId};

#[derive(Deserialize, utoipa::ToSchema)]
pub struct OtpRequest {
    #[schema(pattern = r"^\+[1-9][0-9]{7,14}$", example = "+8801712345678")]
    phone: String,
}

fn parse_phone(raw: &str) -> Result<Phone, ApiError> {
    Phone::parse(raw).map_err(|m| ApiError::invalid_field("phone", m))
}

/// Sends a code to a phone with an account; any phone gets the same 202.
#[tracing::instrument(skip_all)]
pub async fn request(
    state: web::Data<AuthState>,
    request_id: RequestId,
    req: HttpRequest,
    JsonBody(body): JsonBody<OtpRequest>,
) -> Result<HttpResponse, ApiError> {
    let phone = parse_phone(&body.phone)?;
    state
        .otp
        .check_request_limit(phone.as_str(), &super::source_address(&req))
        .await
        .inspect_err(|_| state.metrics.otp("rejected"))?;
    let expires_in = state.otp.ttl_secs();
    let mut answer = json!({ "expires_in": expires_in });
    let account =
        users::find_by_login(&*state.db.get().await?, &Login::Phone(phone.clone())).await?;
    if let Some(account) = account {
        let code = state.otp.issue(phone.as_str()).await?;
        let event = Envelope::new(
            events::OTP_REQUESTED,
            &OtpRequested {
                user_id: account.user.id,
                name: account.user.name.clone(),
                phone: phone.as_str().to_owned(),
                code: code.clone(),
                expires_in,
            },
        )
        .map_err(ApiError::internal)?;
        if let Err(e) = state.broker.publish(&event, Some(&request_id.0)).await {
            // Undeliverable: withdraw the code so that no unknown code stays valid.
            state.otp.withdraw(phone.as_str()).await?;
            return Err(e.into());
        }
        state.metrics.otp("issued");
        if state.otp_dev_echo {
            answer["dev_code"] = code.into();
        }
    }
    Ok(HttpResponse::Accepted().json(answer))
}

#[derive(Deserialize, utoipa::ToSchema)]
pub struct OtpVerify {
    #[schema(pattern = r"^\+[1-9][0-9]{7,14}$", example = "+8801712345678")]
    phone: String,
    #[schema(pattern = r"^[0-9]{6}$", example = "123456")]
    code: String,
}

fn invalid_otp() -> ApiError {
    ApiError::new(Code::InvalidOtp, "the code is wrong or has expired")
}

#[tracing::instrument(skip_all)]
pub async fn verify(
    state: web::Data<AuthState>,
    req: HttpRequest,
    JsonBody(body): JsonBody<OtpVerify>,
) -> Result<HttpResponse, ApiError> {
    let phone = parse_phone(&body.phone)?;
    let code = body.code.trim();
    if code.len() != 6 || !code.bytes().all(|b| b.is_ascii_digit()) {
        return Err(ApiError::invalid_field("code", "the code is 6 digits"));
    }
    match state.otp.verify(phone.as_str(), code).await? {
        Verdict::Locked => {
            state.metrics.otp("rejected");
            state.metrics.login("otp", "throttled");
            Err(ApiError::new(
                Code::TooManyAttempts,
                "too many wrong codes for this phone's code; request a new code",
            )
            .with_retry_after(state.otp.ttl_secs()))
        }
        Verdict::Invalid => {
            state.metrics.otp("failed");
            state.metrics.login("otp", "failure");
            Err(invalid_otp())
        }
        Verdict::Valid => {
            let db = state.db.get().await?;
            let account = users::find_by_login(&db, &Login::Phone(phone))
                .await?
                .ok_or_else(invalid_otp)?;
            // The code reached this phone: it is verified from now on.
            let account = if account.user.phone_verified {
                account
            } else {
                users::mark_phone_verified(&db, account.user.id)
                    .await?
                    .ok_or_else(invalid_otp)?
            };
            drop(db);
            let (user, verified) = (account.user.id, account.user.verified());
            // The owner logged in from here: the address is a known one for password logins.
            state
                .throttle
                .remember(&account_subject(user), &super::source_address(&req))
                .await?;
            let tokens = state.login_tokens(user, account.roles, verified).await?;
            state.metrics.login("otp", "success");
            Ok(super::tokens_answer(&tokens))
        }
    }
}
