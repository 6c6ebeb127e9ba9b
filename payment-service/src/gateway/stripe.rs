//! Stripe's charges and refunds API (`POST /v1/charges`, `POST /v1/refunds`, form-encoded,
//! `Idempotency-Key` header, the secret key as a bearer token).
//!
//! Answers map to [`GatewayError`]: 402 (a card error) is `card_declined` unless Stripe says
//! the token is unusable; 400 and 404 (`invalid_token`, `resource_missing`) are
//! `invalid_token`; timeouts, connection failures, 409 (the same key still in flight), 429
//! and 5xx are `Unavailable`, retried with the same key. A misconfigured key (401/403) is
//! also `Unavailable`: the message waits for an operator instead of failing the payment.

use super::{
    CARD_DECLINED, Charge, ChargeRequest, GatewayError, INVALID_TOKEN, PaymentGateway, Refund,
    RefundRequest, masked,
};
use crate::settings::GatewaySettings;
use anyhow::Context;
use futures_util::future::BoxFuture;
use reqwest::StatusCode;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use std::time::Duration;

pub struct StripeGateway {
    client: reqwest::Client,
    base_url: String,
    secret_key: SecretString,
}

#[derive(Deserialize)]
struct Created {
    id: String,
    #[serde(default)]
    status: Option<String>,
}

#[derive(Deserialize, Default)]
struct ErrorBody {
    #[serde(default)]
    error: StripeError,
}

#[derive(Deserialize, Default)]
struct StripeError {
    #[serde(default)]
    code: Option<String>,
}

impl StripeGateway {
    pub fn from_settings(settings: &GatewaySettings) -> anyhow::Result<Self> {
        let secret_key = settings
            .secret_key
            .clone()
            .context("gateway.secret_key is required for the stripe gateway")?;
        let base_url = settings.base_url.trim_end_matches('/').to_owned();
        let url = reqwest::Url::parse(&base_url)
            .with_context(|| format!("gateway.base_url is not a URL: {base_url}"))?;
        // Refused at start rather than on every charge.
        let mut client = reqwest::Client::builder();
        match url.scheme() {
            "https" => {
                let tls = servicekit::tls::client_config(settings.ca_file.as_deref())
                    .context("building the TLS client for gateway.base_url")?;
                client = client.use_preconfigured_tls(tls);
            }
            // An egress proxy that originates TLS, or a test double. This client trusts no
            // root (the workspace's reqwest has none built in), so a redirect to https fails.
            "http" => {}
            other => anyhow::bail!(
                "gateway.base_url must be an https:// (or http://) URL, not {other}://: {base_url}"
            ),
        }
        let client = client
            .timeout(Duration::from_millis(settings.timeout_ms))
            .connect_timeout(Duration::from_millis(settings.timeout_ms.min(5_000)))
            .build()
            .context("building the gateway HTTP client")?;
        Ok(Self {
            client,
            base_url,
            secret_key,
        })
    }

    async fn post(
        &self,
        path: &str,
        idempotency_key: &str,
        form: &[(&str, String)],
    ) -> Result<Created, GatewayError> {
        let response = self
            .client
            .post(format!("{}{path}", self.base_url))
            .bearer_auth(self.secret_key.expose_secret())
            .header("Idempotency-Key", idempotency_key)
            .form(form)
            .send()
            .await
            .map_err(|e| GatewayError::Unavailable(describe(e)))?;
        let status = response.status();
        if status.is_success() {
            return response.json::<Created>().await.map_err(|e| {
                GatewayError::Unavailable(format!("unreadable answer: {}", describe(e)))
            });
        }
        let body: ErrorBody = response.json().await.unwrap_or_default();
        Err(classify(status, &body.error))
    }
}

/// The error text of a failed HTTP call, without the URL's query or any header.
fn describe(e: reqwest::Error) -> String {
    let kind = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "connection failed"
    } else if e.is_decode() {
        "bad body"
    } else {
        "request failed"
    };
    format!("{kind}: {}", e.without_url())
}

