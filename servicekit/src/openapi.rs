//! The one place a route is registered: [`Api`] gives actix-web its routes and the OpenAPI 3.1
//! document its operations from the same entries, so the two cannot disagree.
//!
//! ```ignore
//! pub fn api() -> Api {
//!     let mut api = Api::new("payment-service", "/api/payments");
//!     api.post("/{booking_id}/retry", payments::retry)
//!         .summary("Retry a failed payment")
//!         .auth()
//!         .idempotent()
//!         .body(schema::<RetryBody>())
//!         .answers(202, "The retry is accepted", object())
//!         .errors(&[Code::NotFound, Code::NotRetryable]);
//!     api
//! }
//! ```
//!
//! - Error answers come from [`Code`]: an operation lists the codes it answers and each becomes
//!   a response with the code's status whose body is the error shape with `code` restricted to
//!   those codes. The shape's own `code` enum is [`Code::ALL`]. What every route of a kind
//!   answers is added here: bodies (400, 413, 415), a bearer token (401), path and query
//!   parameters (400 and 404), an `Idempotency-Key` (409), every route (500, 503).
//! - The kernel serves the document at `GET /openapi.json` ([`crate::service::Kernel::api`]);
//!   the common routes (`/health/*`, `/metrics`, `/openapi.json`) are in it too.
//! - Schemas of bodies come from the code (`#[derive(utoipa::ToSchema)]`, [`schema`]) or are
//!   written beside the route with [`json_schema`].

use crate::error::Code;
use crate::idempotency;
use actix_web::middleware::from_fn;
use actix_web::{FromRequest, Handler, HttpResponse, Responder, web};
use serde_json::{Map, Value, json};
use std::collections::BTreeMap;
use std::sync::Arc;

/// The path of every service's document.
pub const DOCUMENT_PATH: &str = "/openapi.json";

/// A JSON Schema (OpenAPI 3.1 is JSON Schema 2020-12).
pub type Schema = Value;

/// The schema of `T`, from its `ToSchema` derive. Named schemas it refers to are inlined.
pub fn schema<T: utoipa::ToSchema>() -> Schema {
    let mut schemas = Vec::new();
    T::schemas(&mut schemas);
    let named: BTreeMap<String, Value> = schemas
        .into_iter()
        .map(|(name, s)| (name, serde_json::to_value(s).unwrap_or(Value::Null)))
        .collect();
    let root = serde_json::to_value(T::schema()).unwrap_or(Value::Null);
    inline_refs(root, &named, 0)
}

fn inline_refs(value: Value, named: &BTreeMap<String, Value>, depth: usize) -> Value {
    match value {
        Value::Object(map) => {
            if let Some(Value::String(r)) = map.get("$ref")
                && let Some(target) = r
                    .strip_prefix("#/components/schemas/")
                    .and_then(|n| named.get(n))
                && depth < 8
            {
                return inline_refs(target.clone(), named, depth + 1);
            }
            Value::Object(
                map.into_iter()
                    .map(|(k, v)| (k, inline_refs(v, named, depth)))
                    .collect(),
            )
        }
        Value::Array(items) => Value::Array(
            items
                .into_iter()
                .map(|v| inline_refs(v, named, depth))
                .collect(),
        ),
        other => other,
    }
}

/// A schema written by hand (for answers built with `json!`).
pub fn json_schema(value: Value) -> Schema {
    value
}

/// A UUID in a string.
pub fn uuid() -> Schema {
    json!({ "type": "string", "format": "uuid" })
}

/// Any JSON object.
pub fn object() -> Schema {
    json!({ "type": "object" })
}

/// An object with one required property `name` holding `inner` (`{"user": User}`).
pub fn wrapped(name: &str, inner: Schema) -> Schema {
    json!({ "type": "object", "required": [name], "properties": { name: inner } })
}

/// An array of `inner`.
pub fn array(inner: Schema) -> Schema {
    json!({ "type": "array", "items": inner })
}

/// The error shape of `docs/api.md`; `code` is any of `codes`.
pub fn error_schema(codes: &[Code]) -> Schema {
    let names: Vec<&str> = codes.iter().map(|c| c.as_str()).collect();
    json!({
        "type": "object",
        "required": ["error"],
        "properties": {
            "error": {
                "type": "object",
                "required": ["code", "message"],
                "properties": {
                    "code": { "type": "string", "enum": names },
                    "message": { "type": "string" },
                    "details": { "type": "object" }
                }
            }
        }
    })
}

