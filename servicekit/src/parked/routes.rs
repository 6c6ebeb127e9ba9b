//! The parked messages over HTTP (role `admin`), the same three calls in every service that
//! consumes: [`routes`] registers them under the service's prefix, and the handlers use the
//! [`Parked`] the kernel registers as app data for the queues the service consumes
//! ([`crate::service::Kernel::consume`]).
//!
//! - `GET <prefix>/admin/parked`: every queue's count and its first [`LIST_LIMIT`] messages
//!   (a queue the broker does not have yet counts 0);
//! - `POST <prefix>/admin/parked/{queue}/replay` `{"message_ids": [..]}` or `{"all": true}`:
//!   `{"replayed": n}`;
//! - `POST <prefix>/admin/parked/{queue}/drop`, the same body: `{"dropped": n}`.
//!
//! A queue that is not the service's is 404 `not_found` (`details.queues` names its queues);
//! ids that are not parked (any more) are not an error: `n` counts what was taken. The broker
//! out of reach is 503 `unavailable`.

use super::{Listing, Parked, ParkedError, ParkedMessage, Which};
use crate::auth::AuthUser;
use crate::error::{ApiError, Code};
use crate::http::JsonBody;
use crate::openapi::{Api, array, json_schema, uuid, wrapped};
use actix_web::{HttpResponse, web};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use uuid::Uuid;

/// Messages shown of each queue.
pub const LIST_LIMIT: usize = 50;
/// Most ids one replay or drop names.
pub const MAX_IDS: usize = 100;

/// Registers the three parked routes under `prefix` (the service's, e.g. `/api/payments`);
/// the routes registered after them keep `api`'s prefix as it was.
pub fn routes(api: &mut Api, prefix: &str) {
    let before = api.current_prefix().to_owned();
    api.prefix(prefix);
    api.get("/admin/parked", list)
        .summary("The messages this service's consumers gave up on, per queue (admin)")
        .description(
            "Every queue the service consumes: how many messages its parking queue holds and \
             the first 50 (event id, type, why and when it was parked, the body).",
        )
        .auth()
        .answers(200, "The parked messages", Some(listing_schema()))
        .errors(&[Code::Forbidden]);
    let queue = || json!({ "type": "string", "example": "booking.payment-results" });
    api.post("/admin/parked/{queue}/replay", replay)
        .summary("Put parked messages back into their queue, to be handled again (admin)")
        .description(
            "Safe to repeat: consumers apply an event once by its id. A message whose cause is \
             not fixed parks again. `replayed` counts the messages taken.",
        )
        .auth()
        .path_param("queue", queue())
        .body(target_schema())
        .answers(
            200,
            "How many were replayed",
            Some(count_schema("replayed")),
        )
        .errors(&[Code::Forbidden, Code::NotFound]);
    api.post("/admin/parked/{queue}/drop", discard)
        .summary("Delete parked messages for good (admin)")
        .auth()
        .path_param("queue", queue())
        .body(target_schema())
        .answers(200, "How many were dropped", Some(count_schema("dropped")))
        .errors(&[Code::Forbidden, Code::NotFound]);
    api.prefix(&before);
}

fn listing_schema() -> Value {
    let time = json!({ "type": ["string", "null"], "format": "date-time" });
    let message = json!({
        "type": "object",
        "required": ["message_id", "type", "reason", "parked_at", "times_parked", "body"],
        "properties": {
            "message_id": { "type": ["string", "null"], "format": "uuid" },
            "type": { "type": ["string", "null"] },
            "reason": { "type": ["string", "null"], "description": "rejected or delivery_limit" },
            "parked_at": time,
            "times_parked": { "type": "integer" },
            "body": {}
        }
    });
    json_schema(wrapped(
        "queues",
        array(json!({
            "type": "object",
            "required": ["queue", "count", "messages"],
            "properties": {
                "queue": { "type": "string" },
                "count": { "type": "integer" },
                "messages": array(message)
            }
        })),
    ))
}

