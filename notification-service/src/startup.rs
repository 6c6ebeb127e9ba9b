//! Assembles notification-service on the service kernel: `main` and the tests both start it
//! through [`build`] (tests hand in their own channel with [`build_with_channel`]).

use crate::channel::{Channel, Channels};
use crate::consumers::Queue;
use crate::metrics::NotificationMetrics;
use crate::notify::Notifier;
use crate::routes::Inbox;
use crate::settings::Settings;
use actix_web::web;
pub use servicekit::service::Application;
use servicekit::service::Kernel;
use std::sync::Arc;
use std::time::Duration;

servicekit::migrations!("migrations");

pub async fn build(settings: Settings) -> anyhow::Result<Application> {
    let channels = Channels::from_settings(&settings.smtp, &settings.sms)?;
    build_with_channels(settings, channels).await
}

/// Like [`build`], delivering every message through `channel`.
pub async fn build_with_channel(
    settings: Settings,
    channel: Arc<dyn Channel>,
) -> anyhow::Result<Application> {
    build_with_channels(settings, Channels::all(channel)).await
}

pub async fn build_with_channels(
    settings: Settings,
    channels: Channels,
) -> anyhow::Result<Application> {
    let mut kernel = Kernel::new("notification-service", &settings.http)?;
    let pg = kernel.postgres(&settings.database, migrations()).await?;
    kernel.retention(&pg, &settings.retention).await?;
    kernel.broker(&settings.amqp);
    // The inbox needs PostgreSQL only; messages wait in their queues.
    kernel.degradable(&["rabbitmq"]);
    kernel.verify_tokens(&settings.jwt)?;
    let notifier = Arc::new(Notifier {
        db: pg.clone(),
        channels,
        metrics: NotificationMetrics::register(kernel.metrics().registry())?,
        contact_wait: Duration::from_millis(settings.delivery.contact_wait_ms),
    });
    for queue in Queue::all(&notifier, &settings.delivery) {
        kernel.consume(queue)?;
    }
    let inbox = web::Data::new(Inbox { db: pg });
    kernel.api(crate::routes::api());
    kernel.serve(move |cfg| {
        cfg.app_data(inbox.clone());
    })
}
