//! The one wire format for every failure (`docs/api.md`):
//! `{"error": {code, message, details}}`.
//!
//! - Handlers return `Result<_, ApiError>` and name a [`Code`]: the status comes from its
//!   table ([`code`]), never from the handler.
//! - A feature with outcomes of its own (a hold that expired, a seat sold meanwhile) has a
//!   `thiserror` enum and one `impl From<FeatureError> for ApiError`, so `?` turns it into
//!   the answer. Stores return their own errors ([`crate::db::DbError`],
//!   [`crate::cache::CacheError`]), which convert the same way.
//! - [`ApiError::internal`] and [`ApiError::unavailable`] keep their cause as the error's
//!   source. Nothing is logged when an error is made: the full cause chain is logged once,
//!   when the response is produced (5xx at error level), and 5xx bodies stay generic.

pub mod code;
#[cfg(test)]
mod docs_tests;
#[cfg(test)]
mod tests;

pub use code::{Code, ErrCode};

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;
use serde_json::{Map, Value, json};
use std::fmt;

/// An error as the client sees it, with the cause that stays in the log.
#[derive(Debug)]
pub struct ApiError {
    code: Code,
    /// `code.status()`, except for a response someone else produced and
    /// [`crate::http::normalize_errors`] reshaped, which keeps its status.
    status: StatusCode,
    message: String,
    details: Option<Value>,
    retry_after: Option<u64>,
    source: Option<anyhow::Error>,
}

#[derive(Serialize)]
struct Body<'a> {
    error: Inner<'a>,
}

#[derive(Serialize)]
struct Inner<'a> {
    code: Code,
    message: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    details: Option<&'a Value>,
}

const INTERNAL_MESSAGE: &str = "something went wrong on our side";
const UNAVAILABLE_MESSAGE: &str = "the service is temporarily unavailable, please retry shortly";

impl ApiError {
    /// An error with `code`'s status and this message for the client.
    pub fn new(code: Code, message: impl Into<String>) -> Self {
        Self {
            code,
            status: code.status(),
            message: message.into(),
            details: None,
            retry_after: None,
            source: None,
        }
    }

    /// 400 `invalid_request` naming the offending field in `details.field`.
    pub fn invalid_field(field: &str, message: impl Into<String>) -> Self {
        Self::new(Code::InvalidRequest, message).with_details(json!({ "field": field }))
    }

    pub fn invalid_request(message: impl Into<String>) -> Self {
        Self::new(Code::InvalidRequest, message)
    }

    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(Code::Unauthorized, message)
    }

    pub fn forbidden() -> Self {
        Self::new(Code::Forbidden, "you are not allowed to do this")
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(Code::NotFound, message)
    }

    /// 503 `unavailable`: a store or the broker cannot be reached. `cause` is kept as the
    /// source for the log; the client gets a generic message.
    pub fn unavailable(cause: impl Into<anyhow::Error>) -> Self {
        Self::new(Code::Unavailable, UNAVAILABLE_MESSAGE).with_source(cause)
    }

    /// 500 `internal`: a fault of ours. `cause` is kept as the source for the log; the
    /// client gets a generic message.
    pub fn internal(cause: impl Into<anyhow::Error>) -> Self {
        Self::new(Code::Internal, INTERNAL_MESSAGE).with_source(cause)
    }

    /// Adds `details` (objects merge with details already set).
    pub fn with_details(mut self, details: Value) -> Self {
        match (&mut self.details, details) {
            (Some(Value::Object(existing)), Value::Object(more)) => existing.extend(more),
            (slot, details) => *slot = Some(details),
        }
        self
    }

    /// Answers with `Retry-After: secs` (at least 1) and `details.retry_after`.
    pub fn with_retry_after(mut self, secs: u64) -> Self {
        let secs = secs.max(1);
        self.retry_after = Some(secs);
        self.with_details(json!({ "retry_after": secs }))
    }

    /// Keeps `cause` as this error's source: logged with the response, never sent.
    pub fn with_source(mut self, cause: impl Into<anyhow::Error>) -> Self {
        self.source = Some(cause.into());
        self
    }

    /// Keeps `status` instead of the code's: only for reshaping a response that something
    /// else (actix, a plain handler) produced with that status.
    pub(crate) fn with_status(mut self, status: StatusCode) -> Self {
        self.status = status;
        self
    }

    pub fn code(&self) -> Code {
        self.code
    }

    pub fn status(&self) -> StatusCode {
        self.status
    }

    pub fn message(&self) -> &str {
        &self.message
    }

    pub fn details(&self) -> Option<&Map<String, Value>> {
        self.details.as_ref().and_then(Value::as_object)
    }

    /// The cause kept for the log, if any.
    pub fn cause(&self) -> Option<&anyhow::Error> {
        self.source.as_ref()
    }

    /// Logs this error with its whole cause chain: 5xx at error level, others at debug.
    fn log(&self) {
        let status = self.status.as_u16();
        let code = self.code.as_str();
        let cause = match &self.source {
            Some(source) => format!("{source:#}"),
            None => self.message.clone(),
        };
        if self.status == StatusCode::SERVICE_UNAVAILABLE {
            tracing::error!(status, code, error = %cause, "dependency unavailable");
        } else if self.status.is_server_error() {
            tracing::error!(status, code, error = %cause, "internal error");
        } else {
            tracing::debug!(status, code, error = %cause, "request refused");
        }
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {}: {}",
            self.status.as_u16(),
            self.code,
            self.message
        )
    }
}

impl std::error::Error for ApiError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source
            .as_ref()
            .map(|e| e.as_ref() as &(dyn std::error::Error + 'static))
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        self.status
    }

    /// The response, and the one log line of this error (see the module docs). actix calls
    /// this once per failing request.
    fn error_response(&self) -> HttpResponse {
        self.log();
        let mut builder = HttpResponse::build(self.status);
        if let Some(secs) = self.retry_after {
            builder.insert_header((header::RETRY_AFTER, HeaderValue::from(secs)));
        }
        builder.json(Body {
            error: Inner {
                code: self.code,
                message: &self.message,
                details: self.details.as_ref(),
            },
        })
    }
}

/// Shows `error` and its sources as `outer: inner: root`, for a log field of an error that is
/// logged rather than returned (an `anyhow::Error` does the same with `{:#}`).
pub fn chain<'a>(error: &'a (dyn std::error::Error + 'static)) -> impl fmt::Display + 'a {
    struct Chain<'a>(&'a (dyn std::error::Error + 'static));
    impl fmt::Display for Chain<'_> {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            write!(f, "{}", self.0)?;
            let mut source = self.0.source();
            while let Some(e) = source {
                write!(f, ": {e}")?;
                source = e.source();
            }
            Ok(())
        }
    }
    Chain(error)
}

impl From<anyhow::Error> for ApiError {
    fn from(e: anyhow::Error) -> Self {
        Self::internal(e)
    }
}
