//! `Idempotency-Key` on creating POSTs (`servicekit::idempotency`), through a kernel that
//! registered the store: a repeat replays the first answer without running again; the key
//! with another request is 409 `idempotency_key_reused`; a repeat while the first runs is
//! 409 `idempotency_key_in_use`; keys are per caller, kept 24 hours, and a 5xx is not kept;
//! a claim is a lease, renewed while its request runs, so an answer that could not be kept
//! leaves the key free for a retry once the lease lapses.

use crate::support::{self, Running, count, eventually, migrations};
use actix_web::middleware::from_fn;
use actix_web::{HttpResponse, web};
use reqwest::StatusCode;
use serde::Deserialize;
use serde_json::{Value, json};
use servicekit::auth::AuthUser;
use servicekit::db::PgPool;
use servicekit::http::JsonBody;
use servicekit::idempotency;
use servicekit::service::Kernel;
use servicekit::testing::{self, TestEnv, assert_error};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;
use uuid::Uuid;

struct Orders {
    db: PgPool,
    /// Handler runs.
    runs: AtomicUsize,
    /// The next run answers 503.
    fail_next: AtomicBool,
}

#[derive(Deserialize)]
struct Order {
    item: String,
    #[serde(default)]
    slow_ms: u64,
}

async fn create(
    orders: web::Data<Orders>,
    caller: Option<AuthUser>,
    JsonBody(order): JsonBody<Order>,
) -> HttpResponse {
    orders.runs.fetch_add(1, Ordering::SeqCst);
    tokio::time::sleep(Duration::from_millis(order.slow_ms)).await;
    if orders.fail_next.swap(false, Ordering::SeqCst) {
        return HttpResponse::ServiceUnavailable().finish();
    }
    if order.item.is_empty() {
        return HttpResponse::UnprocessableEntity().json(json!({
            "error": {"code": "invalid_item", "message": "the item is empty"}
        }));
    }
    let caller = caller.map_or_else(|| "anonymous".to_owned(), |c| c.id.to_string());
    let id: i64 = orders
        .db
        .get()
        .await
        .unwrap()
        .query_one(
            "INSERT INTO orders (caller, item) VALUES ($1, $2) RETURNING id",
            &[&caller, &order.item],
        )
        .await
        .unwrap()
        .get(0);
    HttpResponse::Created().json(json!({ "id": id, "item": order.item, "caller": caller }))
}

/// A route that needs a token.
async fn create_mine(
    orders: web::Data<Orders>,
    caller: AuthUser,
    body: JsonBody<Order>,
) -> HttpResponse {
    create(orders, Some(caller), body).await
}

async fn list(orders: web::Data<Orders>) -> HttpResponse {
    let n = count(&orders.db, "SELECT count(*) FROM orders").await;
    HttpResponse::Ok().json(json!({ "orders": n }))
}

struct Shop {
    app: Running,
    /// The caller of [`Shop::order`].
    token: String,
    orders: Arc<Orders>,
    db: PgPool,
    _env: TestEnv,
}

async fn start() -> Shop {
    start_leasing(idempotency::LEASE).await
}