/// Which `Idempotency-Key` guard wraps a path's resource.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Guard {
    None,
    /// [`idempotency::guard`]: token routes.
    Token,
    /// [`idempotency::public_guard`]: registration.
    Public,
}

type RouteFactory = Arc<dyn Fn() -> actix_web::Route + Send + Sync>;

/// One success answer of an operation.
#[derive(Clone)]
struct Answer {
    status: u16,
    description: String,
    content_type: &'static str,
    schema: Option<Schema>,
    links: Map<String, Value>,
    headers: Map<String, Value>,
}

/// A parameter of an operation (path parameters are found in the path).
#[derive(Clone)]
struct Param {
    name: String,
    location: &'static str,
    required: bool,
    schema: Schema,
    description: String,
}

/// One registered route: what actix serves and what the document says of it.
#[derive(Clone)]
pub struct Operation {
    method: &'static str,
    path: String,
    tag: String,
    factory: RouteFactory,
    guard: Guard,
    summary: String,
    description: Option<String>,
    auth: bool,
    body: Option<Schema>,
    answers: Vec<Answer>,
    errors: Vec<Code>,
    params: Vec<Param>,
    internal: bool,
}

impl Operation {
    /// A one-line summary.
    pub fn summary(&mut self, summary: &str) -> &mut Self {
        self.summary = summary.to_owned();
        self
    }

    /// A longer description (the rule, in the words of `docs/api.md`).
    pub fn description(&mut self, text: &str) -> &mut Self {
        self.description = Some(text.to_owned());
        self
    }

    /// The route needs a bearer access token (401 `unauthorized` without one).
    pub fn auth(&mut self) -> &mut Self {
        self.auth = true;
        self
    }

    /// The route's resource is wrapped in [`idempotency::guard`] (token routes).
    pub fn idempotent(&mut self) -> &mut Self {
        self.guard = Guard::Token;
        self
    }

    /// The route's resource is wrapped in [`idempotency::public_guard`] (anonymous callers).
    pub fn idempotent_public(&mut self) -> &mut Self {
        self.guard = Guard::Public;
        self
    }

    /// A JSON request body of this schema (read through `JsonBody`).
    pub fn body(&mut self, schema: Schema) -> &mut Self {
        self.body = Some(schema);
        self
    }

    /// A query parameter.
    pub fn query(&mut self, name: &str, required: bool, schema: Schema, text: &str) -> &mut Self {
        self.params.push(Param {
            name: name.to_owned(),
            location: "query",
            required,
            schema,
            description: text.to_owned(),
        });
        self
    }

    /// A path parameter's schema (default: `integer` for `…_id`, else `string`).
    pub fn path_param(&mut self, name: &str, schema: Schema) -> &mut Self {
        self.params.push(Param {
            name: name.to_owned(),
            location: "path",
            required: true,
            schema,
            description: String::new(),
        });
        self
    }

    /// A header parameter.
    pub fn header(&mut self, name: &str, required: bool, schema: Schema, text: &str) -> &mut Self {
        self.params.push(Param {
            name: name.to_owned(),
            location: "header",
            required,
            schema,
            description: text.to_owned(),
        });
        self
    }

    /// A JSON success answer with `status` (the body is left out when `schema` is `None`).
    pub fn answers(&mut self, status: u16, text: &str, schema: Option<Schema>) -> &mut Self {
        self.answer(status, text, "application/json", schema)
    }

    /// A success answer of another content type.
    pub fn answer(
        &mut self,
        status: u16,
        text: &str,
        content_type: &'static str,
        schema: Option<Schema>,
    ) -> &mut Self {
        self.answers.push(Answer {
            status,
            description: text.to_owned(),
            content_type,
            schema,
            links: Map::new(),
            headers: Map::new(),
        });
        self
    }

