//! Passengers for the load drivers (`saga-bench`, `demo`): real accounts at auth-service,
//! signed up and signed in, so that every later step (tickets included) knows them.

use anyhow::{Context, bail};
use serde_json::{Value, json};
use uuid::Uuid;

/// Signs up a new passenger at auth-service (`auth`, its base URL) with an e-mail address
/// `<label>-<random>@example.com` and a random phone, signs in, and returns the access token.
pub async fn sign_up(http: &reqwest::Client, auth: &str, label: &str) -> anyhow::Result<String> {
    let auth = auth.trim_end_matches('/');
    let email = format!("{label}-{}@example.com", Uuid::new_v4().simple());
    let phone = format!("+88019{:08}", Uuid::new_v4().as_u128() % 100_000_000);
    let password = "load password 1";
    let res = http
        .post(format!("{auth}/api/auth/register"))
        .json(
            &json!({"name": "Load Passenger", "email": email, "phone": phone,
                      "password": password}),
        )
        .send()
        .await?;
    if !res.status().is_success() {
        bail!("sign-up answered {}", res.status());
    }
    let tokens: Value = http
        .post(format!("{auth}/api/auth/login"))
        .json(&json!({"login": email, "password": password}))
        .send()
        .await?
        .json()
        .await?;
    tokens["access_token"]
        .as_str()
        .map(str::to_owned)
        .context("sign-in gave no access token")
}
