//! The notification-service binary: consumes events, delivers messages, serves the inbox.

use notification_service::settings::Settings;
use notification_service::startup;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let settings: Settings = servicekit::config::load("notification-service")?;
    servicekit::telemetry::init(&settings.log);
    let app = startup::build(settings).await?;
    tracing::info!(port = app.port(), "notification-service listening");
    app.run_until_stopped().await?;
    Ok(())
}