    /// An OpenAPI link from the last success answer to the operation `operation_id`
    /// (`parameters` and `request_body` hold runtime expressions such as
    /// `$response.body#/hold_id`).
    pub fn link(
        &mut self,
        name: &str,
        operation_id: &str,
        parameters: Value,
        body: Value,
    ) -> &mut Self {
        if let Some(answer) = self.answers.last_mut() {
            let mut link = json!({ "operationId": operation_id });
            if !parameters.is_null() {
                link["parameters"] = parameters;
            }
            if !body.is_null() {
                link["requestBody"] = body;
            }
            answer.links.insert(name.to_owned(), link);
        }
        self
    }

    /// A response header of the last success answer.
    pub fn answer_header(&mut self, name: &str, text: &str) -> &mut Self {
        if let Some(answer) = self.answers.last_mut() {
            answer.headers.insert(
                name.to_owned(),
                json!({ "description": text, "schema": { "type": "string" } }),
            );
        }
        self
    }

    /// The error codes this route answers besides those every route of its kind answers.
    pub fn errors(&mut self, codes: &[Code]) -> &mut Self {
        for code in codes {
            if !self.errors.contains(code) {
                self.errors.push(*code);
            }
        }
        self
    }

    /// Left out of the gateway's merged document (a route the gateway does not route).
    pub fn internal(&mut self) -> &mut Self {
        self.internal = true;
        self
    }

    /// `getApiBookingsTripsTripIdSeats`: method and path in camel case.
    pub fn operation_id(&self) -> String {
        operation_id(self.method, &self.path)
    }

    pub fn method(&self) -> &'static str {
        self.method
    }

    pub fn path(&self) -> &str {
        &self.path
    }

    pub fn is_internal(&self) -> bool {
        self.internal
    }

    fn path_params(&self) -> Vec<String> {
        self.path
            .split('/')
            .filter_map(|s| s.strip_prefix('{')?.strip_suffix('}'))
            .map(str::to_owned)
            .collect()
    }

    /// Every error code the route answers: its own and those of its kind, in table order.
    pub fn all_errors(&self) -> Vec<Code> {
        let mut codes = self.errors.clone();
        if self.body.is_some() {
            codes.extend([
                Code::InvalidRequest,
                Code::PayloadTooLarge,
                Code::UnsupportedMediaType,
            ]);
        }
        if self.auth {
            codes.push(Code::Unauthorized);
        }
        if !self.path_params().is_empty() {
            codes.extend([Code::InvalidRequest, Code::NotFound]);
        }
        if self.params.iter().any(|p| p.location == "query") {
            codes.push(Code::InvalidRequest);
        }
        if self.guard != Guard::None {
            codes.extend([Code::IdempotencyKeyReused, Code::IdempotencyKeyInUse]);
        }
        codes.extend([Code::Internal, Code::Unavailable]);
        Code::ALL
            .iter()
            .copied()
            .filter(|c| codes.contains(c))
            .collect()
    }

    /// The success statuses and, for each error status, the codes it carries.
    pub fn statuses(&self) -> BTreeMap<u16, Vec<Code>> {
        let mut out: BTreeMap<u16, Vec<Code>> = BTreeMap::new();
        for answer in &self.answers {
            out.entry(answer.status).or_default();
        }
        for code in self.all_errors() {
            out.entry(code.status().as_u16()).or_default().push(code);
        }
        out
    }

    fn document(&self) -> Value {
        let mut op = Map::new();
        op.insert("operationId".into(), self.operation_id().into());
        op.insert("tags".into(), json!([self.tag]));
        op.insert("summary".into(), self.summary.clone().into());
        if let Some(d) = &self.description {
            op.insert("description".into(), d.clone().into());
        }
        let mut params: Vec<Value> = self
            .path_params()
            .into_iter()
            .filter(|name| {
                !self
                    .params
                    .iter()
                    .any(|p| p.location == "path" && &p.name == name)
            })
            .map(|name| {
                json!({
                    "name": name, "in": "path", "required": true,
                    "schema": if name.ends_with("_id") {
                        json!({ "type": "integer", "format": "int64" })
                    } else {
                        json!({ "type": "string" })
                    }
                })
            })
            .collect();
        for p in &self.params {
            params.push(json!({
                "name": p.name, "in": p.location, "required": p.required,
                "description": p.description, "schema": p.schema
            }));
        }
        if self.guard != Guard::None {
            params.push(json!({
                "name": "Idempotency-Key", "in": "header", "required": false,
                "description": "A retry with the same key and body gets the first answer again (docs/api.md).",
                "schema": { "type": "string", "minLength": 1, "maxLength": 255 }
            }));
        }
        if !params.is_empty() {
            op.insert("parameters".into(), params.into());
        }
        if let Some(body) = &self.body {
            op.insert(
                "requestBody".into(),
                json!({ "required": true, "content": { "application/json": { "schema": body } } }),
            );
        }
        if self.auth {
            op.insert("security".into(), json!([{ "bearerAuth": [] }]));
        }
        let mut responses = Map::new();
        for answer in &self.answers {
            let mut r = Map::new();
            r.insert("description".into(), answer.description.clone().into());
            if let Some(schema) = &answer.schema {
                r.insert(
                    "content".into(),
                    json!({ answer.content_type: { "schema": schema } }),
                );
            }
            if !answer.headers.is_empty() {
                r.insert("headers".into(), answer.headers.clone().into());
            }
            if !answer.links.is_empty() {
                r.insert("links".into(), answer.links.clone().into());
            }
            responses.insert(answer.status.to_string(), r.into());
        }
        for (status, codes) in self.statuses() {
            if codes.is_empty() {
                continue;
            }
            let names: Vec<&str> = codes.iter().map(|c| c.as_str()).collect();
            let mut schema = error_schema(&codes);
            let mut description = names.join(", ");
            // A status that is also a success answer's (readiness' 503): either body.
            if let Some(answer) = self.answers.iter().find(|a| a.status == status) {
                if let Some(own) = &answer.schema {
                    schema = json!({ "anyOf": [own, schema] });
                }
                description = format!("{}; or {description}", answer.description);
            }
            responses.insert(
                status.to_string(),
                json!({
                    "description": description,
                    "content": { "application/json": { "schema": schema } }
                }),
            );
        }
        op.insert("responses".into(), responses.into());
        op.into()
    }
}

