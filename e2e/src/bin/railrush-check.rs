//! `railrush-check`: the consistency check against the local stack's databases (or those
//! named by `RAILRUSH_PG_BASE_URL`, default `postgres://postgres@127.0.0.1:5432`, with the
//! database names `RAILRUSH_DB_PREFIX` + service, default `railrush_booking` etc.). Waits up
//! to `--settle SECONDS` (default 30) for in-flight events, prints the report, and exits 1
//! when anything is inconsistent.
//!
//! For a managed database, put the options after the address:
//! `RAILRUSH_PG_BASE_URL='postgres://checker@db.example:5432?sslmode=require'`, and
//! `PGSSLROOTCERT=/path/ca.pem` when its CA is not among the system's.

use e2e::consistency::{self, Databases};
use std::time::Duration;

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    let mut settle = 30;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--settle" => {
                settle = args
                    .next()
                    .and_then(|s| s.parse().ok())
                    .ok_or_else(|| anyhow::anyhow!("--settle takes a number of seconds"))?;
            }
            "-h" | "--help" => {
                println!("usage: railrush-check [--settle SECONDS]");
                return Ok(());
            }
            other => anyhow::bail!("unknown argument {other}; see --help"),
        }
    }
    let base = std::env::var("RAILRUSH_PG_BASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".into());
    let prefix = std::env::var("RAILRUSH_DB_PREFIX").unwrap_or_else(|_| "railrush_".into());
    let (address, options) = match base.split_once('?') {
        Some((address, options)) => (address, format!("?{options}")),
        None => (base.as_str(), String::new()),
    };
    let url = |db: &str| format!("{}/{prefix}{db}{options}", address.trim_end_matches('/'));
    let dbs = Databases {
        booking: url("booking"),
        payment: url("payment"),
        notification: url("notification"),
        outboxes: vec![url("auth"), url("booking"), url("payment")],
    };
    let report = consistency::check(&dbs, Duration::from_secs(settle)).await?;
    print!("{report}");
    if report.is_consistent() {
        println!("consistent");
        Ok(())
    } else {
        std::process::exit(1);
    }
}
