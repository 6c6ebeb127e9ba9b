//! `Idempotency-Key` on POSTs that create something (`docs/api.md`): a repeat with the same key
//! and the same request returns the first response; the same key with another request is
//! 409 `idempotency_key_reused`; a repeat while the first is still running is 409
//! `idempotency_key_in_use`. Responses are kept 24 hours in the service's own database
//! (table `idempotency_keys`, created by each service's migrations), scoped to the caller
//! (the token's subject, or anonymous on a public route). 5xx responses are not kept, so a
//! retry runs again.
//!
//! A claim is a lease ([`store::LEASE`]), renewed while the request runs: when the process
//! dies mid-request, or the answer cannot be written after the handler, a retry of the same
//! request finds the key free once the lease lapses and runs again (until then it is 409
//! `idempotency_key_in_use`). A handler whose effect must not run twice keeps the answer in
//! its own transaction with [`Claimed::keep`], so that the answer commits with the effect
//! and a retry replays it, whatever happens after the commit.
//!
//! Authentication comes first. On a route that needs a token, [`guard`] lets a request
//! without a valid one pass untouched (nothing stored, no key checked), so the handler
//! answers its own 401. On a public route that creates ([`public_guard`], registration),
//! anonymous callers share one scope, as `docs/api.md` promises: the same key and body
//! replay, another body under the same key is 409 `idempotency_key_reused`.
//!
//! Wrap the creating resources with `from_fn(idempotency::guard)` (or `public_guard`) and
//! register an [`IdempotencyStore`] as app data. The guard answers its own failures as
//! responses (never `Err`), so that they pass through the request's span, metrics and error
//! normalisation.

use crate::auth::{JwtVerifier, bearer_token};
use crate::error::{ApiError, Code};
use crate::http::{BODY_LIMIT, too_large};
use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, HeaderValue};
use actix_web::http::{Method, StatusCode};
use actix_web::middleware::Next;
use actix_web::{HttpMessage, HttpResponse, ResponseError, web};
use deadpool_postgres::GenericClient;
use futures_util::StreamExt;
use sha2::{Digest, Sha256};
use std::future::{Ready, ready};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

mod store;

use store::Claim;
pub use store::{IdempotencyStore, KEPT, LEASE};

pub const HEADER: &str = "idempotency-key";

/// Middleware for routes that need a token; see the module docs.
pub async fn guard(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    guarded(req, next, Access::Token).await
}

