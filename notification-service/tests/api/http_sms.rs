//! SMS through the HTTP provider channel (`sms.kind = "http"`), against a fake provider on a
//! free port: what it is sent, and what its refusals do.

use crate::helpers::{otp_requested, registered, spawn_configured_app};
use actix_web::{HttpRequest, HttpResponse, web};
use serde_json::Value;
use servicekit::events;
use servicekit::testing::eventually;
use servicekit::testing::servers::LocalHttp;
use std::sync::Mutex;
use uuid::Uuid;

const TOKEN: &str = "sms-token-fake";

/// What the fake provider received: (authorization, idempotency key, body).
#[derive(Default)]
struct Provider {
    received: Mutex<Vec<(String, String, Value)>>,
    /// The status it answers with.
    status: u16,
}

struct FakeProvider {
    url: String,
    provider: web::Data<Provider>,
    _server: LocalHttp,
}

impl FakeProvider {
    fn received(&self) -> Vec<(String, String, Value)> {
        self.provider.received.lock().unwrap().clone()
    }
}

async fn send(
    provider: web::Data<Provider>,
    req: HttpRequest,
    body: web::Json<Value>,
) -> HttpResponse {
    let header = |name: &str| {
        req.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    };
    provider.received.lock().unwrap().push((
        header("authorization"),
        header("idempotency-key"),
        body.into_inner(),
    ));
    HttpResponse::build(actix_web::http::StatusCode::from_u16(provider.status).unwrap())
        .json(serde_json::json!({"id": "msg_1"}))
}

fn fake_provider(status: u16) -> FakeProvider {
    let provider = web::Data::new(Provider {
        status,
        ..Provider::default()
    });
    let data = provider.clone();
    let server = LocalHttp::start(move |cfg| {
        cfg.app_data(data.clone())
            .route("/v1/messages", web::post().to(send));
    })
    .unwrap();
    FakeProvider {
        url: format!("{}/v1/messages", server.base_url),
        provider,
        _server: server,
    }
}

fn http_sms(settings: &mut notification_service::settings::Settings, url: &str) {
    settings.sms.kind = notification_service::settings::SmsKind::Http;
    settings.sms.url = Some(url.to_owned());
    settings.sms.token = Some(TOKEN.to_owned().into());
    settings.sms.from = "RailRush".into();
}

#[tokio::test]
async fn an_otp_is_posted_to_the_sms_provider_with_the_token_and_an_idempotency_key() {
    let sms = fake_provider(202);
    let app = spawn_configured_app(|s| http_sms(s, &sms.url)).await;
    let user = registered(Uuid::new_v4());
    app.publish(events::OTP_REQUESTED, &otp_requested(&user, "731904"))
        .await;

    let inbox = app.wait_inbox(user.user_id, 1).await;
    let received = sms.received();
    assert_eq!(received.len(), 1, "sent once");
    let (authorization, key, body) = &received[0];
    assert_eq!(authorization, &format!("Bearer {TOKEN}"));
    assert_eq!(
        key,
        inbox[0]["id"].as_str().unwrap(),
        "keyed by the inbox entry"
    );
    assert_eq!(body["to"], user.phone);
    assert_eq!(body["from"], "RailRush");
    assert_eq!(body["reference"], inbox[0]["id"]);
    assert!(body["body"].as_str().unwrap().contains("731904"), "{body}");
}

#[tokio::test]
async fn a_refused_number_is_parked_and_a_busy_provider_is_tried_again() {
    let refused = fake_provider(400);
    let app = spawn_configured_app(|s| http_sms(s, &refused.url)).await;
    let user = registered(Uuid::new_v4());
    app.publish(events::OTP_REQUESTED, &otp_requested(&user, "111222"))
        .await;
    let parked = app.queue("notification.otp.parked");
    eventually("the refused SMS to be parked", || async {
        app.queue_depth(&parked).await == 1
    })
    .await;
    assert_eq!(
        refused.received().len(),
        1,
        "a permanent refusal is not retried"
    );
    assert!(app.inbox(user.user_id).await.is_empty());

    let busy = fake_provider(503);
    let app = spawn_configured_app(|s| http_sms(s, &busy.url)).await;
    app.publish(events::OTP_REQUESTED, &otp_requested(&user, "333444"))
        .await;
    eventually("the busy provider to be asked again", || async {
        busy.received().len() >= 2
    })
    .await;
}
