use booking_service::settings::Settings;
use booking_service::startup;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let settings: Settings = servicekit::config::load("booking-service")?;
    servicekit::telemetry::init(&settings.log);
    let app = startup::build(settings).await?;
    tracing::info!(port = app.port(), "booking-service listening");
    app.run_until_stopped().await?;
    Ok(())
}
