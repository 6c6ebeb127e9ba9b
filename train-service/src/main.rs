//! The train-service binary: serves the API (no arguments), or seeds the catalogue
//! (`train-service seed [--trains N] ...`, see `seed::USAGE`) with the same settings.

use anyhow::bail;
use train_service::seed::{self, SeedOptions, USAGE};
use train_service::settings::Settings;
use train_service::startup;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let settings: Settings = servicekit::config::load("train-service")?;
    servicekit::telemetry::init(&settings.log);
    let mut args = std::env::args().skip(1);
    match args.next().as_deref() {
        None => {
            let app = startup::build(settings).await?;
            tracing::info!(port = app.port(), "train-service listening");
            app.run_until_stopped().await?;
        }
        Some("seed") => {
            let options = SeedOptions::parse(args)?;
            let started = std::time::Instant::now();
            let pool = servicekit::db::pool(&settings.database)?;
            startup::migrate(&pool).await?;
            let report = seed::run(&pool, &options).await?;
            tracing::info!(
                ?options,
                ?report,
                elapsed_ms = started.elapsed().as_millis(),
                "seeded"
            );
        }
        Some("help" | "--help" | "-h") => println!("{USAGE}"),
        Some(other) => bail!("unknown command {other}\n{USAGE}"),
    }
    Ok(())
}
