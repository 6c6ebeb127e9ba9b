use super::*;

async fn ok() -> HttpResponse {
    HttpResponse::Ok().finish()
}

fn sample() -> Api {
    let mut api = Api::new("sample-service", "/api/sample");
    api.post("/things", ok)
        .auth()
        .idempotent()
        .body(json!({ "type": "object" }))
        .answers(201, "Made", Some(object()))
        .errors(&[Code::AlreadyExists]);
    api.get("/things/{thing_id}", ok)
        .answers(200, "The thing", Some(object()));
    api
}

#[test]
fn the_error_shape_names_every_code_of_the_table() {
    let doc = sample().document(false);
    let names =
        &doc["components"]["schemas"]["Error"]["properties"]["error"]["properties"]["code"]["enum"];
    let expected: Vec<&str> = Code::ALL.iter().map(|c| c.as_str()).collect();
    assert_eq!(names, &json!(expected));
}

#[test]
fn each_error_status_carries_exactly_the_codes_of_that_status() {
    let api = sample();
    let post = &api.operations()[0];
    let statuses = post.statuses();
    assert_eq!(
        statuses.keys().copied().collect::<Vec<_>>(),
        vec![201, 400, 401, 409, 413, 415, 500, 503]
    );
    assert_eq!(
        statuses[&409],
        vec![
            Code::AlreadyExists,
            Code::IdempotencyKeyReused,
            Code::IdempotencyKeyInUse
        ]
    );
    let doc = api.document(false);
    let enum_409 = &doc["paths"]["/api/sample/things"]["post"]["responses"]["409"]["content"]["application/json"]
        ["schema"]["properties"]["error"]["properties"]["code"]["enum"];
    assert_eq!(
        enum_409,
        &json!([
            "already_exists",
            "idempotency_key_reused",
            "idempotency_key_in_use"
        ])
    );
    for (status, codes) in statuses {
        for code in codes {
            assert_eq!(code.status().as_u16(), status, "{code}");
        }
    }
}

#[test]
fn path_ids_add_400_and_404_and_an_integer_parameter() {
    let doc = sample().document(false);
    let get = &doc["paths"]["/api/sample/things/{thing_id}"]["get"];
    assert_eq!(get["parameters"][0]["schema"]["type"], "integer");
    assert!(get["responses"]["404"].is_object());
    assert!(get["responses"]["400"].is_object());
    assert!(get["security"].is_null());
    assert_eq!(get["operationId"], "getApiSampleThingsThingId");
}

#[test]
fn internal_routes_stay_out_of_the_public_document() {
    let mut api = sample();
    api.prefix("")
        .get("/internal/x", ok)
        .answers(200, "x", None)
        .internal();
    assert!(api.document(false)["paths"]["/internal/x"].is_object());
    assert!(api.document(true)["paths"]["/internal/x"].is_null());
}

#[actix_web::test]
async fn actix_serves_exactly_the_documented_routes() {
    let api = sample();
    let app =
        actix_web::test::init_service(actix_web::App::new().configure(|cfg| api.configure(cfg)))
            .await;
    let doc = api.document(false);
    let mut served = 0;
    for (path, item) in doc["paths"].as_object().into_iter().flatten() {
        for method in item.as_object().into_iter().flatten().map(|(m, _)| m) {
            let uri = path.replace("{thing_id}", "1");
            let req = actix_web::test::TestRequest::default()
                .method(method.to_uppercase().parse().unwrap_or_default())
                .uri(&uri)
                .to_request();
            let res = actix_web::test::call_service(&app, req).await;
            assert_ne!(res.status().as_u16(), 404, "{method} {uri}");
            served += 1;
        }
    }
    assert_eq!(served, 2);
}

#[test]
fn the_document_route_is_at_the_root_whatever_the_services_prefix() {
    let mut api = sample();
    with_document_route(&mut api);
    let doc = api.document(false);
    assert!(doc["paths"][DOCUMENT_PATH]["get"].is_object());
    assert!(doc["paths"]["/api/sample/openapi.json"].is_null());
}

/// RFC 9110 §15.5.6: a 405 names the methods the resource has (Schemathesis'
/// `unsupported_method` check found the header missing on every route).
#[actix_web::test]
async fn a_method_the_path_does_not_have_is_405_in_the_error_shape_with_allow() {
    let mut api = sample();
    api.get("/things", ok)
        .answers(200, "The things", Some(object()));
    // Through the middleware every service has: it reshapes actix's own 405 into the error
    // shape, and used to drop actix's Allow header doing so.
    let app = actix_web::test::init_service(
        actix_web::App::new()
            .configure(|cfg| api.configure(cfg))
            .wrap(from_fn(crate::http::normalize_errors)),
    )
    .await;
    for (method, uri, allow) in [
        ("TRACE", "/api/sample/things", "GET, POST"),
        ("DELETE", "/api/sample/things/1", "GET"),
    ] {
        let req = actix_web::test::TestRequest::default()
            .method(method.parse().unwrap_or_default())
            .uri(uri)
            .to_request();
        let res = actix_web::test::call_service(&app, req).await;
        assert_eq!(res.status().as_u16(), 405, "{method} {uri}");
        let mut methods: Vec<String> = res
            .headers()
            .get("allow")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .split(',')
            .map(|m| m.trim().to_owned())
            .collect();
        methods.sort();
        assert_eq!(methods.join(", "), allow, "{method} {uri}");
        let body: Value = actix_web::test::read_body_json(res).await;
        assert_eq!(body["error"]["code"], "method_not_allowed");
    }
}
