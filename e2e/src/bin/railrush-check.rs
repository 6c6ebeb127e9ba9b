//! `railrush-check`: the consistency check against the local stack's databases, or those at
//! `--pg-base-url` (`RAILRUSH_PG_BASE_URL`) named `--db-prefix` (`RAILRUSH_DB_PREFIX`) +
//! service. Waits up to `--settle SECONDS` for in-flight events, prints the report, and exits
//! 1 when anything is inconsistent (`railrush-check --help` has the defaults).
//!
//! For a managed database, put the options after the address:
//! `--pg-base-url 'postgres://checker@db.example:5432?sslmode=require'`, and
//! `PGSSLROOTCERT=/path/ca.pem` when its CA is not among the system's.

use anyhow::Context;
use clap::Parser;
use e2e::consistency::{self, Databases};
use std::process::ExitCode;
use std::time::Duration;

/// railrush-check: checks the local stack's databases after a load run or a test: no seat in
/// two live bookings, one succeeded payment and one ticket per paid booking, no money kept
/// for an expired or cancelled booking, every outbox drained. Prints the report; exits 1
/// when anything is inconsistent.
#[derive(Parser)]
#[command(name = "railrush-check", version, after_help = EXAMPLES)]
struct Cli {
    /// Seconds to wait for in-flight events to settle before reporting
    #[arg(long, value_name = "SECONDS", default_value_t = 30)]
    settle: u64,
    /// PostgreSQL URL without the database (options such as ?sslmode=require after it)
    #[arg(
        long,
        value_name = "URL",
        env = "RAILRUSH_PG_BASE_URL",
        hide_env_values = true,
        default_value = "postgres://postgres@127.0.0.1:5432"
    )]
    pg_base_url: String,
    /// Prefix of the database names: PREFIX + auth, booking, payment, notification
    #[arg(
        long,
        value_name = "PREFIX",
        env = "RAILRUSH_DB_PREFIX",
        hide_env_values = true,
        default_value = "railrush_"
    )]
    db_prefix: String,
}

const EXAMPLES: &str = "\
Examples:
  railrush-check --settle 60
  PGSSLROOTCERT=/path/ca.pem railrush-check \\
      --pg-base-url 'postgres://checker@db.example:5432?sslmode=require'";

fn main() -> ExitCode {
    servicekit::cli::run(|cli: Cli| async move {
        let (base, prefix) = (cli.pg_base_url, cli.db_prefix);
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
        let report = consistency::check(&dbs, Duration::from_secs(cli.settle))
            .await
            .with_context(|| format!("checking the databases {prefix}*"))?;
        print!("{report}");
        if !report.is_consistent() {
            anyhow::bail!("the databases are inconsistent (the report above names each problem)");
        }
        println!("consistent");
        Ok(())
    })
}
