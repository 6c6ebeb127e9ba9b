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

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)] // Tests fail by panicking.
mod tests {
    use super::*;
    use servicekit::error::Code;

    #[test]
    fn the_committed_merged_document_is_the_codes() {
        let committed = include_str!("../../docs/openapi.json");
        assert!(
            committed == merged_text(),
            "docs/openapi.json is stale: run \
             `cargo run -p e2e --features openapi --bin railrush-openapi > docs/openapi.json`"
        );
    }

    #[test]
    fn every_error_answer_of_every_service_is_in_the_table() {
        for api in services() {
            let doc = service_document(&api);
            for (path, item) in doc["paths"].as_object().unwrap() {
                for (method, op) in item.as_object().unwrap() {
                    let responses = op["responses"].as_object().unwrap();
                    assert!(
                        responses.keys().any(|s| s.starts_with('2')),
                        "{method} {path} has no success answer"
                    );
                    for (status, response) in responses {
                        let schema = &response["content"]["application/json"]["schema"];
                        let schema = schema["anyOf"].get(1).unwrap_or(schema);
                        let Some(codes) =
                            schema["properties"]["error"]["properties"]["code"]["enum"].as_array()
                        else {
                            // Not an error: a success, or a redirection with no body (the
                            // inventory's 304 to a current `If-None-Match`).
                            assert!(
                                status.starts_with('2') || status.starts_with('3'),
                                "{method} {path} {status}"
                            );
                            continue;
                        };
                        for name in codes {
                            let code = Code::from_name(name.as_str().unwrap())
                                .unwrap_or_else(|| panic!("{name} is not in Code::ALL"));
                            assert_eq!(
                                code.status().as_u16().to_string(),
                                *status,
                                "{method} {path}: {code}"
                            );
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn operation_ids_are_unique_across_the_merged_document() {
        let doc = merged();
        let mut ids = std::collections::HashSet::new();
        for item in doc["paths"].as_object().unwrap().values() {
            for op in item.as_object().unwrap().values() {
                assert!(ids.insert(op["operationId"].as_str().unwrap().to_owned()));
            }
        }
        assert!(ids.len() >= 26, "{}", ids.len());
    }
}
