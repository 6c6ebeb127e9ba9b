//! The command line every RailRush binary shares: clap (derive) parses it, [`run`] runs the
//! binary's `main` on a tokio runtime and decides how it ends.
//!
//! - `--help` and `--version` print and exit 0; an unknown or malformed argument prints the
//!   error and the usage on stderr and exits 2 (clap's own behaviour).
//! - An error returned by the command (a user mistake: a settings value that does not parse,
//!   a database that does not answer, an invalid e-mail) is one line on stderr,
//!   `error: <context>: <cause>: ...`, and exit status 1. Never a backtrace: those stay for
//!   panics, which are bugs (`RUST_BACKTRACE` works for them as usual).
//!
//! A service that consumes also has `parked list|replay|drop` ([`ParkedCommand`], run by
//! [`run_parked`]): its parking queues, inspected and emptied by an operator.
//!
//! A service's binary is a [`Parser`] whose subcommand enum flattens [`ServiceCommand`]
//! (`serve`, the default, and `migrate`) next to its own commands:
//!
//! ```ignore
//! #[derive(Parser)]
//! #[command(version, after_help = servicekit::cli::after_help(EXAMPLES))]
//! struct Cli {
//!     #[command(subcommand)]
//!     command: Option<Command>,
//! }
//!
//! #[derive(Subcommand)]
//! enum Command {
//!     #[command(flatten)]
//!     Service(ServiceCommand),
//!     /// Create the catalogue.
//!     Seed(SeedOptions),
//! }
//!
//! fn main() -> ExitCode {
//!     servicekit::cli::run(|cli: Cli| async move { ... })
//! }
//! ```

use crate::amqp::Broker;
use crate::config::{AmqpSettings, DatabaseSettings, LogSettings};
use crate::db::{self, PgPool};
use crate::parked::{self, Listing, Parked, ParkedError, Which};
use crate::service::Application;
use anyhow::Context;
use clap::{Args, CommandFactory, FromArgMatches, Parser, Subcommand};
use serde::de::DeserializeOwned;
use std::future::Future;
use std::process::ExitCode;
use std::time::Duration;
use uuid::Uuid;

/// The commands every service has.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Subcommand)]
pub enum ServiceCommand {
    /// Apply pending migrations, serve the HTTP API and run the workers until SIGTERM or
    /// Ctrl-C (the default)
    #[default]
    Serve,
    /// Apply pending database migrations and exit
    Migrate,
}

/// Runs `serve` or `migrate` for the service `name`. Serving logs as `log` says and runs the
/// application `build` makes until it is stopped; migrating logs only warnings, applies
/// `migrations` to `database` and prints one line.
pub async fn run_service<B, Fut>(
    name: &str,
    command: ServiceCommand,
    log: &LogSettings,
    database: &DatabaseSettings,
    migrations: fn() -> refinery::Runner,
    build: B,
) -> anyhow::Result<()>
where
    B: FnOnce() -> Fut,
    Fut: Future<Output = anyhow::Result<Application>>,
{
    match command {
        ServiceCommand::Serve => {
            crate::telemetry::init(log);
            let app = build().await?;
            tracing::info!(port = app.port(), "{name} listening");
            app.run_until_stopped().await?;
        }
        ServiceCommand::Migrate => {
            migrated_pool(log, database, migrations).await?;
            println!("{name}: migrations applied");
        }
    }
    Ok(())
}

/// For a command other than `serve` (seed, admin): quiet logging (warnings only unless
/// `RUST_LOG` says otherwise) and a pool of the service's database with `migrations` applied.
pub async fn migrated_pool(
    log: &LogSettings,
    database: &DatabaseSettings,
    migrations: fn() -> refinery::Runner,
) -> anyhow::Result<PgPool> {
    crate::telemetry::init_quiet(log);
    let pool = db::pool(database)?;
    db::migrate(&pool, migrations())
        .await
        .context("migrating")?;
    Ok(pool)
}

/// `parked list|replay|drop`: the messages a service's consumers gave up on
/// ([`crate::parked`]).
#[derive(Clone, Debug, PartialEq, Eq, Subcommand)]
pub enum ParkedCommand {
    /// Count the parked messages of each queue (or one) and show the first ones: event id,
    /// type, why it was parked (rejected, or delivery_limit: it failed on every delivery) and
    /// when
    #[command(after_help = LIST_EXAMPLES)]
    List {
        /// Only this queue (as the service consumes it, e.g. booking.payment-results)
        #[arg(long)]
        queue: Option<String>,
        /// Show at most this many messages of each queue
        #[arg(long, default_value_t = 20)]
        limit: usize,
    },
    /// Put parked messages back into the queue they came from, to be handled again (safe:
    /// consumers apply an event once, by its id)
    #[command(after_help = REPLAY_EXAMPLES)]
    Replay(ParkedTarget),
    /// Delete parked messages for good
    #[command(after_help = DROP_EXAMPLES)]
    Drop(ParkedTarget),
}

