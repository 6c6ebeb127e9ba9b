//! The command lines of e2e's binaries, `railrush-check` and `saga-bench`, run as an
//! operator runs them. (Each service's binary is tested in its own package, where Cargo
//! names its path: `tests/api/cli.rs`.)
#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests fail by panicking.

use servicekit::testing::cli;

const CHECK: &str = env!("CARGO_BIN_EXE_railrush-check");
const BENCH: &str = env!("CARGO_BIN_EXE_saga-bench");

#[test]
fn help_and_version_describe_the_options() {
    cli::assert_help(
        CHECK,
        &[],
        &[
            "--settle <SECONDS>",
            "[default: 30]",
            "RAILRUSH_PG_BASE_URL",
            "RAILRUSH_DB_PREFIX",
            "[default: railrush_]",
        ],
    );
    cli::assert_version(CHECK, "railrush-check", env!("CARGO_PKG_VERSION"));
    cli::assert_help(
        BENCH,
        &[],
        &[
            "--auth <URL>",
            "--notification-db <URL>",
            "--bookings <N>",
            "[default: 1000]",
            "--concurrency <C>",
            "[default: 32]",
        ],
    );
    cli::assert_version(BENCH, "saga-bench", env!("CARGO_PKG_VERSION"));
}

#[test]
fn a_wrong_argument_is_refused_with_the_usage() {
    cli::assert_refused(
        CHECK,
        &["--settle"],
        "a value is required for '--settle <SECONDS>'",
    );
    cli::assert_refused(CHECK, &["--settle", "soon"], "invalid value 'soon'");
    cli::assert_refused(CHECK, &["consistent"], "Usage: railrush-check");
    cli::assert_refused(BENCH, &["--auth", "http://127.0.0.1:8081"], "--train <URL>");
    cli::assert_refused(
        BENCH,
        &[
            "--auth",
            "a",
            "--train",
            "t",
            "--booking",
            "b",
            "--booking-db",
            "d",
            "--notification-db",
            "n",
            "--users",
            "0",
        ],
        "invalid value '0' for '--users <U>'",
    );
}

#[test]
fn databases_that_do_not_answer_are_one_line_without_a_backtrace() {
    cli::assert_one_line_error(
        CHECK,
        &[
            "--settle",
            "0",
            "--pg-base-url",
            "postgres://postgres@127.0.0.1:1",
        ],
        &[],
        "error: ",
    );
}