/// A shop whose claims hold their keys for `lease` without renewal.
async fn start_leasing(lease: Duration) -> Shop {
    let env = TestEnv::new("kernel").await.unwrap();
    let mut kernel = Kernel::new(support::SERVICE, &support::http()).unwrap();
    let db = kernel.postgres(&env.database, migrations()).await.unwrap();
    kernel
        .verify_tokens(&testing::jwt_settings(false).unwrap())
        .unwrap();
    let mut store = idempotency::IdempotencyStore::new(db.clone());
    store.lease = lease;
    kernel.idempotency_store(store);
    let orders = Arc::new(Orders {
        db: db.clone(),
        runs: AtomicUsize::new(0),
        fail_next: AtomicBool::new(false),
    });
    let data = web::Data::from(orders.clone());
    let app = kernel
        .serve(move |cfg| {
            cfg.app_data(data.clone())
                .service(
                    web::resource("/orders")
                        .wrap(from_fn(idempotency::guard))
                        .route(web::post().to(create))
                        .route(web::get().to(list)),
                )
                .service(
                    web::resource("/orders/express")
                        .wrap(from_fn(idempotency::guard))
                        .route(web::post().to(create)),
                )
                .service(
                    web::resource("/orders/mine")
                        .wrap(from_fn(idempotency::guard))
                        .route(web::post().to(create_mine)),
                )
                .service(
                    web::resource("/orders/public")
                        .wrap(from_fn(idempotency::public_guard))
                        .route(web::post().to(create)),
                );
        })
        .unwrap();
    Shop {
        app: Running::start(app),
        token: testing::user_token(Uuid::new_v4()).unwrap(),
        orders,
        db,
        _env: env,
    }
}

/// How a test request identifies itself.
#[derive(Clone, Copy)]
enum Caller<'a> {
    Anonymous,
    Token(&'a str),
}

impl Shop {
    async fn post(&self, path: &str, key: Option<&str>, caller: Caller<'_>, body: Value) -> Answer {
        let mut req = self.app.client.post(self.app.url(path)).json(&body);
        if let Some(key) = key {
            req = req.header("Idempotency-Key", key);
        }
        if let Caller::Token(token) = caller {
            req = req.bearer_auth(token);
        }
        Answer::of(req.send().await.unwrap()).await
    }

    /// `POST /orders` as the shop's one user.
    async fn order(&self, key: &str, body: Value) -> Answer {
        self.post("/orders", Some(key), Caller::Token(&self.token), body)
            .await
    }

    fn runs(&self) -> usize {
        self.orders.runs.load(Ordering::SeqCst)
    }

    async fn orders(&self) -> i64 {
        count(&self.db, "SELECT count(*) FROM orders").await
    }

    async fn keys(&self) -> i64 {
        count(&self.db, "SELECT count(*) FROM idempotency_keys").await
    }
}

/// A response, read.
#[derive(Debug)]
struct Answer {
    status: StatusCode,
    replayed: bool,
    content_type: String,
    body: Value,
}

impl Answer {
    async fn of(res: reqwest::Response) -> Self {
        let header = |name: &str| {
            res.headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_owned()
        };
        let replayed = header("idempotent-replayed") == "true";
        let content_type = header("content-type");
        let status = res.status();
        let body = res.json().await.unwrap_or(Value::Null);
        Self {
            status,
            replayed,
            content_type,
            body,
        }
    }

    fn code(&self) -> &str {
        self.body["error"]["code"].as_str().unwrap_or_default()
    }
}

#[tokio::test]
async fn a_repeat_with_the_same_key_and_body_replays_the_first_answer_without_running_again() {
    let shop = start().await;
    let first = shop.order("k-1", json!({"item": "tea"})).await;
    assert_eq!(first.status, StatusCode::CREATED);
    assert!(!first.replayed);
    for _ in 0..2 {
        let again = shop.order("k-1", json!({"item": "tea"})).await;
        assert_eq!(again.status, StatusCode::CREATED);
        assert!(again.replayed, "a replay says so");
        assert_eq!(again.body, first.body);
        assert!(again.content_type.starts_with("application/json"));
    }
    assert_eq!(shop.runs(), 1);
    assert_eq!(shop.orders().await, 1);
    shop.app.stop().await;
}

#[tokio::test]
async fn the_same_key_with_another_body_answers_409_idempotency_key_reused() {
    let shop = start().await;
    let first = shop.order("k-2", json!({"item": "tea"})).await;
    assert_eq!(first.status, StatusCode::CREATED);
    let other = shop.order("k-2", json!({"item": "coffee"})).await;
    assert_eq!(other.status, StatusCode::CONFLICT);
    assert_eq!(other.code(), "idempotency_key_reused", "{:?}", other.body);
    assert!(!other.replayed);
    assert_eq!(shop.runs(), 1);
    // The first request still replays.
    assert!(shop.order("k-2", json!({"item": "tea"})).await.replayed);
    shop.app.stop().await;
}

