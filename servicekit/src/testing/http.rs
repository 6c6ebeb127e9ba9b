//! Checks of a service's HTTP answers.

use super::eventually::WAIT;
use std::time::{Duration, Instant};

/// Asserts a response in the error shape of `API.md` with this status and code; returns
/// the body.
pub async fn assert_error(
    res: reqwest::Response,
    status: reqwest::StatusCode,
    code: &str,
) -> serde_json::Value {
    assert_eq!(res.status(), status, "status");
    let ct = res
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    assert!(ct.starts_with("application/json"), "content type {ct}");
    let body: serde_json::Value = match res.json().await {
        Ok(body) => body,
        Err(e) => panic!("error body is not JSON: {e}"),
    };
    assert_eq!(body["error"]["code"], code, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty()),
        "{body}"
    );
    body
}

/// Waits (up to [`WAIT`]) until `base_url`/health/ready answers 200 `{"status": "ok"}`
/// (every dependency answering, not merely degraded).
pub async fn wait_ready(client: &reqwest::Client, base_url: &str) {
    let deadline = Instant::now() + WAIT;
    loop {
        let res = client.get(format!("{base_url}/health/ready")).send().await;
        match res {
            Ok(r) if r.status() == reqwest::StatusCode::OK => {
                let body = r.text().await.unwrap_or_default();
                if body.contains(r#""status":"ok""#) {
                    return;
                }
                if Instant::now() >= deadline {
                    panic!("not ready: {body}");
                }
            }
            Ok(r) if Instant::now() >= deadline => {
                panic!("not ready: {}", r.text().await.unwrap_or_default())
            }
            Err(e) if Instant::now() >= deadline => panic!("not ready: {e}"),
            _ => {}
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The Prometheus text a service at `base_url` exposes on `/metrics`.
pub async fn scrape(client: &reqwest::Client, base_url: &str) -> String {
    let res = client.get(format!("{base_url}/metrics")).send().await;
    match res {
        Ok(r) => r.text().await.unwrap_or_default(),
        Err(e) => panic!("scraping {base_url}/metrics: {e}"),
    }
}
