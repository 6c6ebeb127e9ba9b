//! SMS through an HTTP provider: one `POST {url}` per message with a JSON body
//! `{"to", "from", "body", "reference"}` (`reference` = the notification id, also sent as the
//! `Idempotency-Key` header, so a retried delivery is not sent twice by a provider that
//! honours it) and `Authorization: Bearer <token>`. Most SMS gateways take this shape, or an
//! egress adapter maps it. A 2xx answer is delivered; 408, 429, 5xx, a timeout or a
//! connection failure is transient (retried); any other 4xx is permanent (parked: the number
//! or the request is refused). `https://` URLs are verified against `ca_file` or the
//! system's roots; `http://` is for an egress proxy that originates TLS, or a test double.

use super::{Channel, DeliveryError, Message};
use crate::settings::SmsSettings;
use anyhow::Context;
use futures_util::future::BoxFuture;
use secrecy::{ExposeSecret, SecretString};
use serde_json::json;
use std::time::Duration;

pub struct HttpSmsChannel {
    client: reqwest::Client,
    url: String,
    token: SecretString,
    from: String,
}

impl HttpSmsChannel {
    pub fn from_settings(settings: &SmsSettings) -> anyhow::Result<Self> {
        let url = settings
            .url
            .clone()
            .context("sms.url is required for the http SMS channel")?;
        let token = settings
            .token
            .clone()
            .context("sms.token is required for the http SMS channel")?;
        let parsed =
            reqwest::Url::parse(&url).with_context(|| format!("sms.url is not a URL: {url}"))?;
        let mut client = reqwest::Client::builder();
        match parsed.scheme() {
            "https" => {
                let tls = servicekit::tls::client_config(settings.ca_file.as_deref())
                    .context("building the TLS client for sms.url")?;
                client = client.use_preconfigured_tls(tls);
            }
            "http" => {}
            other => anyhow::bail!("sms.url must be https:// (or http://), not {other}://"),
        }
        let timeout = Duration::from_millis(settings.timeout_ms);
        Ok(Self {
            client: client
                .timeout(timeout)
                .connect_timeout(timeout.min(Duration::from_secs(5)))
                .build()
                .context("building the SMS HTTP client")?,
            url,
            token,
            from: settings.from.clone(),
        })
    }
}

/// What an answer of the provider means for the message.
fn outcome(status: reqwest::StatusCode, body: &str) -> Result<(), DeliveryError> {
    let said = || {
        format!(
            "the SMS provider answered {status}: {}",
            body.chars().take(200).collect::<String>()
        )
    };
    if status.is_success() {
        Ok(())
    } else if status.is_server_error()
        || status == reqwest::StatusCode::TOO_MANY_REQUESTS
        || status == reqwest::StatusCode::REQUEST_TIMEOUT
    {
        Err(DeliveryError::Transient(said()))
    } else {
        Err(DeliveryError::Permanent(said()))
    }
}

impl Channel for HttpSmsChannel {
    fn name(&self) -> &str {
        "http_sms"
    }

    fn deliver<'a>(&'a self, message: &'a Message) -> BoxFuture<'a, Result<(), DeliveryError>> {
        Box::pin(async move {
            let res = self
                .client
                .post(&self.url)
                .bearer_auth(self.token.expose_secret())
                .header("Idempotency-Key", message.id.to_string())
                .json(&json!({
                    "to": message.to,
                    "from": self.from,
                    "body": message.body,
                    "reference": message.id,
                }))
                .send()
                .await
                .map_err(|e| DeliveryError::Transient(format!("the SMS provider: {e}")))?;
            let status = res.status();
            let body = res.text().await.unwrap_or_default();
            outcome(status, &body)?;
            tracing::info!(
                notification_id = %message.id,
                kind = message.kind.as_str(),
                "SMS handed to the provider"
            );
            Ok(())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::StatusCode;

    #[test]
    fn answers_are_delivered_retried_or_parked() {
        assert!(outcome(StatusCode::OK, "").is_ok());
        assert!(outcome(StatusCode::ACCEPTED, "").is_ok());
        for transient in [
            StatusCode::INTERNAL_SERVER_ERROR,
            StatusCode::BAD_GATEWAY,
            StatusCode::TOO_MANY_REQUESTS,
            StatusCode::REQUEST_TIMEOUT,
        ] {
            assert!(matches!(
                outcome(transient, "busy"),
                Err(DeliveryError::Transient(_))
            ));
        }
        for permanent in [
            StatusCode::BAD_REQUEST,
            StatusCode::UNAUTHORIZED,
            StatusCode::UNPROCESSABLE_ENTITY,
        ] {
            assert!(matches!(
                outcome(permanent, "no"),
                Err(DeliveryError::Permanent(_))
            ));
        }
    }

    #[test]
    fn the_url_and_the_token_are_required_and_the_scheme_checked() {
        let mut settings = SmsSettings {
            kind: crate::settings::SmsKind::Http,
            ..SmsSettings::default()
        };
        assert!(HttpSmsChannel::from_settings(&settings).is_err());
        settings.url = Some("ftp://sms.example".into());
        settings.token = Some("t".to_owned().into());
        assert!(HttpSmsChannel::from_settings(&settings).is_err());
        settings.url = Some("http://127.0.0.1:9/sms".into());
        assert!(HttpSmsChannel::from_settings(&settings).is_ok());
    }
}
