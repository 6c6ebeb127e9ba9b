//! The binary's command line, run as an operator runs it: help, wrong arguments, user
//! mistakes, and the seed command against a test database.

use servicekit::testing::{TestEnv, cli};

const BIN: &str = env!("CARGO_BIN_EXE_train-service");

#[test]
fn help_and_version_describe_the_commands() {
    cli::assert_help(BIN, &[], &["serve", "migrate", "seed", "APP_DATABASE__URL"]);
    cli::assert_help(
        BIN,
        &["seed"],
        &[
            "--trains <N>",
            "--coaches <N>",
            "--seats <N>",
            "--days <N>",
            "--routes <FROM-TO>",
            "--rush-in <MINUTES>",
            "[default: 9]",
            "[default: 14]",
            "[default: DHK-CTG]",
        ],
    );
    cli::assert_version(BIN, "train-service", env!("CARGO_PKG_VERSION"));
}

#[test]
fn a_wrong_argument_is_refused_with_the_usage() {
    cli::assert_refused(BIN, &["--bogus"], "Usage: train-service [COMMAND]");
    cli::assert_refused(BIN, &["sed"], "Usage: train-service [COMMAND]");
    cli::assert_refused(BIN, &["seed", "--train", "5"], "Usage: train-service seed");
    cli::assert_refused(
        BIN,
        &["seed", "--days", "0"],
        "invalid value '0' for '--days <N>': 0 is not a number from 1 to 366",
    );
    cli::assert_refused(
        BIN,
        &["seed", "--routes", "DHK-DHK"],
        "route \"DHK-DHK\" goes nowhere",
    );
}

#[test]
fn a_settings_value_that_does_not_parse_is_one_line_without_a_backtrace() {
    cli::assert_one_line_error(
        BIN,
        &["seed"],
        &[("APP_HTTP__PORT", "eighty")],
        "error: loading the settings of train-service: ",
    );
}

#[test]
fn a_database_that_does_not_answer_is_one_line() {
    cli::assert_one_line_error(
        BIN,
        &["migrate"],
        &[(
            "APP_DATABASE__URL",
            "postgres://postgres@127.0.0.1:1/railrush_train",
        )],
        "error: migrating: ",
    );
}

#[tokio::test]
async fn seed_migrates_seeds_and_says_what_it_added() {
    let env = TestEnv::new("train").await.unwrap();
    let url = cli::database_url(&env);
    let run = tokio::task::spawn_blocking(move || {
        let db = [("APP_DATABASE__URL", url.as_str())];
        let args = [
            "seed",
            "--trains",
            "2",
            "--coaches",
            "2",
            "--seats",
            "4",
            "--days",
            "3",
        ];
        let first = cli::assert_succeeds(BIN, &args, &db);
        let again = cli::assert_succeeds(BIN, &args, &db);
        let unknown = cli::assert_one_line_error(
            BIN,
            &["seed", "--routes", "DHK-XYZ"],
            &db,
            "error: seeding: unknown stations in --routes: XYZ",
        );
        (first, again, unknown)
    })
    .await
    .unwrap();
    assert_eq!(
        run.0.stdout,
        "train-service: the seed added 8 stations, 2 trains, 16 seats and 6 trips\n"
    );
    assert_eq!(
        run.1.stdout,
        "train-service: the seed added 0 stations, 0 trains, 0 seats and 0 trips\n"
    );
    assert!(run.2.stdout.is_empty(), "{:?}", run.2);
    assert!(cli::applied_migrations(&env).await.unwrap() > 0);
}

servicekit::parked_cli_tests!(
    env!("CARGO_BIN_EXE_train-service"),
    "train-service",
    "train.booking-events"
);