/// The messages `replay` and `drop` take.
#[derive(Clone, Debug, PartialEq, Eq, Args)]
pub struct ParkedTarget {
    /// The queue, as the service consumes it (e.g. booking.payment-results)
    #[arg(long)]
    pub queue: String,
    /// The parked messages of this event
    #[arg(
        long,
        value_name = "EVENT_ID",
        required_unless_present = "all",
        conflicts_with = "all"
    )]
    pub id: Option<Uuid>,
    /// Every message parked in the queue
    #[arg(long)]
    pub all: bool,
}

impl ParkedTarget {
    fn which(&self) -> Which {
        self.id.map_or(Which::All, Which::Event)
    }
}

/// The `--help` text after `parked`'s options.
pub const PARKED_EXAMPLES: &str = "\
Examples:
  <service> parked list                                    every queue's parked messages
  <service> parked replay --queue Q --id 0193c1d2-...      replay one event, once its cause is fixed
  <service> parked replay --queue Q --all                  replay every parked message of Q
  <service> parked drop --queue Q --id 0193c1d2-...        delete one event's parked messages

Messages are taken from Q.parked (Q with APP_AMQP__QUEUE_PREFIX before it) on APP_AMQP__URL.";

const LIST_EXAMPLES: &str = "\
Examples:
  <service> parked list                      every queue: the count and the first 20 messages
  <service> parked list --queue Q --limit 0  only how many messages Q.parked holds";

const REPLAY_EXAMPLES: &str = "\
Examples:
  <service> parked replay --queue Q --id 0193c1d2-...   the messages of one event
  <service> parked replay --queue Q --all               every parked message of Q

Fix the cause first (the service's log of the rejection says it): a message replayed before
parks again. Replaying an event that was applied already changes nothing.";

const DROP_EXAMPLES: &str = "\
Examples:
  <service> parked drop --queue Q --id 0193c1d2-...   the messages of one event
  <service> parked drop --queue Q --all               every parked message of Q";

/// How long `parked` waits for the broker.
const BROKER_WAIT: Duration = Duration::from_secs(10);

/// Runs a `parked` command of the service `name`, whose consumers read `queues` on the
/// broker `amqp`; prints what it found or did.
pub async fn run_parked(
    name: &str,
    command: ParkedCommand,
    log: &LogSettings,
    amqp: &AmqpSettings,
    queues: &[&str],
) -> anyhow::Result<()> {
    crate::telemetry::init_quiet(log);
    // A wrong queue is named before the broker is asked anything.
    match &command {
        ParkedCommand::List {
            queue: Some(queue), ..
        } => {
            parked::resolve(queues, queue)?;
        }
        ParkedCommand::Replay(target) | ParkedCommand::Drop(target) => {
            parked::resolve(queues, &target.queue)?;
        }
        ParkedCommand::List { queue: None, .. } => {}
    }
    let broker = Broker::start(amqp, name);
    let parked = Parked::new(broker.clone(), queues);
    let outcome = parked_command(name, &parked, &broker, command).await;
    broker.close().await;
    outcome
}

async fn parked_command(
    name: &str,
    parked: &Parked,
    broker: &Broker,
    command: ParkedCommand,
) -> anyhow::Result<()> {
    if !broker.wait_connected(BROKER_WAIT).await {
        anyhow::bail!("cannot reach the message broker within {BROKER_WAIT:?}");
    }
    match command {
        ParkedCommand::List { queue, limit } => {
            let queues = match queue {
                Some(queue) => vec![parked.resolve(&queue)?.to_owned()],
                None => parked.queues().to_vec(),
            };
            for queue in queues {
                match parked.list(&queue, limit).await {
                    Ok(listing) => print!("{}", listing_text(&listing)),
                    Err(ParkedError::NotDeclared(_)) => {
                        println!(
                            "{queue}.parked: not declared yet (the service never consumed here)"
                        );
                    }
                    Err(e) => return Err(e.into()),
                }
            }
        }
        ParkedCommand::Replay(target) => {
            let n = parked.replay(&target.queue, target.which()).await?;
            let queue = parked.resolve(&target.queue)?;
            println!(
                "{name}: replayed {} of {queue}.parked into {queue}",
                messages(n)
            );
        }
        ParkedCommand::Drop(target) => {
            let n = parked.discard(&target.queue, target.which()).await?;
            let queue = parked.resolve(&target.queue)?;
            println!("{name}: dropped {} of {queue}.parked", messages(n));
        }
    }
    Ok(())
}

fn messages(n: u32) -> String {
    if n == 1 {
        "1 message".to_owned()
    } else {
        format!("{n} messages")
    }
}

/// A queue's listing as `parked list` prints it: a line with the count, then a table.
pub fn listing_text(listing: &Listing) -> String {
    let mut text = format!(
        "{}.parked: {} parked\n",
        listing.queue,
        messages(listing.count)
    );
    if listing.messages.is_empty() {
        return text;
    }
    let dash = || "-".to_owned();
    text.push_str(&format!(
        "  {:<36}  {:<24}  {:<14}  {:<20}  {}\n",
        "EVENT ID", "TYPE", "FIRST DEATH", "PARKED AT (UTC)", "TIMES"
    ));
    for m in &listing.messages {
        text.push_str(&format!(
            "  {:<36}  {:<24}  {:<14}  {:<20}  {}\n",
            m.event_id.map_or_else(dash, |id| id.to_string()),
            m.kind.clone().unwrap_or_else(dash),
            m.reason.clone().unwrap_or_else(dash),
            m.parked_at
                .map_or_else(dash, |t| t.format("%Y-%m-%d %H:%M:%S").to_string()),
            m.times_parked,
        ));
    }
    let shown = listing.messages.len();
    if (listing.count as usize) > shown {
        text.push_str(&format!(
            "  ... and {} more (--limit)\n",
            listing.count as usize - shown
        ));
    }
    text
}

/// What a service binary says about itself in `--help` and `--version`.
pub struct Binary {
    pub name: &'static str,
    pub version: &'static str,
    /// The first paragraph of `--help`: what the service does.
    pub about: &'static str,
    /// One example a line, each with what it does (see [`after_help`]).
    pub examples: &'static str,
    /// The queues its consumers read (as their subscriptions name them): `parked` works on
    /// their parking queues.
    pub queues: &'static [&'static str],
}