/// Middleware for public routes that create (anonymous callers allowed); see the module docs.
pub async fn public_guard(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    guarded(req, next, Access::Public).await
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Access {
    Token,
    Public,
}

async fn guarded(
    mut req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
    access: Access,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let Some(key) = req.headers().get(HEADER).cloned() else {
        return Ok(next.call(req).await?.map_into_boxed_body());
    };
    if req.method() != Method::POST {
        return Ok(next.call(req).await?.map_into_boxed_body());
    }
    let caller = caller_id(&req);
    if caller.is_none() && access == Access::Token {
        // Not authenticated: the handler answers 401, and nothing is kept for it.
        return Ok(next.call(req).await?.map_into_boxed_body());
    }
    let before = async {
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
            .ok_or_else(|| ApiError::internal(anyhow::anyhow!("no IdempotencyStore registered")))?;

        // Read the body (bounded), fingerprint it, and put it back for the handler.
        let mut payload = req.take_payload();
        let mut body = web::BytesMut::new();
        while let Some(chunk) = payload.next().await {
            let chunk = chunk.map_err(unreadable)?;
            body.extend_from_slice(&chunk);
            if body.len() > BODY_LIMIT {
                return Err(too_large());
            }
        }
        let mut hasher = Sha256::new();
        hasher.update(req.method().as_str());
        hasher.update(b" ");
        hasher.update(req.path());
        hasher.update(b"\n");
        hasher.update(&body);
        let fingerprint = hex::encode(hasher.finalize());
        let scope = caller.clone().unwrap_or_else(|| "anonymous".to_owned());
        req.set_payload(actix_web::dev::Payload::from(body.freeze()));
        let claim = store.claim(&scope, &key, &fingerprint).await?;
        Ok::<_, ApiError>((store, scope, key, fingerprint, claim))
    };
    let (store, scope, key, fingerprint, claim) = match before.await {
        Ok(claimed) => claimed,
        Err(error) => return Ok(req.error_response(error).map_into_boxed_body()),
    };
    let response = match claim {
        Claim::Claimed => None,
        Claim::Reused => Some(
            ApiError::new(
                Code::IdempotencyKeyReused,
                "this Idempotency-Key was used with a different request",
            )
            .error_response(),
        ),
        Claim::InUse => Some(in_use()),
        Claim::Done {
            status,
            body,
            content_type,
        } => Some(replay(status, body, content_type)),
    };
    if let Some(response) = response {
        let (req, _) = req.into_parts();
        return Ok(ServiceResponse::new(req, response));
    }

    let claimed = Claimed {
        scope: scope.clone(),
        key: key.clone(),
        kept: Arc::new(AtomicBool::new(false)),
    };
    req.extensions_mut().insert(claimed.clone());
    // Renew the lease while the handler runs (a renewal that fails is retried next time).
    let renew = async {
        loop {
            tokio::time::sleep(store.lease / 3).await;
            if let Err(e) = store.renew(&scope, &key, &fingerprint).await {
                tracing::warn!(error = %crate::error::chain(&e), "an Idempotency-Key lease was not renewed");
            }
        }
    };
    let res = tokio::select! {
        res = next.call(req) => res?,
        never = renew => never,
    };
    if claimed.kept.load(Ordering::SeqCst) {
        // The answer committed with the handler's effect.
        return Ok(res.map_into_boxed_body());
    }
    let status = res.status();
    let (req, response) = res.into_parts();
    let content_type = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let (head, body) = response.into_parts();
    let after = async {
        let bytes = actix_web::body::to_bytes(body).await.map_err(|e| {
            let e: Box<dyn std::error::Error> = e.into();
            ApiError::internal(anyhow::anyhow!("reading a response body: {e}"))
        })?;
        if status.is_server_error() {
            store.release(&scope, &key).await?;
        } else {
            let db = store.db.get().await.map_err(crate::db::DbError::from)?;
            store::record(&db, &scope, &key, status, &bytes, content_type.as_deref()).await?;
        }
        Ok::<_, ApiError>(bytes)
    };
    Ok(match after.await {
        Ok(bytes) => ServiceResponse::new(req, head.set_body(bytes).map_into_boxed_body()),
        Err(error) => ServiceResponse::new(req, error.error_response()),
    })
}

/// The key a guarded request claimed, for a handler that keeps its answer in its own
/// transaction ([`Claimed::keep`]); extracted as `Option<Claimed>` (`None` without a key).
/// The content type of the answers [`Claimed::keep`] writes.
const JSON: &str = "application/json";

#[derive(Clone)]
pub struct Claimed {
    scope: String,
    key: String,
    /// Set once the handler has written the answer itself and committed it.
    kept: Arc<AtomicBool>,
}

impl Claimed {
    /// Writes `status` and the JSON `body` as the key's answer through `tx`, the handler's
    /// transaction, so that the answer commits with the effect or not at all; returns the
    /// response to send. Call [`Claimed::committed`] once `tx` has committed: the guard then
    /// writes nothing more. Until then it records whatever the handler answers, so a refusal
    /// that rolls `tx` back (this write with it) is kept as the key's answer.
    pub async fn keep(
        &self,
        tx: &impl GenericClient,
        status: StatusCode,
        body: &impl serde::Serialize,
    ) -> Result<HttpResponse, ApiError> {
        let body = serde_json::to_vec(body)
            .map_err(|e| ApiError::internal(anyhow::Error::new(e).context("encoding an answer")))?;
        self.record(tx, status, &body).await?;
        Ok(Self::response(status, body))
    }

    /// [`Claimed::keep`] for an answer already encoded as JSON, where the response is built
    /// later (by [`Claimed::response`]), elsewhere than the transaction (a batch of requests
    /// written in one transaction on another task).
    pub async fn record(
        &self,
        tx: &impl GenericClient,
        status: StatusCode,
        json: &[u8],
    ) -> Result<(), ApiError> {
        store::record(tx, &self.scope, &self.key, status, json, Some(JSON)).await?;
        Ok(())
    }

    /// The response [`Claimed::keep`] returns for the JSON answer `json`.
    pub fn response(status: StatusCode, json: Vec<u8>) -> HttpResponse {
        HttpResponse::build(status)
            .insert_header((header::CONTENT_TYPE, JSON))
            .body(json)
    }

    /// The transaction that [`Claimed::keep`] wrote the answer in has committed.
    pub fn committed(&self) {
        self.kept.store(true, Ordering::SeqCst);
    }
}

impl actix_web::FromRequest for Claimed {
    type Error = actix_web::Error;
    type Future = Ready<Result<Self, Self::Error>>;

    fn from_request(req: &actix_web::HttpRequest, _: &mut actix_web::dev::Payload) -> Self::Future {
        ready(req.extensions().get::<Self>().cloned().ok_or_else(|| {
            actix_web::error::ErrorInternalServerError("no claimed Idempotency-Key")
        }))
    }
}

/// The subject of the request's bearer token, when it has a valid one.
fn caller_id(req: &ServiceRequest) -> Option<String> {
    bearer_token(req.headers())
        .zip(req.app_data::<web::Data<JwtVerifier>>())
        .and_then(|(token, verifier)| verifier.authenticate(token).ok())
        .map(|caller| caller.id.to_string())
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

/// A body that could not be read: 413 past the limit, else 400.
fn unreadable(e: actix_web::error::PayloadError) -> ApiError {
    let error = if e.status_code() == StatusCode::PAYLOAD_TOO_LARGE {
        too_large()
    } else {
        ApiError::invalid_request("the body could not be read")
    };
    error.with_source(e)
}

fn in_use() -> HttpResponse {
    ApiError::new(
        Code::IdempotencyKeyInUse,
        "a request with this Idempotency-Key is still being processed; retry shortly",
    )
    .error_response()
}
