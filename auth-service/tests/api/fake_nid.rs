//! A fake NID verification service for the http verifier: `POST /v1/nid/verify` answers
//! `{"found": …}` (numbers ending in `0000` are not found), 401 for a wrong key, and 503
//! while told to be down. It records every number it was asked about.

use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use serde_json::{Value, json};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

pub const API_KEY: &str = "nid_test_key";

#[derive(Default)]
pub struct Calls {
    pub asked: Mutex<Vec<String>>,
    pub down: AtomicBool,
}

pub struct FakeNid {
    pub base_url: String,
    pub calls: Arc<Calls>,
    server: actix_web::dev::ServerHandle,
}

impl Drop for FakeNid {
    fn drop(&mut self) {
        drop(self.server.stop(false));
    }
}

pub fn start() -> FakeNid {
    let calls = Arc::new(Calls::default());
    let data = web::Data::from(calls.clone());
    let server = HttpServer::new(move || {
        App::new()
            .app_data(data.clone())
            .route("/v1/nid/verify", web::post().to(verify))
    })
    .workers(1)
    .disable_signals()
    .bind(("127.0.0.1", 0))
    .unwrap();
    let port = server.addrs()[0].port();
    let server = server.run();
    let handle = server.handle();
    tokio::spawn(server);
    FakeNid {
        base_url: format!("http://127.0.0.1:{port}"),
        calls,
        server: handle,
    }
}

async fn verify(calls: web::Data<Calls>, req: HttpRequest, body: web::Json<Value>) -> HttpResponse {
    let auth = req
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok());
    if auth != Some(&format!("Bearer {API_KEY}")) {
        return HttpResponse::Unauthorized().json(json!({"error": "bad key"}));
    }
    if calls.down.load(Ordering::SeqCst) {
        return HttpResponse::ServiceUnavailable().finish();
    }
    let nid = body["nid"].as_str().unwrap_or_default().to_owned();
    calls.asked.lock().unwrap().push(nid.clone());
    HttpResponse::Ok().json(json!({"found": !nid.ends_with("0000")}))
}
