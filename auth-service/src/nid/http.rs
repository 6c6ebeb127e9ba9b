//! An NID verification service over HTTP: `POST {base_url}/v1/nid/verify` with the JSON body
//! `{"nid": "…"}` and the API key as a bearer token.
//!
//! 200 `{"found": true}` verifies the number; 200 `{"found": false}` or 404 is
//! [`VerifyError::NotFound`]; anything else (timeouts, connection failures, 401/403 for a
//! misconfigured key, 429, 5xx, an unreadable body) is [`VerifyError::Unavailable`], which
//! answers 503 so the caller may try again. Errors never carry the number or the key.

use super::{NidVerifier, VerifyError, VerifyFuture};
use crate::domain::Nid;
use crate::settings::NidSettings;
use anyhow::Context;
use reqwest::StatusCode;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use serde_json::json;
use std::time::Duration;

pub struct HttpNidVerifier {
    client: reqwest::Client,
    url: String,
    api_key: SecretString,
}

#[derive(Deserialize)]
struct Answer {
    found: bool,
}

impl HttpNidVerifier {
    pub fn from_settings(settings: &NidSettings) -> anyhow::Result<Self> {
        let api_key = settings
            .api_key
            .clone()
            .context("nid.api_key is required for the http NID verifier")?;
        let base_url = settings.base_url.trim_end_matches('/').to_owned();
        let url = reqwest::Url::parse(&base_url)
            .with_context(|| format!("nid.base_url is not a URL: {base_url:?}"))?;
        let mut client = reqwest::Client::builder();
        match url.scheme() {
            "https" => {
                let tls = servicekit::tls::client_config(settings.ca_file.as_deref())
                    .context("building the TLS client for nid.base_url")?;
                client = client.use_preconfigured_tls(tls);
            }
            // An egress proxy that originates TLS, or a test double.
            "http" => {}
            other => anyhow::bail!(
                "nid.base_url must be an https:// (or http://) URL, not {other}://: {base_url}"
            ),
        }
        let client = client
            .timeout(Duration::from_millis(settings.timeout_ms))
            .connect_timeout(Duration::from_millis(settings.timeout_ms.min(5_000)))
            .build()
            .context("building the NID verifier HTTP client")?;
        Ok(Self {
            client,
            url: format!("{base_url}/v1/nid/verify"),
            api_key,
        })
    }

    async fn ask(&self, nid: &Nid) -> Result<(), VerifyError> {
        let response = self
            .client
            .post(&self.url)
            .bearer_auth(self.api_key.expose_secret())
            .json(&json!({ "nid": nid.expose() }))
            .send()
            .await
            .map_err(|e| VerifyError::Unavailable(describe(&e)))?;
        match response.status() {
            StatusCode::OK => {
                let answer: Answer = response.json().await.map_err(|e| {
                    VerifyError::Unavailable(format!("unreadable answer: {}", describe(&e)))
                })?;
                if answer.found {
                    Ok(())
                } else {
                    Err(VerifyError::NotFound)
                }
            }
            StatusCode::NOT_FOUND => Err(VerifyError::NotFound),
            status => Err(VerifyError::Unavailable(format!(
                "the verifier answered {status}"
            ))),
        }
    }
}

/// The kind of a failed call, without the URL or any header.
fn describe(e: &reqwest::Error) -> String {
    if e.is_timeout() {
        "timed out".into()
    } else if e.is_connect() {
        "connection failed".into()
    } else if e.is_decode() {
        "bad body".into()
    } else {
        "request failed".into()
    }
}

impl NidVerifier for HttpNidVerifier {
    fn verify<'a>(&'a self, nid: &'a Nid) -> VerifyFuture<'a> {
        Box::pin(self.ask(nid))
    }
}