fn target_schema() -> Value {
    json!({
        "type": "object",
        "description": "Either `message_ids` (1 to 100 event ids) or `all: true`.",
        "properties": {
            "message_ids": {
                "type": "array", "items": uuid(), "minItems": 1, "maxItems": MAX_IDS
            },
            "all": { "type": "boolean" }
        }
    })
}

fn count_schema(name: &str) -> Value {
    json!({
        "type": "object", "required": [name],
        "properties": { name: { "type": "integer", "minimum": 0 } }
    })
}

/// One parked message as the routes show it.
#[derive(Serialize)]
struct MessageView {
    /// The event id (`null` for a message that carries none).
    message_id: Option<Uuid>,
    #[serde(rename = "type")]
    kind: Option<String>,
    reason: Option<String>,
    parked_at: Option<DateTime<Utc>>,
    times_parked: u64,
    body: Value,
}

impl From<ParkedMessage> for MessageView {
    fn from(m: ParkedMessage) -> Self {
        Self {
            message_id: m.event_id,
            kind: m.kind,
            reason: m.reason,
            parked_at: m.parked_at,
            times_parked: m.times_parked,
            body: m.body,
        }
    }
}

#[derive(Serialize)]
struct QueueView {
    queue: String,
    count: u32,
    messages: Vec<MessageView>,
}

impl From<Listing> for QueueView {
    fn from(l: Listing) -> Self {
        Self {
            queue: l.queue,
            count: l.count,
            messages: l.messages.into_iter().map(MessageView::from).collect(),
        }
    }
}

/// The body of replay and drop: `{"message_ids": [..]}` or `{"all": true}`.
#[derive(Debug, Deserialize)]
pub struct Target {
    message_ids: Option<Vec<Uuid>>,
    all: Option<bool>,
}

impl Target {
    fn which(self) -> Result<Which, ApiError> {
        match (self.message_ids, self.all) {
            (Some(_), Some(true)) => Err(ApiError::invalid_field(
                "message_ids",
                "give either message_ids or all: true, not both",
            )),
            (Some(ids), _) if ids.is_empty() || ids.len() > MAX_IDS => {
                Err(ApiError::invalid_field(
                    "message_ids",
                    format!("message_ids must name 1 to {MAX_IDS} messages"),
                ))
            }
            (Some(ids), _) => Ok(Which::Events(ids)),
            (None, Some(true)) => Ok(Which::All),
            (None, _) => Err(ApiError::invalid_field(
                "message_ids",
                "give message_ids (the event ids to take) or all: true",
            )),
        }
    }
}

impl From<ParkedError> for ApiError {
    fn from(e: ParkedError) -> Self {
        match e {
            ParkedError::UnknownQueue { ref known, .. } => {
                let queues: Vec<&str> = known.split(", ").filter(|q| !q.is_empty()).collect();
                ApiError::not_found(e.to_string()).with_details(json!({ "queues": queues }))
            }
            ParkedError::NotFound { .. } => ApiError::not_found(e.to_string()),
            ParkedError::NotDeclared(_) | ParkedError::NotReplayed(_) | ParkedError::Broker(_) => {
                ApiError::unavailable(e)
            }
        }
    }
}

/// The admin check, then `queue` as one of the service's (404 before the broker is asked).
fn checked<'a>(parked: &'a Parked, caller: &AuthUser, queue: &str) -> Result<&'a str, ApiError> {
    caller.require_admin()?;
    Ok(parked.resolve(queue)?)
}

