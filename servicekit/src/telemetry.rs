//! Tracing: the subscriber (JSON in deployments, readable locally) and the request context
//! middleware that gives every request an id (`X-Request-Id`, taken or made), a span that
//! every log line of the request carries, and the id echoed in the response.

use crate::config::{LogFormat, LogSettings};
use crate::http::{REQUEST_ID, RequestId};
use actix_web::HttpMessage;
use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::HeaderValue;
use actix_web::middleware::Next;
use std::time::Instant;
use tracing::Instrument;
use tracing_subscriber::EnvFilter;

/// Installs the global subscriber once; later calls (tests) are no-ops.
pub fn init(settings: &LogSettings) {
    init_with_default(settings, "info");
}

/// [`init`] for the operator commands (migrate, seed, admin): unless `RUST_LOG` says
/// otherwise only warnings and errors are logged, so what a command prints is its answer.
pub fn init_quiet(settings: &LogSettings) {
    init_with_default(settings, "warn");
}

fn init_with_default(settings: &LogSettings, default_filter: &str) {
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default_filter));
    let builder = tracing_subscriber::fmt().with_env_filter(filter);
    let _ = match settings.format {
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
        LogFormat::Pretty => builder.try_init(),
    };
}

/// Middleware: request id, span and one log line per request.
pub async fn request_context(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let id = RequestId::from_header(req.headers().get(&REQUEST_ID));
    req.extensions_mut().insert(id.clone());
    let span = tracing::info_span!(
        "request",
        request_id = %id.0,
        method = %req.method(),
        path = %req.path(),
    );
    let start = Instant::now();
    let mut res = next.call(req).instrument(span.clone()).await?;
    if let Ok(value) = HeaderValue::from_str(&id.0) {
        res.headers_mut().insert(REQUEST_ID.clone(), value);
    }
    let status = res.status().as_u16();
    let elapsed_ms = start.elapsed().as_secs_f64() * 1000.0;
    span.in_scope(|| {
        if status >= 500 {
            tracing::warn!(status, elapsed_ms, "request failed");
        } else {
            tracing::debug!(status, elapsed_ms, "request");
        }
    });
    Ok(res)
}
