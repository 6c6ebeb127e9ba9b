use auth_service::settings::Settings;
use auth_service::startup;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let settings: Settings = servicekit::config::load("auth-service")?;
    servicekit::telemetry::init(&settings.log);
    let app = startup::build(settings).await?;
    tracing::info!(port = app.port(), "auth-service listening");
    app.run_until_stopped().await?;
    Ok(())
}
