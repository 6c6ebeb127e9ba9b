//! The parked-message routes ([`crate::parked::routes`]) checked over HTTP on a running
//! service, with a poison message its real consumer refuses: every consuming service's tests
//! call [`check_parked_routes`] with their own queue and poison.

use super::app::TestApp;
use super::eventually::{eventually, poll};
use super::http::assert_error;
use super::keys::{keys, sign_token};
use crate::amqp::Envelope;
use reqwest::StatusCode;
use serde_json::{Value, json};
use uuid::Uuid;

/// A token of a new user with `role` (`passenger`, `conductor`, `admin`).
fn token(role: &str) -> String {
    let signed = keys().and_then(|k| sign_token(Uuid::new_v4(), role, &k.private));
    match signed {
        Ok(token) => token,
        Err(e) => panic!("signing a test token: {e:#}"),
    }
}

/// The parking queue of the service's `queue` holds `n` messages.
async fn wait_parked(app: &TestApp, queue: &str, n: u32) {
    let parking = format!("{}.parked", app.queue(queue));
    eventually(&format!("{n} message(s) in {parking}"), || async {
        app.queue_depth(&parking).await == n
    })
    .await;
}

/// `queue`'s entry of `GET <prefix>/admin/parked` as `admin` sees it.
async fn listed(app: &TestApp, prefix: &str, admin: &str, queue: &str) -> Value {
    let body = app
        .with_token(admin)
        .get_json(&format!("{prefix}/admin/parked"))
        .await;
    let queues = body["queues"].as_array().cloned().unwrap_or_default();
    match queues.into_iter().find(|q| q["queue"] == queue) {
        Some(entry) => entry,
        None => panic!("{queue} is not listed: {body}"),
    }
}

async fn post(app: &TestApp, token: Option<&str>, path: &str, body: &Value) -> reqwest::Response {
    match token {
        Some(token) => app.with_token(token).post_json(path, body).await,
        None => app.post_json(path, body).await,
    }
}