#[tracing::instrument(skip_all, fields(admin = %caller.id))]
async fn list(parked: web::Data<Parked>, caller: AuthUser) -> Result<HttpResponse, ApiError> {
    caller.require_admin()?;
    let mut queues = Vec::with_capacity(parked.queues().len());
    for queue in parked.queues() {
        let listing = match parked.list(queue, LIST_LIMIT).await {
            Ok(listing) => listing,
            // The service never consumed there on this broker: nothing is parked.
            Err(ParkedError::NotDeclared(_)) => Listing {
                queue: queue.clone(),
                count: 0,
                messages: Vec::new(),
            },
            Err(e) => return Err(e.into()),
        };
        queues.push(QueueView::from(listing));
    }
    Ok(HttpResponse::Ok().json(json!({ "queues": queues })))
}

#[tracing::instrument(skip_all, fields(admin = %caller.id, queue = %path))]
async fn replay(
    parked: web::Data<Parked>,
    caller: AuthUser,
    path: web::Path<String>,
    JsonBody(body): JsonBody<Target>,
) -> Result<HttpResponse, ApiError> {
    let queue = checked(&parked, &caller, &path)?;
    let which = body.which()?;
    let n = taken(parked.replay(queue, which).await)?;
    tracing::info!(replayed = n, "parked messages replayed by an admin");
    Ok(HttpResponse::Ok().json(json!({ "replayed": n })))
}

#[tracing::instrument(skip_all, fields(admin = %caller.id, queue = %path))]
async fn discard(
    parked: web::Data<Parked>,
    caller: AuthUser,
    path: web::Path<String>,
    JsonBody(body): JsonBody<Target>,
) -> Result<HttpResponse, ApiError> {
    let queue = checked(&parked, &caller, &path)?;
    let which = body.which()?;
    let n = taken(parked.discard(queue, which).await)?;
    tracing::info!(dropped = n, "parked messages dropped by an admin");
    Ok(HttpResponse::Ok().json(json!({ "dropped": n })))
}

/// How many messages an operation took; a parking queue the broker does not have holds none.
fn taken(outcome: Result<u32, ParkedError>) -> Result<u32, ApiError> {
    match outcome {
        Ok(n) => Ok(n),
        Err(ParkedError::NotDeclared(_)) => Ok(0),
        Err(e) => Err(e.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(body: Value) -> Result<Which, ApiError> {
        serde_json::from_value::<Target>(body)
            .map_err(|e| ApiError::invalid_request(e.to_string()))?
            .which()
    }

    #[test]
    fn a_target_is_message_ids_or_all() {
        let id = Uuid::now_v7();
        assert_eq!(
            target(json!({ "message_ids": [id] })).ok(),
            Some(Which::Events(vec![id]))
        );
        assert_eq!(target(json!({ "all": true })).ok(), Some(Which::All));
        assert_eq!(
            target(json!({ "message_ids": [id], "all": false })).ok(),
            Some(Which::Events(vec![id]))
        );
        let many: Vec<Uuid> = (0..=MAX_IDS).map(|_| Uuid::now_v7()).collect();
        for bad in [
            json!({}),
            json!({ "all": false }),
            json!({ "message_ids": [] }),
            json!({ "message_ids": [id], "all": true }),
            json!({ "message_ids": many }),
        ] {
            let e = target(bad.clone()).err();
            assert_eq!(
                e.as_ref().map(ApiError::code),
                Some(Code::InvalidRequest),
                "{bad}"
            );
            assert_eq!(
                e.as_ref()
                    .and_then(|e| e.details())
                    .and_then(|d| d.get("field"))
                    .and_then(Value::as_str),
                Some("message_ids"),
                "{bad}"
            );
        }
    }

    #[test]
    fn an_unknown_queue_is_404_naming_the_queues() {
        let e = ApiError::from(ParkedError::UnknownQueue {
            queue: "x".into(),
            known: "a.b, c.d".into(),
        });
        assert_eq!(e.code(), Code::NotFound);
        assert_eq!(
            e.details().and_then(|d| d.get("queues")),
            Some(&json!(["a.b", "c.d"]))
        );
        let e = ApiError::from(ParkedError::NotReplayed("q".into()));
        assert_eq!(e.code(), Code::Unavailable);
    }
}
