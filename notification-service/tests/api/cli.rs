//! The binary's command line, run as an operator runs it.

use servicekit::testing::{TestEnv, cli};

const BIN: &str = env!("CARGO_BIN_EXE_notification-service");

#[test]
fn help_and_version_describe_the_commands() {
    cli::assert_help(
        BIN,
        &[],
        &["serve", "migrate", "(the default)", "APP_DATABASE__URL"],
    );
    cli::assert_version(BIN, "notification-service", env!("CARGO_PKG_VERSION"));
}

#[test]
fn a_wrong_argument_is_refused_with_the_usage() {
    cli::assert_refused(
        BIN,
        &["--port", "8080"],
        "Usage: notification-service [COMMAND]",
    );
    cli::assert_refused(
        BIN,
        &["migrate", "now"],
        "Usage: notification-service migrate",
    );
}

#[test]
fn a_settings_value_that_does_not_parse_is_one_line_without_a_backtrace() {
    cli::assert_one_line_error(
        BIN,
        &["migrate"],
        &[("APP_DATABASE__MAX_SIZE", "many")],
        "error: loading the settings of notification-service: ",
    );
}

#[tokio::test]
async fn migrate_applies_the_migrations_and_says_so() {
    let env = TestEnv::new("notification").await.unwrap();
    let url = cli::database_url(&env);
    let run = tokio::task::spawn_blocking(move || {
        cli::assert_succeeds(BIN, &["migrate"], &[("APP_DATABASE__URL", &url)])
    })
    .await
    .unwrap();
    assert_eq!(run.stdout, "notification-service: migrations applied\n");
    assert!(cli::applied_migrations(&env).await.unwrap() > 0);
}
