//! `GET /api/notifications/admin?booking_id=|user_id=` (role `admin`): what was sent about a
//! booking, or to a user, newest first.

use super::{Inbox, limit};
use crate::store::{self, Lookup};
use actix_web::{HttpResponse, web};
use serde::Deserialize;
use serde_json::json;
use servicekit::ApiError;
use servicekit::auth::AuthUser;
use uuid::Uuid;

/// Kept as text so that a bad value is reported by name.
#[derive(Deserialize)]
pub struct LookupQuery {
    booking_id: Option<String>,
    user_id: Option<String>,
    limit: Option<String>,
}

fn parse_id(field: &str, raw: &str) -> Result<Uuid, ApiError> {
    Uuid::parse_str(raw.trim())
        .map_err(|_| ApiError::invalid_field(field, format!("{field} must be a UUID")))
}

/// Exactly one of `booking_id` and `user_id`.
fn lookup_of(query: &LookupQuery) -> Result<Lookup, ApiError> {
    match (query.booking_id.as_deref(), query.user_id.as_deref()) {
        (Some(booking), None) => Ok(Lookup::Booking(parse_id("booking_id", booking)?)),
        (None, Some(user)) => Ok(Lookup::User(parse_id("user_id", user)?)),
        _ => Err(ApiError::invalid_request(
            "give exactly one of booking_id and user_id",
        )),
    }
}

#[tracing::instrument(skip_all, fields(admin = %caller.id))]
pub async fn lookup(
    caller: AuthUser,
    inbox: web::Data<Inbox>,
    query: web::Query<LookupQuery>,
) -> Result<HttpResponse, ApiError> {
    caller.require_admin()?;
    let lookup = lookup_of(&query)?;
    let limit = limit(query.limit.as_deref())?;
    let db = inbox.db.get().await?;
    let notifications = store::lookup(&db, lookup, limit).await?;
    Ok(HttpResponse::Ok().json(json!({ "notifications": notifications })))
}

#[cfg(test)]
mod tests {
    use super::*;
    use servicekit::error::Code;

    fn query(booking_id: Option<&str>, user_id: Option<&str>) -> LookupQuery {
        LookupQuery {
            booking_id: booking_id.map(str::to_owned),
            user_id: user_id.map(str::to_owned),
            limit: None,
        }
    }

    #[test]
    fn exactly_one_uuid_is_looked_up() {
        let id = Uuid::now_v7();
        let text = id.to_string();
        assert_eq!(
            lookup_of(&query(Some(&text), None)).ok(),
            Some(Lookup::Booking(id))
        );
        assert_eq!(
            lookup_of(&query(None, Some(&text))).ok(),
            Some(Lookup::User(id))
        );
        for (bad, field) in [
            (query(None, None), None),
            (query(Some(&text), Some(&text)), None),
            (query(Some("7"), None), Some("booking_id")),
            (query(None, Some("")), Some("user_id")),
        ] {
            let e = lookup_of(&bad).err();
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
