//! Request plumbing shared by every service: the JSON body extractor, extractor error
//! handlers, the catch-all that turns any non-JSON error response into the `docs/api.md`
//! shape, and the request id.
//!
//! Use [`JsonBody`] instead of `web::Json` for request bodies: it names the offending field
//! in `details.field`. Register [`configure_extractors`] and wrap the app in
//! [`normalize_errors`] (done by [`crate::app::wrap_common`]).

use crate::error::{ApiError, Code};
use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{Payload, ServiceRequest, ServiceResponse};
use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderName, HeaderValue};
use actix_web::middleware::Next;
use actix_web::{FromRequest, HttpMessage, HttpRequest, ResponseError, web};
use serde::de::DeserializeOwned;
use std::future::Future;
use std::pin::Pin;

/// Largest JSON body any endpoint accepts.
pub const BODY_LIMIT: usize = 64 * 1024;

pub static REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// A JSON request body, deserialised with the path of any failing field reported.
#[derive(Debug)]
pub struct JsonBody<T>(pub T);

impl<T: DeserializeOwned + 'static> FromRequest for JsonBody<T> {
    type Error = actix_web::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self, Self::Error>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let is_json = req
            .mime_type()
            .ok()
            .flatten()
            .is_some_and(|m| m.subtype() == mime_json() || m.suffix() == Some(mime_json()));
        let declared_len = req
            .headers()
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<usize>().ok());
        let bytes = web::Bytes::from_request(req, payload);
        Box::pin(async move {
            if !is_json {
                return Err(ApiError::new(
                    Code::UnsupportedMediaType,
                    "the body must be JSON (Content-Type: application/json)",
                )
                .into());
            }
            if declared_len.is_some_and(|n| n > BODY_LIMIT) {
                return Err(too_large().into());
            }
            let bytes = bytes.await.map_err(|_| too_large())?;
            parse_json(&bytes).map(JsonBody).map_err(Into::into)
        })
    }
}

fn mime_json() -> mime::Name<'static> {
    mime::JSON
}

/// 413 `payload_too_large` for a body past [`BODY_LIMIT`].
pub(crate) fn too_large() -> ApiError {
    ApiError::new(
        Code::PayloadTooLarge,
        format!("the body is larger than {BODY_LIMIT} bytes"),
    )
}

/// Deserialises `bytes`, reporting the failing field's path. A string (value or key, at
/// any depth) holding a C0 control character other than tab, newline and carriage return
/// is refused first, naming its path: such text (a NUL above all) never reaches a store.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    // JSON forbids raw control characters in strings, so one can only come as an escape.
    if bytes.contains(&b'\\') {
        refuse_control_characters(bytes)?;
    }
    let de = &mut serde_json::Deserializer::from_slice(bytes);
    serde_path_to_error::deserialize(de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        if inner.is_syntax() || inner.is_eof() {
            return ApiError::invalid_request("the body is not valid JSON");
        }
        // serde's text names the expected type and the field, never our internals.
        let message = strip_position(&inner.to_string());
        let known_path = (path != "." && path != "?").then_some(path);
        match missing_field(&message).or(known_path) {
            Some(field) => ApiError::invalid_field(&field, message),
            None => ApiError::invalid_request(message),
        }
    })
}

fn refuse_control_characters(bytes: &[u8]) -> Result<(), ApiError> {
    // Not JSON: the typed parse that follows says so.
    let Ok(value) = serde_json::from_slice::<serde_json::Value>(bytes) else {
        return Ok(());
    };
    match control_character_at(&value, String::new()) {
        Some(path) if path.is_empty() => Err(ApiError::invalid_request(
            "the body must not contain control characters",
        )),
        Some(path) => Err(ApiError::invalid_field(
            &path,
            format!("{path} must not contain control characters"),
        )),
        None => Ok(()),
    }
}

fn is_refused(c: char) -> bool {
    c.is_ascii_control() && c != '\t' && c != '\n' && c != '\r' && c != '\u{7f}'
}

/// The path (as `serde_path_to_error` writes it: `a.b[0].c`) of the first string holding a
/// refused character.
fn control_character_at(value: &serde_json::Value, path: String) -> Option<String> {
    use serde_json::Value;
    match value {
        Value::String(s) => s.chars().any(is_refused).then_some(path),
        Value::Array(items) => items
            .iter()
            .enumerate()
            .find_map(|(i, item)| control_character_at(item, format!("{path}[{i}]"))),
        Value::Object(fields) => fields.iter().find_map(|(key, item)| {
            let inner = if path.is_empty() {
                key.clone()
            } else {
                format!("{path}.{key}")
            };
            if key.chars().any(is_refused) {
                return Some(path.clone());
            }
            control_character_at(item, inner)
        }),
        _ => None,
    }
}

