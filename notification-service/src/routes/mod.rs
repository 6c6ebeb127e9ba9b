//! `GET /api/notifications`: the caller's inbox, newest first; and the railway's calls
//! (role `admin`): a booking's or a user's notifications ([`admin`]) and the parked messages
//! of the consumers (`servicekit::parked::routes`).

mod admin;

use crate::store;
use actix_web::{HttpResponse, web};
use serde::Deserialize;
use serde_json::json;
use servicekit::ApiError;
use servicekit::auth::AuthUser;
use servicekit::db::PgPool;
use servicekit::error::Code;
use servicekit::openapi::{Api, array, schema, uuid, wrapped};

const DEFAULT_LIMIT: i64 = 50;
const MAX_LIMIT: i64 = 200;

/// What the inbox handler needs.
pub struct Inbox {
    pub db: PgPool,
}

/// The route of notification-service, registered once for actix and the OpenAPI document.
pub fn api() -> Api {
    let mut api = Api::new("notification-service", "/api/notifications");
    api.get("", list)
        .summary("The caller's inbox, newest first")
        .auth()
        .query(
            "limit",
            false,
            json!({ "type": "integer", "minimum": 1, "maximum": MAX_LIMIT }),
            "At most this many (default 50)",
        )
        .answers(
            200,
            "The notifications",
            Some(wrapped("notifications", array(json!({ "type": "object" })))),
        );
    api.get("/admin", admin::lookup)
        .summary("The notifications of a booking or of a user, newest first (admin)")
        .description(
            "Exactly one of `booking_id` and `user_id`. Each notification has the inbox's \
             fields plus `user_id` and `booking_id` (null for one about no booking, an OTP).",
        )
        .auth()
        .query(
            "booking_id",
            false,
            uuid(),
            "The booking the notifications are about",
        )
        .query("user_id", false, uuid(), "The user they were sent to")
        .query(
            "limit",
            false,
            json!({ "type": "integer", "minimum": 1, "maximum": MAX_LIMIT }),
            "At most this many (default 50)",
        )
        .answers(
            200,
            "The notifications",
            Some(wrapped(
                "notifications",
                array(schema::<store::LoggedNotification>()),
            )),
        )
        .errors(&[Code::Forbidden]);
    servicekit::parked::routes(&mut api, "/api/notifications");
    api
}

/// Kept as text so that a bad value is reported by name.
#[derive(Deserialize)]
pub struct ListQuery {
    limit: Option<String>,
}

pub(crate) fn limit(raw: Option<&str>) -> Result<i64, ApiError> {
    let Some(raw) = raw else {
        return Ok(DEFAULT_LIMIT);
    };
    raw.trim()
        .parse::<i64>()
        .ok()
        .filter(|n| (1..=MAX_LIMIT).contains(n))
        .ok_or_else(|| {
            ApiError::invalid_field(
                "limit",
                format!("limit must be a whole number from 1 to {MAX_LIMIT}"),
            )
        })
}

#[tracing::instrument(skip_all, fields(user = %user.id))]
pub async fn list(
    user: AuthUser,
    inbox: web::Data<Inbox>,
    query: web::Query<ListQuery>,
) -> Result<HttpResponse, ApiError> {
    let limit = limit(query.limit.as_deref())?;
    let db = inbox.db.get().await?;
    let notifications = store::inbox(&db, user.id, limit).await?;
    Ok(HttpResponse::Ok().json(json!({ "notifications": notifications })))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limit_defaults_to_50_and_accepts_1_to_200() {
        assert_eq!(limit(None).ok(), Some(50));
        assert_eq!(limit(Some("1")).ok(), Some(1));
        assert_eq!(limit(Some("200")).ok(), Some(200));
        for bad in ["0", "201", "-3", "ten", "", "1.5"] {
            assert!(limit(Some(bad)).is_err(), "{bad}");
        }
    }
}