/// Parks `poison` (published to the service's exchange; its consumer of `queue` must refuse
/// it), then checks the three routes under `prefix` (`/api/bookings`, ...): the listing shows
/// it; passengers, conductors and anonymous callers are refused, an unknown queue is 404 and a
/// bad body 400; replayed by its id it is handled again and, its cause not fixed, parks
/// again; an id not parked replays nothing; dropped (all), it is gone. Every other queue of
/// the service is listed with nothing parked.
pub async fn check_parked_routes(app: &TestApp, prefix: &str, queue: &str, poison: &Envelope) {
    let admin = token("admin");
    let list_path = format!("{prefix}/admin/parked");
    let replay_path = format!("{prefix}/admin/parked/{queue}/replay");
    let drop_path = format!("{prefix}/admin/parked/{queue}/drop");
    app.publish_envelope(poison).await;
    wait_parked(app, queue, 1).await;

    let body = app.with_token(&admin).get_json(&list_path).await;
    let queues = body["queues"].as_array().cloned().unwrap_or_default();
    assert!(queues.iter().any(|q| q["queue"] == queue), "{body}");
    for other in queues.iter().filter(|q| q["queue"] != queue) {
        assert_eq!(other["count"], 0, "{body}");
        assert_eq!(other["messages"], json!([]), "{body}");
    }
    let entry = listed(app, prefix, &admin, queue).await;
    assert_eq!(entry["count"], 1, "{entry}");
    let message = &entry["messages"][0];
    assert_eq!(
        message["message_id"],
        poison.event_id.to_string(),
        "{entry}"
    );
    assert_eq!(message["type"], poison.kind, "{entry}");
    assert_eq!(message["reason"], "rejected", "{entry}");
    assert_eq!(message["times_parked"], 1, "{entry}");
    assert_eq!(message["body"]["event_id"], poison.event_id.to_string());
    assert_eq!(message["body"]["payload"], poison.payload, "{entry}");
    let parked_at = message["parked_at"]
        .as_str()
        .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
        .map(|t| t.with_timezone(&chrono::Utc));
    assert!(
        parked_at.is_some_and(|t| chrono::Utc::now() - t < chrono::Duration::minutes(5)),
        "{entry}"
    );

    // Only an admin.
    let one = json!({ "message_ids": [poison.event_id] });
    for role in ["passenger", "conductor"] {
        let caller = token(role);
        let res = app.with_token(&caller).get(&list_path).await;
        assert_error(res, StatusCode::FORBIDDEN, "forbidden").await;
        for path in [&replay_path, &drop_path] {
            let res = post(app, Some(&caller), path, &one).await;
            assert_error(res, StatusCode::FORBIDDEN, "forbidden").await;
        }
    }
    assert_error(
        app.get(&list_path).await,
        StatusCode::UNAUTHORIZED,
        "unauthorized",
    )
    .await;
    let res = post(app, None, &replay_path, &one).await;
    assert_error(res, StatusCode::UNAUTHORIZED, "unauthorized").await;
    // A queue that is not the service's, and bodies that name nothing.
    for action in ["replay", "drop"] {
        let path = format!("{prefix}/admin/parked/no.such-queue/{action}");
        let res = post(app, Some(&admin), &path, &json!({ "all": true })).await;
        let body = assert_error(res, StatusCode::NOT_FOUND, "not_found").await;
        let named = body["error"]["details"]["queues"].as_array().cloned();
        assert!(named.is_some_and(|q| q.contains(&json!(queue))), "{body}");
    }
    for bad in [
        json!({}),
        json!({ "all": false }),
        json!({ "message_ids": [] }),
        json!({ "message_ids": ["not-a-uuid"] }),
        json!({ "message_ids": [poison.event_id], "all": true }),
    ] {
        let res = post(app, Some(&admin), &replay_path, &bad).await;
        let body = assert_error(res, StatusCode::BAD_REQUEST, "invalid_request").await;
        assert!(
            body["error"]["details"]["field"]
                .as_str()
                .is_some_and(|f| f.starts_with("message_ids")),
            "{bad}: {body}"
        );
    }
    // Nothing was taken by the refused calls.
    wait_parked(app, queue, 1).await;

    // Replayed: the consumer handles it again and, the cause not fixed, parks it again.
    let res = post(app, Some(&admin), &replay_path, &one).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(
        res.json::<Value>().await.ok(),
        Some(json!({ "replayed": 1 }))
    );
    let again = poll("the replayed message to park again", || async {
        let entry = listed(app, prefix, &admin, queue).await;
        if entry["messages"][0]["times_parked"] == 2 {
            Ok(entry)
        } else {
            Err(entry)
        }
    })
    .await;
    assert_eq!(again["count"], 1, "{again}");
    assert_eq!(
        again["messages"][0]["message_id"],
        poison.event_id.to_string()
    );

    // An id that is not parked: nothing replayed, nothing dropped.
    let other = json!({ "message_ids": [Uuid::now_v7()] });
    let res = post(app, Some(&admin), &replay_path, &other).await;
    assert_eq!(
        res.json::<Value>().await.ok(),
        Some(json!({ "replayed": 0 }))
    );
    let res = post(app, Some(&admin), &drop_path, &other).await;
    assert_eq!(
        res.json::<Value>().await.ok(),
        Some(json!({ "dropped": 0 }))
    );
    wait_parked(app, queue, 1).await;

    // Dropped: gone for good, and never handled again.
    let res = post(app, Some(&admin), &drop_path, &json!({ "all": true })).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(
        res.json::<Value>().await.ok(),
        Some(json!({ "dropped": 1 }))
    );
    wait_parked(app, queue, 0).await;
    let entry = listed(app, prefix, &admin, queue).await;
    assert_eq!(
        (&entry["count"], &entry["messages"]),
        (&json!(0), &json!([]))
    );
    eventually("the source queue drained", || async {
        app.queue_depth(&app.queue(queue)).await == 0
    })
    .await;
}
