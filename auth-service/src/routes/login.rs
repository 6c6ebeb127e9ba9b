use crate::domain::{Email, Phone};
use crate::state::AuthState;
use crate::throttle::account_subject;
use crate::users::{self, Login};
use actix_web::{HttpRequest, HttpResponse, web};
use secrecy::SecretString;
use serde::Deserialize;
use servicekit::ApiError;
use servicekit::error::Code;
use servicekit::http::JsonBody;

#[derive(Deserialize, utoipa::ToSchema)]
pub struct LoginRequest {
    /// E-mail address or E.164 phone number.
    #[schema(min_length = 1, example = "rahim@example.com")]
    login: String,
    #[schema(value_type = String, min_length = 1)]
    password: SecretString,
}

fn invalid_credentials() -> ApiError {
    ApiError::new(
        Code::InvalidCredentials,
        "the login or the password is wrong",
    )
}

/// Password login. Unknown accounts and wrong passwords take the same time and get the
/// same answer. Throttled per (account, source address) and, for addresses the account has
/// not logged in from, per account with a back-off (`crate::throttle`).
#[tracing::instrument(skip_all)]
pub async fn login(
    state: web::Data<AuthState>,
    req: HttpRequest,
    JsonBody(body): JsonBody<LoginRequest>,
) -> Result<HttpResponse, ApiError> {
    let source = super::source_address(&req);
    let raw = body.login.trim();
    if raw.is_empty() || raw.len() > 254 {
        return Err(ApiError::invalid_field(
            "login",
            "give your e-mail address or phone number",
        ));
    }
    // A malformed identifier cannot match an account: treat it like an unknown one.
    let login = if raw.starts_with('+') {
        Phone::parse(raw).ok().map(Login::Phone)
    } else {
        Email::parse(raw).ok().map(Login::Email)
    };
    let account = match &login {
        Some(login) => users::find_by_login(&*state.db.get().await?, login).await?,
        None => None,
    };
    // Per account when it exists (e-mail and phone share one count), else per identifier.
    let subject = match &account {
        Some(a) => account_subject(a.user.id),
        None => format!("login:{}", raw.to_lowercase()),
    };
    let login_outcome = |outcome: &str| state.metrics.login("password", outcome);
    // The attempt is counted before the password is checked, so parallel wrong passwords
    // cannot all pass the check before the first failure is recorded.
    let reservation = state
        .throttle
        .reserve(&subject, &source)
        .await
        .inspect_err(|_| login_outcome("throttled"))?;
    let hash = account.as_ref().map(|a| a.password_hash.clone());
    let verified = match state.hasher.verify(body.password, hash).await {
        Ok(verified) => verified,
        Err(e) => {
            // Nothing was decided: give the attempt back.
            state.throttle.release(reservation).await?;
            return Err(e.into());
        }
    };
    if !verified {
        // The attempt stays counted as a failure.
        login_outcome("failure");
        return Err(invalid_credentials());
    }
    let Some(account) = account else {
        login_outcome("failure");
        return Err(invalid_credentials());
    };
    state.throttle.succeeded(reservation).await?;
    let tokens = state
        .login_tokens(account.user.id, account.roles, account.user.verified())
        .await?;
    login_outcome("success");
    Ok(super::tokens_answer(&tokens))
}
