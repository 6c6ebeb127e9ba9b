//! E-mail over SMTP (lettre, plain connection: a local relay or a TLS sidecar). A 4xx reply,
//! a timeout or a connection failure is transient; a 5xx reply or an address that cannot be
//! an e-mail address is permanent.

use super::{Channel, DeliveryError, Message};
use crate::settings::SmtpSettings;
use anyhow::Context;
use futures_util::future::BoxFuture;
use lettre::message::Mailbox;
use lettre::message::header::ContentType;
use lettre::transport::smtp::authentication::Credentials;
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};
use secrecy::ExposeSecret;

pub struct SmtpChannel {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
}

/// The parts of `smtp://[user:password@]host[:port]`.
#[derive(Debug, PartialEq, Eq)]
struct SmtpUrl {
    host: String,
    port: u16,
    credentials: Option<(String, String)>,
}

fn parse_url(url: &str) -> anyhow::Result<SmtpUrl> {
    let rest = url
        .strip_prefix("smtp://")
        .context("smtp.url must start with smtp://")?;
    let rest = rest.trim_end_matches('/');
    let (credentials, address) = match rest.rsplit_once('@') {
        Some((creds, address)) => {
            let (user, password) = creds.split_once(':').unwrap_or((creds, ""));
            (Some((user.to_owned(), password.to_owned())), address)
        }
        None => (None, rest),
    };
    let (host, port) = match address.rsplit_once(':') {
        Some((host, port)) => (host, port.parse().context("smtp.url has a bad port")?),
        None => (address, 25),
    };
    anyhow::ensure!(!host.is_empty(), "smtp.url has no host");
    Ok(SmtpUrl {
        host: host.to_owned(),
        port,
        credentials,
    })
}

impl SmtpChannel {
    /// The channel for `settings`, or `None` when no SMTP server is configured.
    pub fn from_settings(settings: &SmtpSettings) -> anyhow::Result<Option<Self>> {
        let Some(url) = &settings.url else {
            return Ok(None);
        };
        let url = parse_url(url.expose_secret())?;
        let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(url.host)
            .port(url.port)
            .timeout(Some(settings.timeout()));
        if let Some((user, password)) = url.credentials {
            builder = builder.credentials(Credentials::new(user, password));
        }
        let from = settings
            .from
            .parse()
            .context("smtp.from is not a valid mailbox")?;
        Ok(Some(Self {
            transport: builder.build(),
            from,
        }))
    }

    fn email(&self, message: &Message) -> Result<lettre::Message, DeliveryError> {
        let address = message
            .to
            .parse()
            .map_err(|e| DeliveryError::Permanent(format!("bad recipient address: {e}")))?;
        let to = Mailbox::new(Some(message.to_name.clone()), address);
        lettre::Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(message.subject.clone())
            .header(ContentType::TEXT_PLAIN)
            .body(message.body.clone())
            .map_err(|e| DeliveryError::Permanent(format!("cannot build the e-mail: {e}")))
    }
}

impl Channel for SmtpChannel {
    fn name(&self) -> &str {
        "smtp"
    }

    fn deliver<'a>(&'a self, message: &'a Message) -> BoxFuture<'a, Result<(), DeliveryError>> {
        Box::pin(async move {
            let email = self.email(message)?;
            match self.transport.send(email).await {
                Ok(_) => {
                    tracing::info!(notification_id = %message.id, kind = message.kind.as_str(), "e-mail sent");
                    Ok(())
                }
                Err(e) if e.is_permanent() => Err(DeliveryError::Permanent(e.to_string())),
                Err(e) => Err(DeliveryError::Transient(e.to_string())),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn smtp_urls_parse_with_and_without_credentials_and_port() {
        let cases = [
            ("smtp://mail.local", "mail.local", 25, None),
            ("smtp://127.0.0.1:2525/", "127.0.0.1", 2525, None),
            (
                "smtp://user:p@ss@relay:587",
                "relay",
                587,
                Some(("user".to_owned(), "p@ss".to_owned())),
            ),
        ];
        for (url, host, port, credentials) in cases {
            assert_eq!(
                parse_url(url).ok(),
                Some(SmtpUrl {
                    host: host.into(),
                    port,
                    credentials
                }),
                "{url}"
            );
        }
        for bad in ["mail.local", "smtps://x", "smtp://", "smtp://host:notaport"] {
            assert!(parse_url(bad).is_err(), "{bad}");
        }
    }
}
