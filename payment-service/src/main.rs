//! The payment-service binary: serves the API and runs the charge and refund workers.

use payment_service::settings::Settings;
use payment_service::startup;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let settings: Settings = servicekit::config::load("payment-service")?;
    servicekit::telemetry::init(&settings.log);
    let app = startup::build(settings).await?;
    tracing::info!(port = app.port(), "payment-service listening");
    app.run_until_stopped().await?;
    Ok(())
}
