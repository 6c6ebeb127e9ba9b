//! The web app in headless Chromium through the real nginx gateway: the whole platform
//! (the saga stack: five services in-process, one train with one coach of 10 seats) behind
//! the gateway serving `web/dist`, and `web/tests/journey.mjs` driving Debian's
//! `/usr/bin/chromium` with playwright-core: register, log in (password and one-time code),
//! search, hold two seats with the countdown, confirm with `tok_visa`, follow the booking to
//! paid and the e-ticket's QR code, while a second browser context sees the seats turn
//! booked live. Screenshots of each step go to `target/browser-artifacts/`.
//!
//! Needs `web/dist` and `web/node_modules` (`cd web && npm ci && npm run build`), Node.js and
//! Chromium (`apt-get install chromium`); scripts/test.sh provides all of them. When one is
//! missing the test fails and says which, rather than skipping.
#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests fail by panicking.

use chrono::{DateTime, FixedOffset, Utc};
use e2e::gateway::{Gateway, Profile, repo_root};
use e2e::stack::{Options, Stack};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;

const CHROMIUM: &str = "/usr/bin/chromium";

/// What the journey needs on disk, with how to get it; empty when all is there.
fn missing_prerequisites(web: &Path) -> Vec<String> {
    let mut missing = Vec::new();
    let build = "run `cd web && npm ci && npm run build` (scripts/test.sh does)";
    if !web.join("dist/index.html").is_file() {
        missing.push(format!(
            "{} is missing: {build}",
            web.join("dist/index.html").display()
        ));
    }
    for module in ["playwright-core", "jsqr"] {
        let dir = web.join("node_modules").join(module);
        if !dir.is_dir() {
            missing.push(format!("{} is missing: {build}", dir.display()));
        }
    }
    if !Path::new(CHROMIUM).is_file() {
        missing.push(format!(
            "{CHROMIUM} is missing: install Debian's chromium (`apt-get install chromium`; scripts/test.sh does)"
        ));
    }
    if Command::new("node").arg("--version").output().is_err() {
        missing.push("node is not on the PATH: install Node.js 20 or newer".to_owned());
    }
    missing
}

/// The trip's service date: its departure in Bangladesh time (UTC+6, no daylight saving).
fn service_date(trip: &Value) -> String {
    let departs: DateTime<Utc> = trip["departs_at"].as_str().unwrap().parse().unwrap();
    let dhaka = FixedOffset::east_opt(6 * 3600).unwrap();
    departs.with_timezone(&dhaka).date_naive().to_string()
}

fn fresh_dir(dir: &PathBuf) {
    if dir.exists() {
        std::fs::remove_dir_all(dir).unwrap();
    }
    std::fs::create_dir_all(dir).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn passenger_books_two_seats_in_chromium_and_another_browser_sees_them_booked_live() {
    let root = repo_root();
    let web = root.join("web");
    let missing = missing_prerequisites(&web);
    assert!(
        missing.is_empty(),
        "the browser test cannot run:\n  {}",
        missing.join("\n  ")
    );

    let stack = Stack::start(Options::default()).await;
    let gateway = Gateway::start(&stack.upstreams(), &web.join("dist"), Profile::Default)
        .await
        .unwrap();

    let trip: Value = stack
        .client
        .get(format!("{}/api/trains/trips/{}", gateway.url, stack.trip))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let artifacts = root.join("target/browser-artifacts");
    fresh_dir(&artifacts);

    let mut journey = Command::new("node");
    journey
        .arg("tests/journey.mjs")
        .current_dir(&web)
        .env("BASE_URL", &gateway.url)
        .env("TRIP_ID", stack.trip.to_string())
        .env("FROM", trip["from"].as_str().unwrap())
        .env("TO", trip["to"].as_str().unwrap())
        .env("DATE", service_date(&trip))
        .env("ARTIFACT_DIR", &artifacts)
        .env("CHROMIUM", CHROMIUM);
    // The services run on this runtime: wait for node on a blocking thread.
    let output = tokio::task::spawn_blocking(move || journey.output())
        .await
        .unwrap()
        .expect("starting node");
    println!("{}", String::from_utf8_lossy(&output.stdout));
    eprintln!("{}", String::from_utf8_lossy(&output.stderr));
    assert!(
        output.status.success(),
        "the browser journey failed ({}); screenshots in {}; gateway log:\n{}",
        output.status,
        artifacts.display(),
        gateway.error_log()
    );
    for step in [
        "04-seats-selected",
        "06-seats-held-countdown",
        "09-ticket",
        "10-seat-map-booked-phone",
    ] {
        assert!(
            artifacts.join(format!("{step}.png")).is_file(),
            "screenshot {step}.png was not saved"
        );
    }
    // What the browser did left the services consistent (one booking, paid, one ticket).
    stack.assert_consistent().await;
}
