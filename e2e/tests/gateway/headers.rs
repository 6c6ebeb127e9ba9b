//! Headers on every kind of answer (nginx drops a level's add_header in a location that
//! declares its own, so each kind is checked), request ids, caching, compression and the
//! web app's routes.

use crate::support::{self, FakeUpstream, WebRoot, assert_error_shape};
use e2e::gateway::Profile;
use reqwest::header::HeaderMap;
use serde_json::Value;

const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
                   connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'self'; \
                   form-action 'self'; frame-ancestors 'none'";

fn assert_security_headers(what: &str, headers: &HeaderMap) {
    let one = |name: &str| {
        let values: Vec<_> = headers.get_all(name).iter().collect();
        assert_eq!(values.len(), 1, "{what}: {name} {values:?}");
        values[0].to_str().unwrap().to_owned()
    };
    assert_eq!(one("x-content-type-options"), "nosniff", "{what}");
    assert_eq!(one("x-frame-options"), "DENY", "{what}");
    assert_eq!(one("referrer-policy"), "same-origin", "{what}");
    assert_eq!(one("content-security-policy"), CSP, "{what}");
    assert!(!one("x-request-id").is_empty(), "{what}");
    // server_tokens off: no version.
    assert_eq!(one("server"), "nginx", "{what}");
}

#[tokio::test]
async fn every_kind_of_answer_carries_the_security_headers() {
    let upstream = FakeUpstream::start().await;
    let web = WebRoot::new();
    let gw = support::gateway_with(&upstream, &web, Profile::Default, &[]).await;
    let client = support::client();
    let get = |path: &str| client.get(format!("{}{path}", gw.url)).send();

    // A service's answer (which sent its own X-Frame-Options: replaced, not doubled).
    let res = get("/api/trains/stations").await.unwrap();
    assert_eq!(res.status(), 200);
    assert_security_headers("api", res.headers());
    assert!(res.headers().get("retry-after").is_none());

    // Errors the gateway makes.
    let res = get("/api/nope").await.unwrap();
    assert_eq!(res.status(), 404);
    assert_security_headers("404", res.headers());
    assert!(res.headers().get("cache-control").is_none());

    // The app: index.html and a hashed asset.
    let res = get("/").await.unwrap();
    assert_eq!(res.status(), 200);
    assert_security_headers("index", res.headers());
    assert_eq!(res.headers()["cache-control"], "no-cache");
    assert!(
        res.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );

    let res = get("/assets/index-8d1b7f40.css").await.unwrap();
    assert_eq!(res.status(), 200);
    assert_security_headers("asset", res.headers());
    assert_eq!(
        res.headers()["cache-control"],
        "public, max-age=31536000, immutable"
    );
    assert_eq!(res.headers()["content-type"], "text/css");

    // A rate-limited answer (the location of the seat limit, with its own limit).
    let gw2 = support::gateway_with(
        &upstream,
        &web,
        Profile::Default,
        &[("LIMIT_SEATS_RATE", "1r/m")],
    )
    .await;
    let burst = support::limit_number(Profile::Default, "LIMIT_SEATS_BURST");
    let mut last = None;
    for _ in 0..=burst + 1 {
        last = Some(
            client
                .post(format!("{}/api/bookings/seats/select", gw2.url))
                .body("{}")
                .send()
                .await
                .unwrap(),
        );
    }
    let res = last.unwrap();
    assert_eq!(res.status(), 429);
    assert_security_headers("429", res.headers());
    assert_eq!(
        res.headers()["retry-after"],
        support::limit(Profile::Default, "LIMIT_SEATS_RETRY_AFTER").as_str()
    );
}

