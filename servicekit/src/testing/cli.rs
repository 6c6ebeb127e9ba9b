//! Running a built binary the way an operator does, for the tests of its command line:
//! `--help`, a wrong argument, a user mistake. The binary's path comes from Cargo
//! (`env!("CARGO_BIN_EXE_<name>")` in the package's integration tests).
//!
//! Every run has `RUST_BACKTRACE=1` set, so a test that expects one line on stderr also shows
//! that an error prints no backtrace, and none of this process's `APP_*` variables: the
//! settings are the binary's defaults plus what the test passes.

use secrecy::ExposeSecret;
use std::io::Read;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// How a run ended.
#[derive(Debug)]
pub struct Run {
    /// None when the process was ended by a signal.
    pub status: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

/// A command that has not ended after this long is killed and the test fails: a wrong
/// argument must never start a server.
const LIMIT: Duration = Duration::from_secs(60);

/// Runs `bin args...` with `env` added, and waits for it (at most a minute).
pub fn run(bin: &str, args: &[&str], env: &[(&str, &str)]) -> Run {
    let mut command = Command::new(bin);
    command
        .args(args)
        .env("RUST_BACKTRACE", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (key, _) in std::env::vars_os() {
        if key.to_string_lossy().starts_with("APP_") {
            command.env_remove(key);
        }
    }
    command.envs(env.iter().copied());
    let mut child = match command.spawn() {
        Ok(child) => child,
        Err(e) => panic!("starting {bin}: {e}"),
    };
    let started = Instant::now();
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if started.elapsed() < LIMIT => std::thread::sleep(Duration::from_millis(20)),
            Ok(None) => {
                let _ = child.kill();
                panic!("{bin} {args:?} was still running after {LIMIT:?}");
            }
            Err(e) => panic!("waiting for {bin}: {e}"),
        }
    };
    let read = |pipe: Option<&mut dyn Read>| {
        let mut text = String::new();
        if let Some(pipe) = pipe {
            let _ = pipe.read_to_string(&mut text);
        }
        text
    };
    let stdout = read(child.stdout.as_mut().map(|p| p as &mut dyn Read));
    let stderr = read(child.stderr.as_mut().map(|p| p as &mut dyn Read));
    Run {
        status: status.code(),
        stdout,
        stderr,
    }
}

/// `bin args... --help` exits 0 and prints the usage, an example and each of `mentions`
/// (subcommands, options, defaults; line breaks do not count).
pub fn assert_help(bin: &str, args: &[&str], mentions: &[&str]) -> Run {
    let mut with_help = args.to_vec();
    with_help.push("--help");
    let run = run(bin, &with_help, &[]);
    assert_eq!(run.status, Some(0), "{with_help:?}: {run:?}");
    assert!(
        run.stdout.contains("Usage:"),
        "{with_help:?}: {}",
        run.stdout
    );
    assert!(
        run.stdout.contains("Example"),
        "{with_help:?} shows no example: {}",
        run.stdout
    );
    // Help is wrapped to the terminal's width (100 columns here): compare words.
    let words = |text: &str| text.split_whitespace().collect::<Vec<_>>().join(" ");
    let help = words(&run.stdout);
    for mention in mentions {
        assert!(
            help.contains(&words(mention)),
            "{with_help:?} does not mention {mention}: {}",
            run.stdout
        );
    }
    run
}

/// `bin --version` exits 0 and prints the name and the package's version.
pub fn assert_version(bin: &str, name: &str, version: &str) {
    let run = run(bin, &["--version"], &[]);
    assert_eq!(run.status, Some(0), "{run:?}");
    assert_eq!(run.stdout.trim(), format!("{name} {version}"));
}

/// `bin args...` is refused as a usage error: exit status 2, nothing on stdout, on stderr
/// `error: ...` and `expected` (`Usage:` for an unknown argument, which clap follows with
/// the usage), no backtrace.
pub fn assert_refused(bin: &str, args: &[&str], expected: &str) {
    let run = run(bin, args, &[]);
    assert_eq!(run.status, Some(2), "{args:?}: {run:?}");
    assert!(run.stdout.is_empty(), "{args:?}: {run:?}");
    assert!(run.stderr.starts_with("error: "), "{args:?}: {run:?}");
    assert!(run.stderr.contains(expected), "{args:?}: {run:?}");
    assert!(!run.stderr.contains("backtrace"), "{args:?}: {run:?}");
}

