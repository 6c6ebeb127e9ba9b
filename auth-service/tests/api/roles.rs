//! `PUT /api/auth/users/{user_id}/roles`: who may set roles, what a body may say, the
//! last-admin rule, and that a change shows in the tokens from the next refresh.

use crate::helpers::{
    Accounts, Registered, TestApp, assert_error, claims, pool, spawn_app, token_roles,
};
use auth_service::admin::{self, NewAdmin};
use reqwest::{Method, Response, StatusCode};
use serde_json::{Value, json};
use servicekit::auth::{Role, Roles};
use servicekit::testing::{keys, sign_legacy_token, sign_token};
use uuid::Uuid;

/// `PUT /api/auth/users/{user}/roles` with `body`, as the holder of `token`.
async fn put_roles(app: &TestApp, token: &str, user: &str, body: &Value) -> Response {
    app.with_token(token)
        .request(Method::PUT, &format!("/api/auth/users/{user}/roles"))
        .json(body)
        .send()
        .await
        .unwrap()
}

/// An account made admin by the command (as an operator makes the first one); its login.
async fn admin(app: &TestApp) -> (Registered, Value) {
    let user = app.register().await;
    admin::create(
        &pool(app),
        NewAdmin {
            email: user.email.clone(),
            password: None,
            name: "Ops".into(),
            phone: None,
        },
    )
    .await
    .unwrap();
    let tokens = app.login(&user.email, &user.password).await;
    (user, tokens)
}

fn access(tokens: &Value) -> &str {
    tokens["access_token"].as_str().unwrap()
}

