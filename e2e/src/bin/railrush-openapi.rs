//! Prints the gateway's merged OpenAPI document (`docs/openapi.json`), or with `--service
//! NAME` that service's own document (what it serves at `/openapi.json`).

use clap::Parser;

#[derive(Parser)]
#[command(about = "Print RailRush's OpenAPI documents")]
struct Args {
    /// A service's own document instead of the merged one (e.g. auth-service).
    #[arg(long)]
    service: Option<String>,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let text = match args.service {
        None => e2e::openapi::merged_text(),
        Some(name) => {
            let api = e2e::openapi::services()
                .into_iter()
                .find(|api| api.title() == name)
                .ok_or_else(|| anyhow::anyhow!("no service named {name}"))?;
            serde_json::to_string_pretty(&e2e::openapi::service_document(&api))?
        }
    };
    println!("{}", text.trim_end());
    Ok(())
}