/// `bin args...` with `env` fails with exit status 1 and exactly one line on stderr,
/// `error: ...` containing `contains`: no backtrace, even with `RUST_BACKTRACE=1`.
pub fn assert_one_line_error(
    bin: &str,
    args: &[&str],
    env: &[(&str, &str)],
    contains: &str,
) -> Run {
    let run = run(bin, args, env);
    assert_eq!(run.status, Some(1), "{args:?}: {run:?}");
    let lines: Vec<&str> = run.stderr.lines().collect();
    assert_eq!(lines.len(), 1, "{args:?}: not one line: {}", run.stderr);
    assert!(lines[0].starts_with("error: "), "{args:?}: {}", run.stderr);
    assert!(lines[0].contains(contains), "{args:?}: {}", run.stderr);
    run
}

/// `bin args...` with `env` succeeds (exit status 0).
pub fn assert_succeeds(bin: &str, args: &[&str], env: &[(&str, &str)]) -> Run {
    let run = run(bin, args, env);
    assert_eq!(run.status, Some(0), "{args:?}: {run:?}");
    run
}

/// The value of `APP_DATABASE__URL` that points a binary at a test's database.
pub fn database_url(env: &super::TestEnv) -> String {
    env.database.url.expose_secret().to_owned()
}

/// How many migrations the test's database has applied.
pub async fn applied_migrations(env: &super::TestEnv) -> anyhow::Result<i64> {
    let pool = crate::db::pool(&env.database)?;
    let client = pool.get().await?;
    let row = client
        .query_one("SELECT count(*) FROM refinery_schema_history", &[])
        .await?;
    Ok(row.get(0))
}

/// The command-line tests every service binary whose commands are `serve` and `migrate`
/// passes: `--help` and `--version`, wrong arguments refused with the usage (exit 2), a
/// settings mistake in one line, and `migrate` against a test database. Expands to four
/// `#[test]`s in the calling module:
///
/// ```ignore
/// servicekit::service_cli_tests!(env!("CARGO_BIN_EXE_booking-service"), "booking-service");
/// ```
#[macro_export]
macro_rules! service_cli_tests {
    ($bin:expr, $name:literal) => {
        #[test]
        fn help_and_version_describe_the_commands() {
            $crate::testing::cli::assert_help(
                $bin,
                &[],
                &["serve", "migrate", "(the default)", "APP_DATABASE__URL"],
            );
            $crate::testing::cli::assert_version($bin, $name, env!("CARGO_PKG_VERSION"));
        }

        #[test]
        fn a_wrong_argument_is_refused_with_the_usage() {
            let usage = concat!("Usage: ", $name);
            $crate::testing::cli::assert_refused($bin, &["--port", "8080"], usage);
            let usage = concat!("Usage: ", $name, " migrate");
            $crate::testing::cli::assert_refused($bin, &["migrate", "now"], usage);
        }

        #[test]
        fn a_settings_value_that_does_not_parse_is_one_line_without_a_backtrace() {
            $crate::testing::cli::assert_one_line_error(
                $bin,
                &["migrate"],
                &[("APP_DATABASE__MAX_SIZE", "many")],
                concat!("error: loading the settings of ", $name, ": "),
            );
        }

        #[tokio::test]
        async fn migrate_applies_the_migrations_and_says_so() {
            let env = $crate::testing::TestEnv::new($name).await.unwrap();
            let url = $crate::testing::cli::database_url(&env);
            let run = tokio::task::spawn_blocking(move || {
                $crate::testing::cli::assert_succeeds(
                    $bin,
                    &["migrate"],
                    &[("APP_DATABASE__URL", &url)],
                )
            })
            .await
            .unwrap();
            assert_eq!(run.stdout, concat!($name, ": migrations applied\n"));
            assert!(
                $crate::testing::cli::applied_migrations(&env)
                    .await
                    .unwrap()
                    > 0
            );
        }
    };
}

/// The `APP_AMQP__*` variables that point a binary at a test's broker names.
pub fn amqp_env(env: &super::TestEnv) -> Vec<(String, String)> {
    vec![
        (
            "APP_AMQP__URL".to_owned(),
            env.amqp.url.expose_secret().to_owned(),
        ),
        ("APP_AMQP__EXCHANGE".to_owned(), env.amqp.exchange.clone()),
        (
            "APP_AMQP__QUEUE_PREFIX".to_owned(),
            env.amqp.queue_prefix.clone(),
        ),
    ]
}