async fn refreshed(app: &TestApp, tokens: &Value) -> Value {
    let res = app
        .post_json(
            "/api/auth/refresh",
            &json!({"refresh_token": tokens["refresh_token"]}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    res.json().await.unwrap()
}

async fn ok_user(res: Response) -> Value {
    assert_eq!(res.status(), StatusCode::OK);
    let body: Value = res.json().await.unwrap();
    body["user"].clone()
}

#[tokio::test]
async fn a_granted_role_shows_after_refresh_and_a_taken_one_goes() {
    let app = spawn_app().await;
    let (_, admin_tokens) = admin(&app).await;
    let karim = app.register().await;
    let tokens = app.login(&karim.email, &karim.password).await;
    assert_eq!(claims(access(&tokens))["roles"], json!([]));

    let res = put_roles(
        &app,
        access(&admin_tokens),
        &karim.id,
        &json!({"roles": ["conductor"]}),
    )
    .await;
    let user = ok_user(res).await;
    assert_eq!(user["id"], karim.id.as_str());
    assert_eq!(user["roles"], json!(["conductor", "passenger"]));
    // The token issued before keeps what it claimed; the next refresh reads the database.
    assert_eq!(token_roles(access(&tokens)), Roles::PASSENGER);
    let tokens = refreshed(&app, &tokens).await;
    assert_eq!(claims(access(&tokens))["roles"], json!(["conductor"]));
    assert_eq!(claims(access(&tokens))["role"], "user");
    assert_eq!(token_roles(access(&tokens)), Roles::of(&[Role::Conductor]));
    let me = app
        .with_token(access(&tokens))
        .get_json("/api/auth/me")
        .await;
    assert_eq!(me["user"]["roles"], json!(["conductor", "passenger"]));

    // Both roles, in a stable order whatever the order asked.
    let res = put_roles(
        &app,
        access(&admin_tokens),
        &karim.id,
        &json!({"roles": ["conductor", "admin", "passenger", "admin"]}),
    )
    .await;
    assert_eq!(
        ok_user(res).await["roles"],
        json!(["admin", "conductor", "passenger"])
    );
    let tokens = refreshed(&app, &tokens).await;
    assert_eq!(claims(access(&tokens))["role"], "admin");

    // Taking every role back: a passenger again, from the next refresh and sign-in.
    let res = put_roles(
        &app,
        access(&admin_tokens),
        &karim.id,
        &json!({"roles": []}),
    )
    .await;
    assert_eq!(ok_user(res).await["roles"], json!(["passenger"]));
    let tokens = refreshed(&app, &tokens).await;
    assert_eq!(token_roles(access(&tokens)), Roles::PASSENGER);
    let login = app.login(&karim.email, &karim.password).await;
    assert_eq!(token_roles(access(&login)), Roles::PASSENGER);
}

#[tokio::test]
async fn only_an_admin_sets_roles() {
    let app = spawn_app().await;
    let (boss, _) = admin(&app).await;
    let karim = app.register().await;
    let karim_tokens = app.login(&karim.email, &karim.password).await;
    let body = json!({"roles": ["admin"]});

    let res = put_roles(&app, access(&karim_tokens), &karim.id, &body).await;
    assert_error(res, StatusCode::FORBIDDEN, "forbidden").await;
    let conductor = sign_token(Uuid::new_v4(), "conductor", &keys().unwrap().private).unwrap();
    let res = put_roles(&app, &conductor, &karim.id, &body).await;
    assert_error(res, StatusCode::FORBIDDEN, "forbidden").await;
    let res = app
        .request(Method::PUT, &format!("/api/auth/users/{}/roles", karim.id))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_error(res, StatusCode::UNAUTHORIZED, "unauthorized").await;
    // A token that claims admin for an account that is not one (a stale or forged claim
    // signed by the key) is refused too: the route reads the caller's roles.
    let claimed = sign_token(Uuid::new_v4(), "admin", &keys().unwrap().private).unwrap();
    let res = put_roles(&app, &claimed, &karim.id, &body).await;
    assert_error(res, StatusCode::FORBIDDEN, "forbidden").await;
    let me = app
        .with_token(access(&karim_tokens))
        .get_json("/api/auth/me")
        .await;
    assert_eq!(me["user"]["roles"], json!(["passenger"]), "nothing changed");

    // A token issued before roles were a set (`"role": "admin"`) still acts as an admin.
    let old = sign_legacy_token(
        Uuid::parse_str(&boss.id).unwrap(),
        "admin",
        &keys().unwrap().private,
    )
    .unwrap();
    let res = put_roles(&app, &old, &karim.id, &json!({"roles": ["conductor"]})).await;
    assert_eq!(
        ok_user(res).await["roles"],
        json!(["conductor", "passenger"])
    );
}

#[tokio::test]
async fn an_unknown_user_is_404_and_a_bad_body_400() {
    let app = spawn_app().await;
    let (_, tokens) = admin(&app).await;
    let token = access(&tokens);
    let karim = app.register().await;

    let res = put_roles(
        &app,
        token,
        &Uuid::new_v4().to_string(),
        &json!({"roles": []}),
    )
    .await;
    assert_error(res, StatusCode::NOT_FOUND, "not_found").await;

    for body in [
        json!({"roles": ["pilot"]}),
        json!({"roles": ["conductor", "Admin"]}),
        json!({"roles": ["user"]}),
    ] {
        let res = put_roles(&app, token, &karim.id, &body).await;
        let error = assert_error(res, StatusCode::BAD_REQUEST, "invalid_request").await;
        assert_eq!(error["error"]["details"]["field"], "roles", "{body}");
    }
    for body in [
        json!({}),
        json!({"roles": "admin"}),
        json!({"roles": [1]}),
        json!(["admin"]),
    ] {
        let res = put_roles(&app, token, &karim.id, &body).await;
        assert_error(res, StatusCode::BAD_REQUEST, "invalid_request").await;
    }
    let res = put_roles(&app, token, "not-a-uuid", &json!({"roles": []})).await;
    assert_error(res, StatusCode::BAD_REQUEST, "invalid_request").await;

    // `passenger` alone is accepted: it is everyone's.
    let res = put_roles(&app, token, &karim.id, &json!({"roles": ["passenger"]})).await;
    assert_eq!(ok_user(res).await["roles"], json!(["passenger"]));
}

#[tokio::test]
async fn the_last_admin_keeps_the_role() {
    let app = spawn_app().await;
    let (boss, boss_tokens) = admin(&app).await;
    let token = access(&boss_tokens);

    let res = put_roles(&app, token, &boss.id, &json!({"roles": ["conductor"]})).await;
    let error = assert_error(res, StatusCode::CONFLICT, "last_admin").await;
    assert!(
        error["error"]["message"]
            .as_str()
            .unwrap()
            .contains("only admin")
    );
    // Changing the admin's other roles is no removal.
    let res = put_roles(
        &app,
        token,
        &boss.id,
        &json!({"roles": ["admin", "conductor"]}),
    )
    .await;
    assert_eq!(
        ok_user(res).await["roles"],
        json!(["admin", "conductor", "passenger"])
    );

    // With a second admin, the first may step down; then the second is the last.
    let deputy = app.register().await;
    let res = put_roles(&app, token, &deputy.id, &json!({"roles": ["admin"]})).await;
    assert_eq!(res.status(), StatusCode::OK);
    let res = put_roles(&app, token, &boss.id, &json!({"roles": []})).await;
    assert_eq!(ok_user(res).await["roles"], json!(["passenger"]));
    let deputy_tokens = app.login(&deputy.email, &deputy.password).await;
    let res = put_roles(
        &app,
        access(&deputy_tokens),
        &deputy.id,
        &json!({"roles": []}),
    )
    .await;
    assert_error(res, StatusCode::CONFLICT, "last_admin").await;
    // The former admin's token still claims the role, but the route reads the database.
    let res = put_roles(&app, token, &deputy.id, &json!({"roles": []})).await;
    assert_error(res, StatusCode::FORBIDDEN, "forbidden").await;
}

#[tokio::test]
async fn two_admins_demoting_each_other_at_once_leave_one() {
    let app = spawn_app().await;
    let (a, a_tokens) = admin(&app).await;
    let (b, b_tokens) = admin(&app).await;
    let none = json!({"roles": []});
    let (first, second) = tokio::join!(
        put_roles(&app, access(&a_tokens), &b.id, &none),
        put_roles(&app, access(&b_tokens), &a.id, &none),
    );
    let statuses = [first.status(), second.status()];
    assert_eq!(
        statuses.iter().filter(|s| **s == StatusCode::OK).count(),
        1,
        "{statuses:?}"
    );
    let admins: i64 = app
        .db()
        .await
        .query_one(
            "SELECT count(*) FROM users WHERE 'admin' = ANY (roles)",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(admins, 1);
}