#[cfg(test)]
mod control_tests {
    use super::control_character_at;
    use serde_json::json;

    #[test]
    fn the_path_of_the_first_string_with_a_control_character_is_named() {
        let at = |v| control_character_at(&v, String::new());
        assert_eq!(at(json!({"a": "x\u{0}y"})).as_deref(), Some("a"));
        assert_eq!(
            at(json!({"p": [{"name": "ok"}, {"name": "b\u{8}"}]})).as_deref(),
            Some("p[1].name")
        );
        assert_eq!(at(json!({"a": "tab\tnl\ncr\r", "n": 1})), None);
        assert_eq!(at(json!("\u{1f}")).as_deref(), Some(""));
    }
}

fn strip_position(message: &str) -> String {
    match message.find(" at line ") {
        Some(i) => message[..i].to_owned(),
        None => message.to_owned(),
    }
}

fn missing_field(message: &str) -> Option<String> {
    let rest = message.strip_prefix("missing field `")?;
    rest.split('`').next().map(str::to_owned)
}

/// A query's `date`: a real calendar date written `YYYY-MM-DD`, else 400 naming `date`.
pub fn date_param(value: Option<&str>) -> Result<chrono::NaiveDate, ApiError> {
    let value = value.ok_or_else(|| ApiError::invalid_field("date", "date is required"))?;
    let well_formed = value.len() == 10
        && value.bytes().enumerate().all(|(i, b)| {
            if i == 4 || i == 7 {
                b == b'-'
            } else {
                b.is_ascii_digit()
            }
        });
    well_formed
        .then(|| chrono::NaiveDate::parse_from_str(value, "%Y-%m-%d").ok())
        .flatten()
        .ok_or_else(|| ApiError::invalid_field("date", "date must be a real date as YYYY-MM-DD"))
}

/// A numeric id taken from a path or a query string, parsed one strict way: ASCII digits
/// only (no sign, no leading `+`, no spaces), within `i64`. Everything else is 400
/// `invalid_request` naming the parameter, so what a gateway pattern like `[0-9]+` sees is
/// exactly what a service serves. Whether zero is a possible id stays the caller's rule.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Id(pub i64);

impl Id {
    /// The id in `raw`, or 400 `invalid_request` with `details.field` = `name`.
    pub fn parse(raw: &str, name: &str) -> Result<i64, ApiError> {
        Self::strict(raw).ok_or_else(|| {
            ApiError::invalid_field(
                name,
                format!("{name} must be a non-negative integer written in digits only"),
            )
        })
    }

    fn strict(raw: &str) -> Option<i64> {
        if raw.is_empty() || !raw.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        raw.parse().ok()
    }
}

/// For query structs: a field `trip_id: Id` refuses what [`Id::parse`] refuses.
impl<'de> serde::Deserialize<'de> for Id {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(deserializer)?;
        Self::strict(&raw).map(Id).ok_or_else(|| {
            serde::de::Error::custom("an id must be a non-negative integer written in digits only")
        })
    }
}

/// Extractor configs so that query and path failures answer in the error shape.
pub fn configure_extractors(cfg: &mut web::ServiceConfig) {
    cfg.app_data(web::PayloadConfig::new(BODY_LIMIT))
        .app_data(web::QueryConfig::default().error_handler(|err, _| {
            ApiError::invalid_request(format!(
                "invalid query: {}",
                strip_position(&err.to_string())
            ))
            .into()
        }))
        .app_data(web::PathConfig::default().error_handler(|err, _| {
            ApiError::invalid_request(format!(
                "invalid path: {}",
                strip_position(&err.to_string())
            ))
            .into()
        }))
        .app_data(
            web::JsonConfig::default()
                .limit(BODY_LIMIT)
                .error_handler(|err, _| {
                    ApiError::invalid_request(format!(
                        "invalid body: {}",
                        strip_position(&err.to_string())
                    ))
                    .into()
                }),
        );
}

/// Default service: unknown routes are a JSON 404.
pub async fn not_found() -> actix_web::HttpResponse {
    ApiError::not_found("no such resource").error_response()
}