/// The command line of a service with no commands of its own.
#[derive(Parser)]
struct ServiceCli {
    #[command(subcommand)]
    command: Option<ServiceCliCommand>,
}

#[derive(Subcommand)]
enum ServiceCliCommand {
    #[command(flatten)]
    Service(ServiceCommand),
    /// List, replay or drop the messages the consumers gave up on (parked)
    #[command(subcommand, after_help = PARKED_EXAMPLES)]
    Parked(ParkedCommand),
}

/// The settings every command of [`service_main`] needs, picked out of the service's own.
pub struct Parts {
    pub log: LogSettings,
    pub database: DatabaseSettings,
    pub amqp: AmqpSettings,
}

/// The whole `main` of a consuming service whose commands are `serve`, `migrate` and
/// `parked`: parses the command line as `binary` describes, loads the settings `S` of
/// `binary.name`, and runs the command ([`run_service`], [`run_parked`]); `parts` picks the
/// settings they need out of `S`.
pub fn service_main<S, P, B, Fut>(
    binary: Binary,
    migrations: fn() -> refinery::Runner,
    parts: P,
    build: B,
) -> ExitCode
where
    S: DeserializeOwned + serde::Serialize + Default,
    P: FnOnce(&S) -> Parts,
    B: FnOnce(S) -> Fut,
    Fut: Future<Output = anyhow::Result<Application>>,
{
    let matches = ServiceCli::command()
        .name(binary.name)
        .bin_name(binary.name)
        .version(binary.version)
        .about(binary.about)
        .after_help(after_help(binary.examples))
        .get_matches();
    let command = ServiceCli::from_arg_matches(&matches)
        .map(|cli| {
            cli.command
                .unwrap_or(ServiceCliCommand::Service(ServiceCommand::Serve))
        })
        .unwrap_or_else(|e| e.exit());
    block_on(async move {
        let settings: S = crate::config::load(binary.name)?;
        let Parts {
            log,
            database,
            amqp,
        } = parts(&settings);
        match command {
            ServiceCliCommand::Service(command) => {
                let build = || build(settings);
                run_service(binary.name, command, &log, &database, migrations, build).await
            }
            ServiceCliCommand::Parked(command) => {
                run_parked(binary.name, command, &log, &amqp, binary.queues).await
            }
        }
    })
}

/// The part of every service's `--help` that says where its settings come from.
pub const SETTINGS_HELP: &str = "\
Settings: the built-in defaults, then config/<service>.toml (or the file named by
APP_CONFIG_FILE), then environment variables APP_<SECTION>__<KEY>, for example
APP_DATABASE__URL=postgres://... or APP_HTTP__PORT=8081.";

/// The text after a binary's options in `--help`: its `examples` (one per line, each with
/// what it does; indented here) and where its settings come from.
pub fn after_help(examples: &str) -> String {
    let examples: Vec<String> = examples.lines().map(|line| format!("  {line}")).collect();
    format!("Examples:\n{}\n\n{SETTINGS_HELP}", examples.join("\n"))
}