#[tokio::test]
async fn the_same_key_and_body_on_another_path_is_another_request() {
    let shop = start().await;
    let body = json!({"item": "tea"});
    let first = shop.order("k-3", body.clone()).await;
    assert_eq!(first.status, StatusCode::CREATED);
    let express = shop
        .post(
            "/orders/express",
            Some("k-3"),
            Caller::Token(&shop.token),
            body,
        )
        .await;
    assert_eq!(express.status, StatusCode::CONFLICT);
    assert_eq!(express.code(), "idempotency_key_reused");
    assert_eq!(shop.runs(), 1);
    shop.app.stop().await;
}

#[tokio::test]
async fn a_repeat_while_the_first_is_still_running_answers_409_idempotency_key_in_use() {
    let shop = Arc::new(start().await);
    let body = json!({"item": "tea", "slow_ms": 1500});
    let first = {
        let (shop, body) = (shop.clone(), body.clone());
        tokio::spawn(async move { shop.order("k-4", body).await })
    };
    eventually("the first request to claim the key", || async {
        shop.runs() == 1
    })
    .await;
    let meanwhile = shop.order("k-4", body.clone()).await;
    assert_eq!(meanwhile.status, StatusCode::CONFLICT);
    assert_eq!(
        meanwhile.code(),
        "idempotency_key_in_use",
        "{:?}",
        meanwhile.body
    );
    let first = first.await.unwrap();
    assert_eq!(first.status, StatusCode::CREATED);
    let after = shop.order("k-4", body).await;
    assert!(after.replayed);
    assert_eq!(after.body, first.body);
    assert_eq!(shop.runs(), 1);
    let Ok(shop) = Arc::try_unwrap(shop) else {
        panic!("the first request still holds the app")
    };
    shop.app.stop().await;
}

#[tokio::test]
async fn keys_are_kept_per_caller() {
    let shop = start().await;
    let (alice, bob) = (Uuid::new_v4(), Uuid::new_v4());
    let alice_token = testing::user_token(alice).unwrap();
    let bob_token = testing::user_token(bob).unwrap();
    let body = json!({"item": "tea"});
    let callers = [
        (Caller::Token(&alice_token), alice.to_string(), "/orders"),
        (Caller::Token(&bob_token), bob.to_string(), "/orders"),
        (Caller::Anonymous, "anonymous".to_owned(), "/orders/public"),
    ];
    let mut ids = Vec::new();
    for (caller, name, path) in &callers {
        let answer = shop.post(path, Some("k-5"), *caller, body.clone()).await;
        assert_eq!(answer.status, StatusCode::CREATED, "{name}");
        assert!(!answer.replayed, "{name} got another caller's answer");
        assert_eq!(answer.body["caller"], name.as_str());
        ids.push(answer.body["id"].clone());
    }
    for ((caller, name, path), id) in callers.iter().zip(&ids) {
        let again = shop.post(path, Some("k-5"), *caller, body.clone()).await;
        assert!(again.replayed, "{name}");
        assert_eq!(&again.body["id"], id, "{name} got another caller's answer");
    }
    assert_eq!(shop.orders().await, 3);
    shop.app.stop().await;
}

#[tokio::test]
async fn a_request_without_a_valid_token_is_not_guarded_and_nothing_is_kept() {
    let shop = start().await;
    let body = json!({"item": "tea"});
    for caller in [
        Caller::Anonymous,
        Caller::Anonymous,
        Caller::Token("not-a-token"),
    ] {
        let answer = shop
            .post("/orders/mine", Some("k-9"), caller, body.clone())
            .await;
        assert_eq!(answer.status, StatusCode::UNAUTHORIZED, "{:?}", answer.body);
        assert_eq!(answer.code(), "unauthorized");
        assert!(!answer.replayed);
    }
    assert_eq!(shop.keys().await, 0, "an unauthenticated request was kept");
    // The key is still free for the real caller.
    let mine = shop
        .post(
            "/orders/mine",
            Some("k-9"),
            Caller::Token(&shop.token),
            body,
        )
        .await;
    assert_eq!(mine.status, StatusCode::CREATED);
    assert_eq!(shop.keys().await, 1);
    shop.app.stop().await;
}

