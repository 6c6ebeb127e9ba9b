//! A fake Stripe for the Stripe gateway: `/v1/charges` and `/v1/refunds` with the test-token
//! semantics and idempotency keys. It can be told to record the next charge and then never
//! answer, to stand for a worker that dies after the money moved and before the ack.
//! [`start`] serves it over HTTP, [`start_tls`] over HTTPS.

use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use serde_json::{Value, json};
use servicekit::testing::servers::TestCa;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use tokio::sync::Notify;
use uuid::Uuid;

pub const SECRET: &str = "sk_test_fake";

#[derive(Default)]
pub struct Ledger {
    /// Idempotency key → the answer given (status, body).
    answers: Mutex<HashMap<String, (u16, Value)>>,
    pub charge_calls: AtomicUsize,
    /// The next charge is recorded and then left unanswered.
    hang_next_charge: AtomicBool,
    /// Notified when a charge was recorded and left unanswered.
    pub hung: Notify,
}

impl Ledger {
    pub fn hang_next_charge(&self) {
        self.hang_next_charge.store(true, Ordering::SeqCst);
    }

    /// Charges that took money.
    pub fn distinct_charges(&self) -> usize {
        self.answers
            .lock()
            .unwrap()
            .values()
            .filter(|(status, body)| *status == 200 && body["object"] == "charge")
            .count()
    }
}

pub struct FakeStripe {
    pub base_url: String,
    pub ledger: Arc<Ledger>,
    server: actix_web::dev::ServerHandle,
}

impl Drop for FakeStripe {
    fn drop(&mut self) {
        drop(self.server.stop(false));
    }
}

/// The fake over plain HTTP.
pub fn start() -> FakeStripe {
    serve(None)
}

/// The fake over HTTPS, with `ca`'s server certificate (for 127.0.0.1).
pub fn start_tls(ca: &TestCa) -> FakeStripe {
    let certs = CertificateDer::pem_file_iter(&ca.cert_file)
        .unwrap()
        .collect::<Result<Vec<_>, _>>()
        .unwrap();
    let key = PrivateKeyDer::from_pem_file(&ca.key_file).unwrap();
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .unwrap();
    serve(Some(config))
}

fn serve(tls: Option<rustls::ServerConfig>) -> FakeStripe {
    let ledger = Arc::new(Ledger::default());
    let data = web::Data::from(ledger.clone());
    let server = HttpServer::new(move || {
        App::new()
            .app_data(data.clone())
            .route("/v1/charges", web::post().to(charge))
            .route("/v1/refunds", web::post().to(refund))
    })
    .workers(1)
    .disable_signals();
    let (server, scheme) = match tls {
        Some(config) => (
            server.bind_rustls_0_23(("127.0.0.1", 0), config).unwrap(),
            "https",
        ),
        None => (server.bind(("127.0.0.1", 0)).unwrap(), "http"),
    };
    let port = server.addrs()[0].port();
    let server = server.run();
    let handle = server.handle();
    tokio::spawn(server);
    FakeStripe {
        base_url: format!("{scheme}://127.0.0.1:{port}"),
        ledger,
        server: handle,
    }
}

/// The idempotency key, after checking the secret key; `Err` is the answer to give.
fn authorised(req: &HttpRequest) -> Result<String, (u16, Value)> {
    let auth = req
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok());
    if auth != Some(&format!("Bearer {SECRET}")) {
        return Err((
            401,
            json!({"error": {"type": "invalid_request_error", "code": "api_key_invalid"}}),
        ));
    }
    req.headers()
        .get("idempotency-key")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
        .ok_or_else(|| (400, json!({"error": {"code": "missing_key"}})))
}

fn answer((status, body): (u16, Value)) -> HttpResponse {
    HttpResponse::build(actix_web::http::StatusCode::from_u16(status).unwrap()).json(body)
}

async fn charge(
    ledger: web::Data<Ledger>,
    req: HttpRequest,
    form: web::Form<HashMap<String, String>>,
) -> HttpResponse {
    ledger.charge_calls.fetch_add(1, Ordering::SeqCst);
    let key = match authorised(&req) {
        Ok(key) => key,
        Err(refused) => return answer(refused),
    };
    let given = {
        let mut answers = ledger.answers.lock().unwrap();
        if let Some(known) = answers.get(&key) {
            return answer(known.clone());
        }
        let amount: i64 = form.get("amount").and_then(|a| a.parse().ok()).unwrap_or(0);
        let given = match form.get("source").map(String::as_str) {
            Some("tok_visa") => (
                200,
                json!({"id": format!("ch_{}", Uuid::new_v4().simple()), "object": "charge",
                       "status": "succeeded", "amount": amount, "currency": form.get("currency")}),
            ),
            Some("tok_chargeDeclined") => (
                402,
                json!({"error": {"type": "card_error", "code": "card_declined",
                                 "decline_code": "generic_decline"}}),
            ),
            _ => (
                400,
                json!({"error": {"type": "invalid_request_error", "code": "resource_missing"}}),
            ),
        };
        answers.insert(key, given.clone());
        given
    };
    if ledger.hang_next_charge.swap(false, Ordering::SeqCst) {
        ledger.hung.notify_one();
        std::future::pending::<()>().await;
    }
    answer(given)
}

async fn refund(
    ledger: web::Data<Ledger>,
    req: HttpRequest,
    form: web::Form<HashMap<String, String>>,
) -> HttpResponse {
    let key = match authorised(&req) {
        Ok(key) => key,
        Err(refused) => return answer(refused),
    };
    let mut answers = ledger.answers.lock().unwrap();
    if let Some(known) = answers.get(&key) {
        return answer(known.clone());
    }
    let given = (
        200,
        json!({"id": format!("re_{}", Uuid::new_v4().simple()), "object": "refund",
               "status": "succeeded", "charge": form.get("charge")}),
    );
    answers.insert(key, given.clone());
    answer(given)
}