/// Runs a binary: parses its command line into `C` (help, version and usage errors are
/// handled by clap, see the module docs), then `main` on a multi-threaded tokio runtime.
/// Returns the process's exit status: success, or 1 after printing the error in one line.
pub fn run<C, F, Fut>(main: F) -> ExitCode
where
    C: Parser,
    F: FnOnce(C) -> Fut,
    Fut: Future<Output = anyhow::Result<()>>,
{
    let cli = C::parse();
    block_on(main(cli))
}

/// Runs `main` on a multi-threaded tokio runtime; success, or 1 after printing the error in
/// one line.
///
/// A failure exits while the runtime still runs: dropping it would cancel the tasks that
/// a half-built service left behind (a broker connection attempt among them), and lapin's
/// I/O thread panics when its task is cancelled under it, which would print a backtrace
/// beside the one-line error.
fn block_on(main: impl Future<Output = anyhow::Result<()>>) -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => fail(&error.into()),
    };
    match runtime.block_on(main) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => fail(&error),
    }
}

/// Prints `error` in one line and exits with status 1 at once (stdout is flushed).
fn fail(error: &anyhow::Error) -> ! {
    eprintln!("{}", one_line(error));
    std::process::exit(1)
}

/// `error: ` and the cause chain joined by `: `, on one line whatever the causes contain.
pub fn one_line(error: &anyhow::Error) -> String {
    let chain = format!("{error:#}");
    let words: Vec<&str> = chain.split_whitespace().collect();
    format!("error: {}", words.join(" "))
}

#[cfg(test)]
mod tests {
    use super::*;
    use anyhow::Context;

    #[test]
    fn an_error_is_its_cause_chain_on_one_line() {
        let error = Err::<(), _>(anyhow::anyhow!(
            "invalid type: string \"x\",\n expected u16"
        ))
        .context("loading the settings of auth-service")
        .err()
        .map(|e| one_line(&e));
        assert_eq!(
            error.as_deref(),
            Some(
                "error: loading the settings of auth-service: invalid type: string \"x\", \
                 expected u16"
            )
        );
    }

    #[test]
    fn a_listing_is_a_count_then_a_table_of_the_messages_shown() {
        use crate::parked::ParkedMessage;
        let id = Uuid::parse_str("0193c1d2-0000-7000-8000-000000000001").ok();
        let at = chrono::DateTime::from_timestamp(1_796_000_000, 0);
        let listing = Listing {
            queue: "booking.payment-results".into(),
            count: 3,
            messages: vec![
                ParkedMessage {
                    event_id: id,
                    kind: Some("payment.succeeded".into()),
                    reason: Some("rejected".into()),
                    parked_at: at,
                    times_parked: 1,
                    body: serde_json::Value::Null,
                },
                ParkedMessage {
                    event_id: None,
                    kind: None,
                    reason: Some("delivery_limit".into()),
                    parked_at: None,
                    times_parked: 2,
                    body: serde_json::Value::Null,
                },
            ],
        };
        let text = listing_text(&listing);
        let lines: Vec<&str> = text.lines().map(str::trim_end).collect();
        assert_eq!(
            lines,
            vec![
                "booking.payment-results.parked: 3 messages parked",
                "  EVENT ID                              TYPE                      FIRST DEATH     \
                 PARKED AT (UTC)       TIMES",
                "  0193c1d2-0000-7000-8000-000000000001  payment.succeeded         rejected        \
                 2026-11-30 00:53:20   1",
                "  -                                     -                         delivery_limit  \
                 -                     2",
                "  ... and 1 more (--limit)",
            ]
        );
        let empty = Listing {
            queue: "q".into(),
            count: 1,
            messages: Vec::new(),
        };
        assert_eq!(listing_text(&empty), "q.parked: 1 message parked\n");
    }

    #[derive(Parser, Debug)]
    struct Cli {
        #[command(subcommand)]
        command: Option<ServiceCommand>,
    }

    #[test]
    fn serve_is_the_default_and_migrate_a_command() {
        let parse = |args: &[&str]| {
            Cli::try_parse_from(std::iter::once("svc").chain(args.iter().copied()))
                .map(|c| c.command.unwrap_or_default())
        };
        assert_eq!(parse(&[]).ok(), Some(ServiceCommand::Serve));
        assert_eq!(parse(&["serve"]).ok(), Some(ServiceCommand::Serve));
        assert_eq!(parse(&["migrate"]).ok(), Some(ServiceCommand::Migrate));
        let wrong = parse(&["--bogus"]).err().map(|e| e.exit_code());
        assert_eq!(wrong, Some(2));
    }
}