/// `post` `/api/bookings/{booking_id}/cancel` → `postApiBookingsBookingIdCancel`.
pub fn operation_id(method: &str, path: &str) -> String {
    let mut id = method.to_ascii_lowercase();
    for word in path.split(|c: char| !c.is_ascii_alphanumeric()) {
        let mut chars = word.chars();
        if let Some(first) = chars.next() {
            id.push(first.to_ascii_uppercase());
            id.extend(chars);
        }
    }
    id
}

/// A service's routes and their description.
#[derive(Clone)]
pub struct Api {
    title: String,
    prefix: String,
    tag: String,
    operations: Vec<Operation>,
}

macro_rules! method {
    ($name:ident, $method:literal, $route:ident) => {
        #[doc = concat!("Registers `", $method, " prefix + path`.")]
        pub fn $name<F, Args>(&mut self, path: &str, handler: F) -> &mut Operation
        where
            F: Handler<Args> + Send + Sync,
            Args: FromRequest + 'static,
            F::Output: Responder + 'static,
        {
            self.add(
                $method,
                path,
                Arc::new(move || web::$route().to(handler.clone())),
            )
        }
    };
}

impl Api {
    /// The routes of `title` (the service's name), with paths under `prefix` (may be empty).
    pub fn new(title: &str, prefix: &str) -> Self {
        Self {
            title: title.to_owned(),
            prefix: prefix.to_owned(),
            tag: title.trim_end_matches("-service").to_owned(),
            operations: Vec::new(),
        }
    }

    /// Routes registered after this have paths under `prefix` instead.
    pub fn prefix(&mut self, prefix: &str) -> &mut Self {
        prefix.clone_into(&mut self.prefix);
        self
    }

    /// The prefix of the routes registered next.
    pub fn current_prefix(&self) -> &str {
        &self.prefix
    }

    method!(get, "get", get);
    method!(post, "post", post);
    method!(put, "put", put);
    method!(delete, "delete", delete);

