//! `Idempotency-Key` on POSTs that create something (`API.md`): a repeat with the same key
//! and the same request returns the first response; the same key with another request is
//! 409 `idempotency_key_reused`; a repeat while the first is still running is 409
//! `idempotency_key_in_use`. Responses are kept 24 hours in the service's own database
//! (table `idempotency_keys`, created by each service's migrations), scoped to the caller
//! (the token's subject, or anonymous). 5xx responses are not kept, so a retry runs again.
//!
//! Wrap the creating resources with `from_fn(idempotency::guard)` and register an
//! [`IdempotencyStore`] as app data.

use crate::auth::{JwtVerifier, bearer_token};
use crate::db::PgPool;
use crate::error::ApiError;
use crate::http::BODY_LIMIT;
use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, HeaderValue};
use actix_web::http::{Method, StatusCode};
use actix_web::middleware::Next;
use actix_web::{HttpMessage, HttpResponse, ResponseError, web};
use futures_util::StreamExt;
use sha2::{Digest, Sha256};

pub const HEADER: &str = "idempotency-key";

#[derive(Clone)]
pub struct IdempotencyStore {
    pub db: PgPool,
}

/// Middleware; see the module docs.
pub async fn guard(
    mut req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let Some(key) = req.headers().get(HEADER).cloned() else {
        return Ok(next.call(req).await?.map_into_boxed_body());
    };
    if req.method() != Method::POST {
        return Ok(next.call(req).await?.map_into_boxed_body());
    }
    let key = key
        .to_str()
        .ok()
        .filter(|k| !k.is_empty() && k.len() <= 255)
        .ok_or_else(|| {
            ApiError::invalid_field(
                "Idempotency-Key",
                "the key must be 1 to 255 visible characters",
            )
        })?
        .to_owned();
    let store = req
        .app_data::<web::Data<IdempotencyStore>>()
        .cloned()
        .ok_or_else(|| ApiError::internal(&"no IdempotencyStore registered"))?;
    let scope = caller_scope(&req);

    // Read the body (bounded), fingerprint it, and put it back for the handler.
    let mut payload = req.take_payload();
    let mut body = web::BytesMut::new();
    while let Some(chunk) = payload.next().await {
        body.extend_from_slice(&chunk?);
        if body.len() > BODY_LIMIT {
            return Err(ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "payload_too_large",
                format!("the body is larger than {BODY_LIMIT} bytes"),
            )
            .into());
        }
    }
    let mut hasher = Sha256::new();
    hasher.update(req.method().as_str());
    hasher.update(b" ");
    hasher.update(req.path());
    hasher.update(b"\n");
    hasher.update(&body);
    let fingerprint = hex::encode(hasher.finalize());
    req.set_payload(actix_web::dev::Payload::from(body.freeze()));

    let db = store.db.get().await.map_err(ApiError::from)?;
    let claimed = db
        .query_opt(
            "INSERT INTO idempotency_keys (scope, key, request_hash) VALUES ($1, $2, $3) \
             ON CONFLICT (scope, key) DO UPDATE \
               SET request_hash = EXCLUDED.request_hash, status = NULL, body = NULL, \
                   content_type = NULL, created_at = now() \
               WHERE idempotency_keys.created_at < now() - interval '24 hours' \
             RETURNING 1",
            &[&scope, &key, &fingerprint],
        )
        .await
        .map_err(ApiError::from)?
        .is_some();
    if !claimed {
        let row = db
            .query_opt(
                "SELECT request_hash, status, body, content_type FROM idempotency_keys \
                 WHERE scope = $1 AND key = $2",
                &[&scope, &key],
            )
            .await
            .map_err(ApiError::from)?;
        drop(db);
        let response = match row {
            Some(row) if row.get::<_, String>(0) != fingerprint => ApiError::conflict(
                "idempotency_key_reused",
                "this Idempotency-Key was used with a different request",
            )
            .error_response(),
            Some(row) => match row.get::<_, Option<i16>>(1) {
                Some(status) => replay(status, row.get(2), row.get(3)),
                None => in_use(),
            },
            None => in_use(),
        };
        let (req, _) = req.into_parts();
        return Ok(ServiceResponse::new(req, response));
    }
    drop(db);

    let res = next.call(req).await?;
    let status = res.status();
    let (req, response) = res.into_parts();
    let content_type = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let (head, body) = response.into_parts();
    let bytes = actix_web::body::to_bytes(body)
        .await
        .map_err(|_| ApiError::internal(&"reading a response body"))?;
    let db = store.db.get().await.map_err(ApiError::from)?;
    if status.is_server_error() {
        db.execute(
            "DELETE FROM idempotency_keys WHERE scope = $1 AND key = $2",
            &[&scope, &key],
        )
        .await
        .map_err(ApiError::from)?;
    } else {
        db.execute(
            "UPDATE idempotency_keys SET status = $3, body = $4, content_type = $5 \
             WHERE scope = $1 AND key = $2",
            &[
                &scope,
                &key,
                &i16::try_from(status.as_u16()).unwrap_or(500),
                &bytes.as_ref(),
                &content_type,
            ],
        )
        .await
        .map_err(ApiError::from)?;
    }
    Ok(ServiceResponse::new(
        req,
        head.set_body(bytes).map_into_boxed_body(),
    ))
}

fn caller_scope(req: &ServiceRequest) -> String {
    let subject = bearer_token(req.headers())
        .zip(req.app_data::<web::Data<JwtVerifier>>())
        .and_then(|(token, verifier)| verifier.authenticate(token).ok())
        .map(|caller| caller.id.to_string());
    subject.unwrap_or_else(|| "anonymous".to_owned())
}

fn replay(status: i16, body: Option<Vec<u8>>, content_type: Option<String>) -> HttpResponse {
    let status = u16::try_from(status)
        .ok()
        .and_then(|s| StatusCode::from_u16(s).ok())
        .unwrap_or(StatusCode::OK);
    let mut builder = HttpResponse::build(status);
    builder.insert_header(("idempotent-replayed", HeaderValue::from_static("true")));
    if let Some(ct) = content_type {
        builder.insert_header((header::CONTENT_TYPE, ct));
    }
    builder.body(body.unwrap_or_default())
}

fn in_use() -> HttpResponse {
    ApiError::conflict(
        "idempotency_key_in_use",
        "a request with this Idempotency-Key is still being processed; retry shortly",
    )
    .error_response()
}
