//! `GET /api/auth/admin/users?phone=|email=|user_id=` (role `admin`): the account a passenger
//! names at the counter, as `GET /api/auth/me` shows it to its owner.

use crate::domain::{Email, Phone};
use crate::state::AuthState;
use crate::users::{self, Login};
use actix_web::{HttpResponse, web};
use serde::Deserialize;
use serde_json::json;
use servicekit::ApiError;
use servicekit::auth::AuthUser;
use uuid::Uuid;

/// Kept as text so that a bad value is reported by name.
#[derive(Deserialize)]
pub struct UsersQuery {
    phone: Option<String>,
    email: Option<String>,
    user_id: Option<String>,
}

/// What a lookup looks for.
#[derive(Debug, PartialEq, Eq)]
enum Wanted {
    Phone(Phone),
    Email(Email),
    Id(Uuid),
}

/// Exactly one parameter. The phone's `+` may come encoded (`%2B`), as a space (a `+` a
/// query decodes) or not at all.
fn wanted(query: &UsersQuery) -> Result<Wanted, ApiError> {
    match (
        query.phone.as_deref(),
        query.email.as_deref(),
        query.user_id.as_deref(),
    ) {
        (Some(phone), None, None) => {
            let digits = phone.trim().trim_start_matches('+');
            Phone::parse(&format!("+{digits}"))
                .map(Wanted::Phone)
                .map_err(|m| ApiError::invalid_field("phone", m))
        }
        (None, Some(email), None) => Email::parse(email)
            .map(Wanted::Email)
            .map_err(|m| ApiError::invalid_field("email", m)),
        (None, None, Some(id)) => Uuid::parse_str(id.trim())
            .map(Wanted::Id)
            .map_err(|_| ApiError::invalid_field("user_id", "user_id must be a UUID")),
        _ => Err(ApiError::invalid_request(
            "give exactly one of phone, email and user_id",
        )),
    }
}

/// `{"users": [User]}`: the one account found, or none.
#[tracing::instrument(skip_all, fields(admin = %caller.id))]
pub async fn users(
    state: web::Data<AuthState>,
    caller: AuthUser,
    query: web::Query<UsersQuery>,
) -> Result<HttpResponse, ApiError> {
    caller.require_admin()?;
    state.revocations.check(&caller).await?;
    let wanted = wanted(&query)?;
    let db = state.db.get().await?;
    let found = match wanted {
        Wanted::Id(id) => users::find_by_id(&db, id).await?,
        Wanted::Phone(phone) => users::find_by_login(&db, &Login::Phone(phone)).await?,
        Wanted::Email(email) => users::find_by_login(&db, &Login::Email(email)).await?,
    };
    let users: Vec<_> = found.into_iter().map(|account| account.user).collect();
    Ok(HttpResponse::Ok().json(json!({ "users": users })))
}

#[cfg(test)]
mod tests {
    use super::*;
    use servicekit::error::Code;

    fn query(phone: Option<&str>, email: Option<&str>, user_id: Option<&str>) -> UsersQuery {
        UsersQuery {
            phone: phone.map(str::to_owned),
            email: email.map(str::to_owned),
            user_id: user_id.map(str::to_owned),
        }
    }

    #[test]
    fn exactly_one_valid_parameter_is_looked_up() {
        for phone in ["+8801712345678", " 8801712345678", "8801712345678"] {
            assert_eq!(
                wanted(&query(Some(phone), None, None)).ok(),
                Phone::parse("+8801712345678").ok().map(Wanted::Phone),
                "{phone:?}"
            );
        }
        assert_eq!(
            wanted(&query(None, Some(" Rahim@Example.COM"), None)).ok(),
            Email::parse("rahim@example.com").ok().map(Wanted::Email)
        );
        let id = Uuid::now_v7();
        assert_eq!(
            wanted(&query(None, None, Some(&id.to_string()))).ok(),
            Some(Wanted::Id(id))
        );
        for (bad, field) in [
            (query(None, None, None), None),
            (query(Some("+8801712345678"), Some("a@b.cd"), None), None),
            (query(Some("12"), None, None), Some("phone")),
            (query(None, Some("nope"), None), Some("email")),
            (query(None, None, Some("42")), Some("user_id")),
        ] {
            let e = wanted(&bad).err();
            assert_eq!(e.as_ref().map(ApiError::code), Some(Code::InvalidRequest));
            let named = e
                .as_ref()
                .and_then(|e| e.details())
                .and_then(|d| d.get("field"))
                .and_then(|f| f.as_str());
            assert_eq!(named, field);
        }
    }
}