/// The command-line tests of `parked` every consuming service's binary passes, on its
/// consumer queue `$queue`: help, a wrong queue (one line naming the right ones), a missing
/// target (usage), and a message parked in the test's own queues listed, replayed into its
/// queue and dropped. Expands to three `#[test]`s in the calling module:
///
/// ```ignore
/// servicekit::parked_cli_tests!(env!("CARGO_BIN_EXE_booking-service"), "booking-service",
///     "booking.payment-results");
/// ```
#[macro_export]
macro_rules! parked_cli_tests {
    ($bin:expr, $name:literal, $queue:literal) => {
        #[test]
        fn parked_help_describes_list_replay_and_drop() {
            $crate::testing::cli::assert_help($bin, &[], &["parked"]);
            $crate::testing::cli::assert_help($bin, &["parked"], &["list", "replay", "drop"]);
            $crate::testing::cli::assert_help(
                $bin,
                &["parked", "replay"],
                &["--queue <QUEUE>", "--id <EVENT_ID>", "--all"],
            );
        }

        #[test]
        fn parked_refuses_a_wrong_queue_and_a_missing_target() {
            $crate::testing::cli::assert_one_line_error(
                $bin,
                &["parked", "list", "--queue", "no.such-queue"],
                &[],
                concat!("no queue \"no.such-queue\" here; the queues are ", $queue),
            );
            $crate::testing::cli::assert_refused(
                $bin,
                &["parked", "replay", "--queue", $queue],
                "--id <EVENT_ID>",
            );
            $crate::testing::cli::assert_refused(
                $bin,
                &["parked", "drop", "--queue", $queue, "--id", "x"],
                "invalid value 'x' for '--id <EVENT_ID>'",
            );
            $crate::testing::cli::assert_refused(
                $bin,
                &[
                    "parked",
                    "drop",
                    "--queue",
                    $queue,
                    "--id",
                    "0193c1d2-0000-7000-8000-000000000000",
                    "--all",
                ],
                "'--id <EVENT_ID>' cannot be used with '--all'",
            );
        }

        #[tokio::test]
        async fn parked_lists_replays_and_drops_a_parked_message() {
            use $crate::testing::cli::{amqp_env, assert_succeeds};
            let env = $crate::testing::TestEnv::new($name).await.unwrap();
            env.track_consumer_queues(&[$queue]);
            let vars = amqp_env(&env);
            let run = move |args: &'static [&'static str], id: Option<String>| {
                let vars = vars.clone();
                tokio::task::spawn_blocking(move || {
                    let mut args: Vec<&str> = args.to_vec();
                    if let Some(id) = &id {
                        args.extend(["--id", id.as_str()]);
                    }
                    let vars: Vec<(&str, &str)> =
                        vars.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
                    assert_succeeds($bin, &args, &vars).stdout
                })
            };
            let event = $crate::amqp::Envelope::new("test.poison", &1).unwrap();
            $crate::testing::park(&env.amqp, $queue, &event)
                .await
                .unwrap();
            let id = event.event_id.to_string();

            let listed = run(&["parked", "list"], None).await.unwrap();
            assert!(
                listed.contains(concat!($queue, ".parked: 1 message parked")),
                "{listed}"
            );
            assert!(listed.contains(&id), "{listed}");
            assert!(listed.contains("test.poison"), "{listed}");
            assert!(listed.contains("rejected"), "{listed}");

            let replayed = run(&["parked", "replay", "--queue", $queue], Some(id.clone()))
                .await
                .unwrap();
            assert_eq!(
                replayed,
                concat!(
                    $name,
                    ": replayed 1 message of ",
                    $queue,
                    ".parked into ",
                    $queue,
                    "\n"
                )
            );
            let source = env.queue($queue);
            assert_eq!($crate::testing::queue_depth(&source).await.unwrap(), 1);

            $crate::testing::park(&env.amqp, $queue, &event)
                .await
                .unwrap();
            let dropped = run(&["parked", "drop", "--queue", $queue, "--all"], None)
                .await
                .unwrap();
            assert_eq!(
                dropped,
                concat!($name, ": dropped 1 message of ", $queue, ".parked\n")
            );
            let parking = format!("{source}.parked");
            assert_eq!($crate::testing::queue_depth(&parking).await.unwrap(), 0);
        }
    };
}
