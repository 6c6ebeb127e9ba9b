//! The log channel: one structured line per message. The body stays out of info-level logs
//! (an OTP body holds the code; the inbox is where its owner reads it); it is logged at debug
//! level for local development.

use super::{Channel, DeliveryError, Message};
use futures_util::future::BoxFuture;

#[derive(Clone, Copy, Debug, Default)]
pub struct LogChannel;

impl Channel for LogChannel {
    fn name(&self) -> &str {
        "log"
    }

    fn deliver<'a>(&'a self, message: &'a Message) -> BoxFuture<'a, Result<(), DeliveryError>> {
        Box::pin(async move {
            tracing::info!(
                notification_id = %message.id,
                event_id = %message.event_id,
                user_id = %message.user_id,
                kind = message.kind.as_str(),
                channel = message.medium.as_str(),
                to = %message.to,
                subject = %message.subject,
                "notification delivered to the log"
            );
            tracing::debug!(notification_id = %message.id, body = %message.body, "notification body");
            Ok(())
        })
    }
}
