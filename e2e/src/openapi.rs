//! The OpenAPI documents of every service and the gateway's merged one.
//!
//! Each service registers its routes once, in its `routes::api()` ([`servicekit::openapi::Api`]);
//! the service serves its own document at `GET /openapi.json`. The merged document (the
//! public routes of every service, what the gateway routes) is `docs/openapi.json`, written by
//! `cargo run -p e2e --features openapi --bin railrush-openapi` and served by the gateway at
//! `/api/docs/openapi.json`; a test fails when the committed file is stale.

use serde_json::Value;
use servicekit::openapi::{self, Api};
use servicekit::service::Kernel;

/// Every service's routes. A new service is one line here.
pub fn services() -> Vec<Api> {
    vec![
        auth_service::api(),
        train_service::api(),
        booking_service::api(),
        payment_service::api(),
        notification_service::api(),
    ]
}

/// The document a service serves at `/openapi.json` (its routes and the common ones).
pub fn service_document(api: &Api) -> Value {
    Kernel::document(api.title(), Some(api)).1
}

/// The gateway's document: every service's public routes.
pub fn merged() -> Value {
    let documents: Vec<Value> = services().iter().map(|api| api.document(true)).collect();
    openapi::merge("RailRush", &documents)
}

/// `merged()` as committed in `docs/openapi.json` (pretty, with a final newline).
pub fn merged_text() -> String {
    let mut text = serde_json::to_string_pretty(&merged()).unwrap_or_default();
    text.push('\n');
    text
}