    fn add(&mut self, method: &'static str, path: &str, factory: RouteFactory) -> &mut Operation {
        let path = format!("{}{}", self.prefix, path);
        self.operations.push(Operation {
            method,
            summary: format!("{} {path}", method.to_ascii_uppercase()),
            path,
            tag: self.tag.clone(),
            factory,
            guard: Guard::None,
            description: None,
            auth: false,
            body: None,
            answers: Vec::new(),
            errors: Vec::new(),
            params: Vec::new(),
            internal: false,
        });
        let last = self.operations.len() - 1;
        &mut self.operations[last]
    }

    /// Adds `other`'s routes (the kernel's common routes).
    pub fn merge(&mut self, other: Api) {
        self.operations.extend(other.operations);
    }

    pub fn operations(&self) -> &[Operation] {
        &self.operations
    }

    pub fn title(&self) -> &str {
        &self.title
    }

    /// Registers every route on actix: one resource per path, wrapped in its guard.
    pub fn configure(&self, cfg: &mut web::ServiceConfig) {
        let mut by_path: BTreeMap<&str, Vec<&Operation>> = BTreeMap::new();
        for op in &self.operations {
            by_path.entry(op.path.as_str()).or_default().push(op);
        }
        for (path, ops) in by_path {
            let mut resource = web::resource(path);
            let mut guard = Guard::None;
            for op in ops {
                resource = resource.route((op.factory)());
                if op.guard != Guard::None {
                    guard = op.guard;
                }
            }
            match guard {
                Guard::None => cfg.service(resource),
                Guard::Token => cfg.service(resource.wrap(from_fn(idempotency::guard))),
                Guard::Public => cfg.service(resource.wrap(from_fn(idempotency::public_guard))),
            };
        }
    }

    /// The OpenAPI 3.1 document of these routes (`public_only`: without internal routes).
    pub fn document(&self, public_only: bool) -> Value {
        let mut paths: BTreeMap<String, Map<String, Value>> = BTreeMap::new();
        for op in &self.operations {
            if public_only && op.internal {
                continue;
            }
            paths
                .entry(op.path.clone())
                .or_default()
                .insert(op.method.to_owned(), op.document());
        }
        document(
            &self.title,
            paths.into_iter().map(|(k, v)| (k, v.into())).collect(),
        )
    }
}

/// A whole document around `paths`.
pub fn document(title: &str, paths: Map<String, Value>) -> Value {
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": title,
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Generated from the code (servicekit::openapi); the contract in words is docs/api.md.",
        },
        "paths": paths,
        "components": {
            "securitySchemes": {
                "bearerAuth": { "type": "http", "scheme": "bearer", "bearerFormat": "JWT" }
            },
            "schemas": { "Error": error_schema(Code::ALL) }
        }
    })
}

/// Merges service documents into one (the gateway's): their paths, under `title`.
pub fn merge(title: &str, documents: &[Value]) -> Value {
    let mut paths = Map::new();
    for doc in documents {
        if let Some(p) = doc.get("paths").and_then(Value::as_object) {
            for (k, v) in p {
                paths.insert(k.clone(), v.clone());
            }
        }
    }
    document(title, paths)
}

/// The kernel's own routes, in every service's document.
pub fn common() -> Api {
    use crate::{health, metrics};
    let mut api = Api::new("common", "");
    api.tag = "common".into();
    api.get("/health/live", health::live)
        .summary("Liveness: the process answers")
        .answers(200, "Alive", Some(object()))
        .internal();
    api.get("/health/ready", health::ready)
        .summary("Readiness: the stores answer (degradable ones may be down: 200 degraded)")
        .answers(200, "Ready or degraded", Some(object()))
        .answers(503, "Not ready", Some(object()))
        .internal();
    api.get("/metrics", metrics::scrape)
        .summary("Prometheus metrics")
        .answer(
            200,
            "The exposition format",
            "text/plain",
            Some(json!({ "type": "string" })),
        )
        .internal();
    api
}

/// The document served at [`DOCUMENT_PATH`].
pub struct Served(pub String);

async fn serve_document(doc: web::Data<Served>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/json")
        .body(doc.0.clone())
}

/// Adds `GET /openapi.json` to `api` (its own route, in the document too).
pub fn with_document_route(api: &mut Api) {
    api.prefix("")
        .get(DOCUMENT_PATH, serve_document)
        .summary("This service's OpenAPI 3.1 document")
        .answers(200, "The document", Some(object()))
        .internal();
}

#[cfg(test)]
mod tests;
