//! The Stripe gateway over HTTPS: the fake Stripe serves a certificate of a throwaway CA,
//! which the service trusts only when `gateway.ca_file` names it.

use crate::fake_stripe::{self, FakeStripe, SECRET};
use crate::helpers::{PaymentApp, attempts, eventually, listen, spawn_app_configured, user};
use payment_service::gateway::StripeGateway;
use payment_service::settings::{GatewayKind, GatewaySettings, Settings};
use payment_service::startup;
use reqwest::StatusCode;
use servicekit::testing::servers::TestCa;
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use uuid::Uuid;

fn stripe_settings(base_url: &str, ca_file: Option<PathBuf>) -> GatewaySettings {
    GatewaySettings {
        kind: GatewayKind::Stripe,
        base_url: base_url.into(),
        ca_file,
        secret_key: Some(SECRET.into()),
        ..GatewaySettings::default()
    }
}

/// payment-service charging through `stripe`, trusting the CAs of `ca_file` (the system's
/// roots when `None`).
async fn spawn_with(stripe: FakeStripe, ca_file: Option<PathBuf>) -> PaymentApp<FakeStripe> {
    let gateway = stripe_settings(&stripe.base_url, ca_file);
    spawn_app_configured(stripe, |settings| settings.gateway = gateway).await
}

#[tokio::test]
async fn a_booking_is_charged_through_an_https_gateway_whose_ca_is_trusted() {
    let ca = TestCa::new().unwrap();
    let stripe = fake_stripe::start_tls(&ca);
    assert!(
        stripe.base_url.starts_with("https://"),
        "{}",
        stripe.base_url
    );
    let app = spawn_with(stripe, Some(ca.ca_file.clone())).await;
    let mut events = listen(&app.env).await;
    let alice = user();
    let booking = Uuid::new_v4();

    app.confirm(booking, &alice, "tok_visa").await;

    let event = events.expect_event("payment.succeeded").await;
    assert_eq!(event["payload"]["booking_id"], booking.to_string());
    assert_eq!(event["payload"]["attempts"], 1);
    let payment = app.wait_status(booking, &alice, "succeeded").await;
    assert_eq!(payment["attempts"], 1);
    assert_eq!(app.gateway.ledger.charge_calls.load(Ordering::SeqCst), 1);
    assert_eq!(app.gateway.ledger.distinct_charges(), 1);
    let db = app.db().await;
    let row = db
        .query_one(
            "SELECT charge_id FROM payments WHERE booking_id = $1",
            &[&booking],
        )
        .await
        .unwrap();
    assert!(row.get::<_, Option<String>>(0).unwrap().starts_with("ch_"));
    let rows = attempts(&db, booking).await;
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].2.as_deref(), Some("succeeded"));
}

#[tokio::test]
async fn an_https_gateway_with_an_untrusted_certificate_is_never_charged() {
    let ca = TestCa::new().unwrap();
    let stripe = fake_stripe::start_tls(&ca);
    // No ca_file: the system's roots, which do not hold the throwaway CA.
    let app = spawn_with(stripe, None).await;
    let alice = user();
    let booking = Uuid::new_v4();

    app.confirm(booking, &alice, "tok_visa").await;

    // The handshake fails: the charge is treated as the gateway being unavailable and the
    // message is redelivered, more than once.
    eventually("two charges to fail as unavailable", || async {
        app.charges("unavailable").await >= 2.0
    })
    .await;
    assert_eq!(app.gateway.ledger.charge_calls.load(Ordering::SeqCst), 0);
    assert_eq!(app.gateway.ledger.distinct_charges(), 0);
    let payment = app.payment(booking, &alice).await;
    assert_eq!(payment["status"], "pending", "{payment}");
    assert!(payment["failure"].is_null(), "{payment}");
    let rows = attempts(&app.db().await, booking).await;
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(rows[0].2, None, "the attempt stays open: {rows:?}");
    assert_eq!(app.charges("succeeded").await, 0.0);

    // The fake itself answers a client that trusts its CA (here: refusing the missing
    // secret key): only the trust was missing.
    let trusting = reqwest::Client::builder()
        .use_preconfigured_tls(servicekit::tls::client_config(Some(&ca.ca_file)).unwrap())
        .build()
        .unwrap();
    let res = trusting
        .post(format!("{}/v1/charges", app.gateway.base_url))
        .form(&[("source", "tok_visa")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn a_gateway_url_that_is_neither_https_nor_http_is_refused_at_start() {
    let gateway = stripe_settings("ftp://x", None);
    let error = StripeGateway::from_settings(&gateway).err().unwrap();
    assert!(format!("{error:#}").contains("ftp://"), "{error:#}");

    let settings = Settings {
        gateway,
        ..Settings::default()
    };
    let error = startup::build(settings).await.err().unwrap();
    let message = format!("{error:#}");
    assert!(message.contains("gateway.base_url"), "{message}");
    assert!(message.contains("ftp://"), "{message}");
}