#[tokio::test]
async fn the_request_id_is_made_or_passed_on_to_the_service_and_back() {
    let upstream = FakeUpstream::start().await;
    let web = WebRoot::new();
    let gw = support::gateway_with(&upstream, &web, Profile::Default, &[]).await;
    let client = support::client();
    let url = format!("{}/api/trains/stations", gw.url);

    // None sent: nginx makes one (32 hex digits); the service got the same.
    let res = client.get(&url).send().await.unwrap();
    let id = res.headers()["x-request-id"].to_str().unwrap().to_owned();
    assert!(
        id.len() == 32 && id.bytes().all(|b| b.is_ascii_hexdigit()),
        "{id}"
    );
    let seen: Value = res.json().await.unwrap();
    assert_eq!(seen["request_id"], id.as_str());

    // A well-formed one is kept.
    let res = client
        .get(&url)
        .header("X-Request-Id", "client-42.a:b")
        .send()
        .await
        .unwrap();
    assert_eq!(res.headers()["x-request-id"], "client-42.a:b");
    let seen: Value = res.json().await.unwrap();
    assert_eq!(seen["request_id"], "client-42.a:b");

    // A malformed one is replaced.
    let res = client
        .get(&url)
        .header("X-Request-Id", "bad id;drop")
        .send()
        .await
        .unwrap();
    let id = res.headers()["x-request-id"].to_str().unwrap().to_owned();
    assert_eq!(id.len(), 32, "{id}");

    // Errors carry it too.
    let res = client
        .get(format!("{}/api/nope", gw.url))
        .header("X-Request-Id", "err-1")
        .send()
        .await
        .unwrap();
    assert_eq!(res.headers()["x-request-id"], "err-1");
}

#[tokio::test]
async fn the_web_app_is_served_compressed_and_any_other_path_is_its_index() {
    let upstream = FakeUpstream::start().await;
    let web = WebRoot::new();
    let gw = support::gateway_with(&upstream, &web, Profile::Default, &[]).await;
    let client = support::client();

    // Client-side routes live in the fragment; any unknown non-/api path is index.html.
    for path in ["/", "/index.html", "/search", "/bookings/123"] {
        let res = client
            .get(format!("{}{path}", gw.url))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200, "{path}");
        assert!(
            res.text().await.unwrap().contains("<div id=\"app\">"),
            "{path}"
        );
    }

    let res = client
        .get(format!("{}/assets/index-3f9a1c2e.js", gw.url))
        .header("Accept-Encoding", "gzip")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["content-encoding"], "gzip");
    assert_eq!(res.headers()["content-type"], "application/javascript");
    assert_eq!(res.headers()["vary"], "Accept-Encoding");
    let size = std::fs::metadata(web.path().join("assets/index-3f9a1c2e.js"))
        .unwrap()
        .len();
    assert!((res.bytes().await.unwrap().len() as u64) < size / 4);

    // POST to a static path is not allowed, in the error shape.
    let res = client
        .post(format!("{}/assets/index-8d1b7f40.css", gw.url))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 405);
    assert_error_shape(&res.text().await.unwrap(), "method_not_allowed");
}

#[tokio::test]
async fn the_api_reference_and_the_merged_document_are_served_from_the_web_root() {
    use std::os::unix::fs::PermissionsExt;
    let upstream = FakeUpstream::start().await;
    let web = WebRoot::new();
    // What the web build puts there (web/vite.config.js): the page and the merged document.
    let docs = web.path().join("api/docs");
    std::fs::create_dir_all(&docs).unwrap();
    let document = e2e::gateway::repo_root().join("docs/openapi.json");
    std::fs::copy(&document, docs.join("openapi.json")).unwrap();
    std::fs::write(docs.join("index.html"), "<div id=\"swagger-ui\"></div>\n").unwrap();
    for d in [web.path().join("api"), docs.clone()] {
        std::fs::set_permissions(d, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let gw = support::gateway_with(&upstream, &web, Profile::Default, &[]).await;
    let client = support::client();

    let res = client
        .get(format!("{}/api/docs/openapi.json", gw.url))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["content-type"], "application/json");
    assert!(
        res.headers()["content-security-policy"]
            .to_str()
            .unwrap()
            .contains("script-src 'self'")
    );
    let doc: serde_json::Value = res.json().await.unwrap();
    assert_eq!(doc["openapi"], "3.1.0");
    assert!(doc["paths"]["/api/bookings/seats/select"]["post"].is_object());

    for path in ["/api/docs/", "/api/docs"] {
        let res = client
            .get(format!("{}{path}", gw.url))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200, "{path}");
        assert!(res.text().await.unwrap().contains("swagger-ui"), "{path}");
    }
    // A missing file under /api/docs/ is a JSON 404 of the gateway's, not a service's.
    let res = client
        .get(format!("{}/api/docs/nope.js", gw.url))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 404);
    assert_error_shape(&res.text().await.unwrap(), "not_found");
    assert_eq!(upstream.hits(), 0);
}