fn classify(status: StatusCode, error: &StripeError) -> GatewayError {
    let code = error.code.as_deref().unwrap_or_default();
    match status.as_u16() {
        402 if matches!(
            code,
            "invalid_token" | "resource_missing" | "token_already_used"
        ) =>
        {
            GatewayError::declined(INVALID_TOKEN)
        }
        402 => GatewayError::declined(CARD_DECLINED),
        400 | 404 => GatewayError::declined(INVALID_TOKEN),
        _ => GatewayError::Unavailable(format!("gateway answered {status}")),
    }
}

impl PaymentGateway for StripeGateway {
    fn charge(&self, request: ChargeRequest) -> BoxFuture<'_, Result<Charge, GatewayError>> {
        Box::pin(async move {
            let form = [
                ("amount", request.amount.to_string()),
                ("currency", request.currency.to_lowercase()),
                ("source", request.token.clone()),
                ("description", request.description.clone()),
            ];
            let created = self
                .post("/v1/charges", &request.idempotency_key, &form)
                .await
                .inspect_err(|e| {
                    tracing::info!(token = %masked(&request.token), error = %e, "charge not made");
                })?;
            match created.status.as_deref() {
                Some("failed") => Err(GatewayError::declined(CARD_DECLINED)),
                _ => Ok(Charge {
                    charge_id: created.id,
                }),
            }
        })
    }

    fn refund(&self, request: RefundRequest) -> BoxFuture<'_, Result<Refund, GatewayError>> {
        Box::pin(async move {
            let form = [
                ("charge", request.charge_id.clone()),
                ("amount", request.amount.to_string()),
            ];
            let created = self
                .post("/v1/refunds", &request.idempotency_key, &form)
                .await?;
            match created.status.as_deref() {
                Some("failed" | "canceled") => Err(GatewayError::declined("refund_failed")),
                _ => Ok(Refund {
                    refund_id: created.id,
                }),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn error(code: Option<&str>) -> StripeError {
        StripeError {
            code: code.map(str::to_owned),
        }
    }

    #[test]
    fn a_gateway_needs_a_secret_key_and_an_http_or_https_url() {
        let ca = servicekit::testing::servers::TestCa::new().unwrap();
        let mut settings = GatewaySettings {
            base_url: "http://127.0.0.1:12111/".into(),
            ..GatewaySettings::default()
        };
        assert!(StripeGateway::from_settings(&settings).is_err());
        settings.secret_key = Some("sk_test_x".into());
        assert!(StripeGateway::from_settings(&settings).is_ok());
        settings.base_url = "https://api.stripe.com".into();
        settings.ca_file = Some(ca.ca_file.clone());
        assert!(StripeGateway::from_settings(&settings).is_ok());
        for url in ["ftp://x", "wss://api.stripe.com", "api.stripe.com", ""] {
            settings.base_url = url.into();
            assert!(StripeGateway::from_settings(&settings).is_err(), "{url}");
        }
        // A CA file that is not there is refused at start, not on the first charge.
        settings.base_url = "https://api.stripe.com".into();
        settings.ca_file = Some(ca.ca_file.with_file_name("missing.pem"));
        assert!(StripeGateway::from_settings(&settings).is_err());
    }

    #[test]
    fn answers_map_to_declines_or_unavailability() {
        let cases = [
            (402, Some("card_declined"), Some(CARD_DECLINED)),
            (402, Some("expired_card"), Some(CARD_DECLINED)),
            (402, Some("invalid_token"), Some(INVALID_TOKEN)),
            (400, Some("resource_missing"), Some(INVALID_TOKEN)),
            (404, None, Some(INVALID_TOKEN)),
            (500, None, None),
            (503, None, None),
            (429, None, None),
            (409, None, None),
            (401, None, None),
        ];
        for (status, code, expected) in cases {
            let got = classify(
                StatusCode::from_u16(status).unwrap_or_default(),
                &error(code),
            );
            match expected {
                Some(decline) => assert_eq!(got, GatewayError::declined(decline), "{status}"),
                None => assert!(matches!(got, GatewayError::Unavailable(_)), "{status}"),
            }
        }
    }
}