/// Middleware: every error response leaves in the `docs/api.md` shape, whatever produced
/// it (actix's own 405, a panic-free extractor failure, a handler's plain response).
/// Responses already in the shape pass untouched: an [`ApiError`] logged itself when its
/// response was made, and a reshaped one logs here, so each failure is logged once.
/// Middleware inside this one answers with responses, not `Err` (see
/// [`crate::idempotency::guard`]), so that their failures pass here too.
pub async fn normalize_errors(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let res = next.call(req).await?;
    let status = res.status();
    let is_json = res
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if !(status.is_client_error() || status.is_server_error()) || is_json {
        return Ok(res.map_into_boxed_body());
    }
    let mut error = error_for_status(status);
    if let Some(cause) = res.response().error() {
        error = error.with_source(anyhow::anyhow!("{cause}"));
    }
    // Headers that belong to the status stay: a 405's Allow (RFC 9110 §15.5.6).
    let allow = res.headers().get(header::ALLOW).cloned();
    let (req, _) = res.into_parts();
    let mut response = error.error_response();
    if let Some(allow) = allow {
        response.headers_mut().insert(header::ALLOW, allow);
    }
    Ok(ServiceResponse::new(req, response))
}

fn error_for_status(status: StatusCode) -> ApiError {
    let (code, message) = match status.as_u16() {
        401 => (Code::Unauthorized, "authentication is required"),
        403 => (Code::Forbidden, "you are not allowed to do this"),
        404 => (Code::NotFound, "no such resource"),
        405 => (
            Code::MethodNotAllowed,
            "method not allowed on this resource",
        ),
        413 => (Code::PayloadTooLarge, "the body is too large"),
        415 => (Code::UnsupportedMediaType, "unsupported content type"),
        429 => (Code::RateLimited, "too many requests"),
        400..=499 => (Code::InvalidRequest, "the request is invalid"),
        503 => (Code::Unavailable, "the service is temporarily unavailable"),
        _ => (Code::Internal, "something went wrong on our side"),
    };
    ApiError::new(code, message).with_status(status)
}

/// The request id of this request: the caller's `X-Request-Id` if sane, else a new UUID.
#[derive(Clone, Debug)]
pub struct RequestId(pub String);

impl RequestId {
    pub fn from_header(value: Option<&HeaderValue>) -> Self {
        let given = value
            .and_then(|v| v.to_str().ok())
            .filter(|v| !v.is_empty() && v.len() <= 128)
            .filter(|v| {
                v.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.')
            });
        Self(given.map_or_else(|| uuid::Uuid::new_v4().to_string(), str::to_owned))
    }
}

impl FromRequest for RequestId {
    type Error = actix_web::Error;
    type Future = std::future::Ready<Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let id = req
            .extensions()
            .get::<RequestId>()
            .cloned()
            .unwrap_or_else(|| RequestId::from_header(req.headers().get(&REQUEST_ID)));
        std::future::ready(Ok(id))
    }
}

#[cfg(test)]
mod id_tests {
    use super::Id;
    use crate::error::Code;

    #[test]
    fn ids_are_digits_only_within_64_bits() {
        assert_eq!(Id::parse("42", "trip_id").ok(), Some(42));
        assert_eq!(Id::parse("0", "trip_id").ok(), Some(0));
        for raw in [
            "+5",
            "-5",
            " 5",
            "5 ",
            "",
            "1e3",
            "0x10",
            "99999999999999999999",
        ] {
            let e = Id::parse(raw, "trip_id").err();
            assert_eq!(
                e.as_ref().map(|e| e.code()),
                Some(Code::InvalidRequest),
                "{raw:?}"
            );
        }
    }

    #[derive(serde::Deserialize)]
    struct Query {
        trip_id: Id,
    }

    #[test]
    fn a_query_id_refuses_a_sign() {
        let ok = actix_web::web::Query::<Query>::from_query("trip_id=7");
        assert_eq!(ok.map(|q| q.trip_id).ok(), Some(Id(7)));
        let plus = actix_web::web::Query::<Query>::from_query("trip_id=%2B7");
        assert!(plus.is_err());
    }
}

#[cfg(test)]
mod tests {
    use super::date_param;
    use chrono::NaiveDate;

    #[test]
    fn a_date_is_a_real_date_written_yyyy_mm_dd() {
        assert_eq!(
            date_param(Some("2026-12-10")).ok(),
            NaiveDate::from_ymd_opt(2026, 12, 10)
        );
        for bad in [
            None,
            Some("2026-2-10"),
            Some("2026-02-30"),
            Some("20261210"),
            Some("2026-12-10x"),
            Some(""),
        ] {
            assert!(date_param(bad).is_err(), "{bad:?}");
        }
    }
}