#[tokio::test]
async fn a_public_route_guards_anonymous_keys_as_the_contract_says() {
    let shop = start().await;
    let post = |body: Value| shop.post("/orders/public", Some("k-10"), Caller::Anonymous, body);
    let tea = post(json!({"item": "tea"})).await;
    assert_eq!(tea.status, StatusCode::CREATED);
    let again = post(json!({"item": "tea"})).await;
    assert!(again.replayed);
    assert_eq!(again.body, tea.body);
    // docs/api.md: the same key with a different body is 409 idempotency_key_reused.
    let coffee = post(json!({"item": "coffee"})).await;
    assert_eq!(coffee.status, StatusCode::CONFLICT, "{:?}", coffee.body);
    assert_eq!(coffee.code(), "idempotency_key_reused");
    assert_eq!(shop.orders().await, 1);
    shop.app.stop().await;
}

#[tokio::test]
async fn a_server_error_is_not_kept_so_a_retry_runs_again() {
    let shop = start().await;
    shop.orders.fail_next.store(true, Ordering::SeqCst);
    let failed = shop.order("k-6", json!({"item": "tea"})).await;
    assert_eq!(failed.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(failed.code(), "unavailable");
    assert_eq!(shop.keys().await, 0, "a 5xx answer was kept");
    let retry = shop.order("k-6", json!({"item": "tea"})).await;
    assert_eq!(retry.status, StatusCode::CREATED);
    assert!(!retry.replayed);
    assert!(shop.order("k-6", json!({"item": "tea"})).await.replayed);
    assert_eq!(shop.runs(), 2);
    assert_eq!(shop.orders().await, 1);
    shop.app.stop().await;
}

#[tokio::test]
async fn a_client_error_is_kept_and_replayed_like_a_success() {
    let shop = start().await;
    let refused = shop.order("k-7", json!({"item": ""})).await;
    assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(refused.code(), "invalid_item");
    let again = shop.order("k-7", json!({"item": ""})).await;
    assert_eq!(again.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(again.replayed);
    assert_eq!(again.body, refused.body);
    assert_eq!(shop.runs(), 1);
    shop.app.stop().await;
}

#[tokio::test]
async fn requests_without_a_key_and_requests_that_are_not_posts_are_not_guarded() {
    let shop = start().await;
    for _ in 0..2 {
        let res = shop
            .post("/orders", None, Caller::Anonymous, json!({"item": "tea"}))
            .await;
        assert_eq!(res.status, StatusCode::CREATED);
        assert!(!res.replayed);
    }
    for expected in [2, 2] {
        let res = shop
            .app
            .client
            .get(shop.app.url("/orders"))
            .header("Idempotency-Key", "k-8")
            .send()
            .await
            .unwrap();
        let answer = Answer::of(res).await;
        assert!(!answer.replayed);
        assert_eq!(answer.body["orders"], expected);
    }
    assert_eq!(shop.runs(), 2);
    assert_eq!(shop.keys().await, 0);
    shop.app.stop().await;
}

#[tokio::test]
async fn a_key_longer_than_255_characters_answers_400_naming_the_header() {
    let shop = start().await;
    let res = shop
        .app
        .client
        .post(shop.app.url("/orders"))
        .bearer_auth(&shop.token)
        .header("Idempotency-Key", "k".repeat(256))
        .json(&json!({"item": "tea"}))
        .send()
        .await
        .unwrap();
    let body = assert_error(res, StatusCode::BAD_REQUEST, "invalid_request").await;
    assert_eq!(body["error"]["details"]["field"], "Idempotency-Key");
    assert_eq!(shop.runs(), 0);
    let longest = shop.order(&"k".repeat(255), json!({"item": "tea"})).await;
    assert_eq!(longest.status, StatusCode::CREATED);
    shop.app.stop().await;
}

#[tokio::test]
async fn a_key_older_than_24_hours_may_be_used_for_a_new_request() {
    let shop = start().await;
    let first = shop.order("k-9", json!({"item": "tea"})).await;
    assert_eq!(first.status, StatusCode::CREATED);
    shop.db
        .get()
        .await
        .unwrap()
        .execute(
            "UPDATE idempotency_keys SET created_at = now() - interval '25 hours'",
            &[],
        )
        .await
        .unwrap();
    let second = shop.order("k-9", json!({"item": "coffee"})).await;
    assert_eq!(second.status, StatusCode::CREATED);
    assert!(!second.replayed);
    assert_ne!(second.body["id"], first.body["id"]);
    let again = shop.order("k-9", json!({"item": "coffee"})).await;
    assert!(again.replayed);
    assert_eq!(again.body, second.body);
    assert_eq!(shop.orders().await, 2);
    shop.app.stop().await;
}

/// Issue 16: the handler ran, but its answer could not be written after it (here a check
/// constraint refuses it; in the field the database went away). The key must not stay
/// `idempotency_key_in_use` for 24 hours: once the claim's lease lapses, a retry runs again.
#[tokio::test]
async fn an_answer_that_could_not_be_kept_frees_the_key_once_the_lease_lapses() {
    let shop = start_leasing(Duration::from_secs(1)).await;
    let db = shop.db.get().await.unwrap();
    db.batch_execute(
        "ALTER TABLE idempotency_keys ADD CONSTRAINT no_answers CHECK (status IS NULL) NOT VALID",
    )
    .await
    .unwrap();
    let lost = shop.order("k-11", json!({"item": "tea"})).await;
    assert!(lost.status.is_server_error(), "{lost:?}");
    assert_eq!(shop.runs(), 1);
    db.batch_execute("ALTER TABLE idempotency_keys DROP CONSTRAINT no_answers")
        .await
        .unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let retried = loop {
        let answer = shop.order("k-11", json!({"item": "tea"})).await;
        if answer.status == StatusCode::CREATED {
            break answer;
        }
        assert_eq!(answer.code(), "idempotency_key_in_use", "{answer:?}");
        assert!(
            std::time::Instant::now() < deadline,
            "the key stayed in use past its lease"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(!retried.replayed);
    assert_eq!(shop.runs(), 2);
    let again = shop.order("k-11", json!({"item": "tea"})).await;
    assert!(again.replayed);
    assert_eq!(again.body, retried.body);
    shop.app.stop().await;
}

/// The lease is renewed while the request runs: a request slower than the lease still holds
/// its key, and runs once.
#[tokio::test]
async fn a_request_running_past_its_lease_keeps_its_key() {
    let shop = Arc::new(start_leasing(Duration::from_millis(600)).await);
    let body = json!({"item": "tea", "slow_ms": 2500});
    let first = {
        let (shop, body) = (shop.clone(), body.clone());
        tokio::spawn(async move { shop.order("k-12", body).await })
    };
    eventually("the first request to claim the key", || async {
        shop.runs() == 1
    })
    .await;
    // Wait past the lease (not a speed assertion: the claim must outlive it).
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let meanwhile = shop.order("k-12", body.clone()).await;
    assert_eq!(meanwhile.code(), "idempotency_key_in_use", "{meanwhile:?}");
    let first = first.await.unwrap();
    assert_eq!(first.status, StatusCode::CREATED);
    assert_eq!(shop.runs(), 1);
    let Ok(shop) = Arc::try_unwrap(shop) else {
        panic!("the first request still holds the app")
    };
    shop.app.stop().await;
}
