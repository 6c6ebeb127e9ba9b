//! The web app in headless Chromium through the real nginx gateway: the whole platform
//! (the saga stack: five services in-process, one train with one coach of 10 seats) behind
//! the gateway serving `web/dist`, and `web/tests/journey.mjs` driving Debian's
//! `/usr/bin/chromium` with playwright-core: register, log in (password and one-time code),
//! search, hold two seats with the countdown, confirm with `tok_visa`, follow the booking to
//! paid and the e-ticket's QR code, while a second browser context sees the seats turn
//! booked live. Screenshots of each step go to `target/browser-artifacts/`.
//!
//! And a sale's waiting room (`web/tests/waiting-room.mjs`, on a stack of its own): the trip's
//! opening is moved half a minute ahead with an admin token signed here, a crowd of 40 (tokens
//! signed here) joins its pre-queue, and a passenger logs in with a one-time code, verifies an
//! NID on the waiting page, joins the pre-queue, watches the countdown, is drawn among the
//! crowd at the opening and watches the line move, is let in, and books and pays with the pass (also: a lost
//! pass is refused by select and the page goes back to the waiting room). Its screenshots go
//! to `target/browser-artifacts/waiting-room/`.
//!
//! And the railway's operator console (`web/tests/console.mjs`, on a stack of its own): an
//! admin made with auth-service's `admin create` logs in, watches a passenger's booking
//! raise the trip's sold count without a reload, closes and reopens its sales, cancels the
//! trip and watches every booking cancelled and the paid one refunded, finds the booking by
//! its ticket code with its history, and drops a malformed event the test parked in
//! booking-service. Its screenshots go to `target/browser-artifacts/console/`.
//! And a conductor's phone (`web/tests/conductor.mjs`, on a stack of its own): four tickets
//! paid through the API, a conductor account made with auth-service's `admin grant`, a
//! ticket's QR image scanned and boarded, a second scan refused, then two tickets checked and
//! queued with the network cut and synced when it is back (one flagged: another device boarded
//! it meanwhile), and a fourth read by a second phone's camera (Chromium's fake capture device
//! playing a video of its QR code). Its screenshots go to `target/browser-artifacts/conductor/`.
//!
//! Needs `web/dist` and `web/node_modules` (`cd web && npm ci && npm run build`), Node.js and
//! Chromium (`apt-get install chromium`); scripts/test.sh provides all of them. When one is
//! missing the test fails and says which, rather than skipping.
#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests fail by panicking.

use chrono::{DateTime, FixedOffset, Utc};
use e2e::gateway::{Gateway, Profile, repo_root};
use e2e::stack::{Options, Stack};
use serde_json::Value;
use servicekit::testing::{keys, sign_token, verified_user};
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

/// `dir`, with the files of the last run gone (folders stay: the waiting room's journey
/// keeps its screenshots in one inside the other journey's, and both may run at once).
fn fresh_dir(dir: &Path) {
    std::fs::create_dir_all(dir).unwrap();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_file() {
            std::fs::remove_file(path).unwrap();
        }
    }
}

/// The stack's trip, as the gateway answers it.
async fn trip_of(stack: &Stack, gateway: &Gateway) -> Value {
    stack
        .client
        .get(format!("{}/api/trains/trips/{}", gateway.url, stack.trip))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

/// The web dir, after checking that the journeys can run there.
fn web_dir() -> PathBuf {
    let web = repo_root().join("web");
    let missing = missing_prerequisites(&web);
    assert!(
        missing.is_empty(),
        "the browser test cannot run:\n  {}",
        missing.join("\n  ")
    );
    web
}

/// Runs `node <script>` in `web/` with `vars` (and CHROMIUM, ARTIFACT_DIR), fails the test
/// when it fails, and asserts that each of `screenshots` was saved.
async fn journey(
    script: &str,
    vars: &[(&str, String)],
    artifacts: &Path,
    gateway: &Gateway,
    screenshots: &[&str],
) {
    fresh_dir(artifacts);
    let mut node = Command::new("node");
    node.arg(script)
        .current_dir(web_dir())
        .env("ARTIFACT_DIR", artifacts)
        .env("CHROMIUM", CHROMIUM);
    for (name, value) in vars {
        node.env(name, value);
    }
    // The services run on this runtime: wait for node on a blocking thread.
    let output = tokio::task::spawn_blocking(move || node.output())
        .await
        .unwrap()
        .expect("starting node");
    println!("{}", String::from_utf8_lossy(&output.stdout));
    eprintln!("{}", String::from_utf8_lossy(&output.stderr));
    assert!(
        output.status.success(),
        "the browser journey {script} failed ({}); screenshots in {}; gateway log:\n{}",
        output.status,
        artifacts.display(),
        gateway.error_log()
    );
    for step in screenshots {
        assert!(
            artifacts.join(format!("{step}.png")).is_file(),
            "screenshot {step}.png was not saved"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn passenger_books_two_seats_in_chromium_and_another_browser_sees_them_booked_live() {
    let web = web_dir();
    let stack = Stack::start(Options::default()).await;
    let gateway = Gateway::start(&stack.upstreams(), &web.join("dist"), Profile::Default)
        .await
        .unwrap();

    let trip = trip_of(&stack, &gateway).await;
    journey(
        "tests/journey.mjs",
        &[
            ("BASE_URL", gateway.url.clone()),
            ("TRIP_ID", stack.trip.to_string()),
            ("FROM", trip["from"].as_str().unwrap().to_owned()),
            ("TO", trip["to"].as_str().unwrap().to_owned()),
            ("DATE", service_date(&trip)),
        ],
        &repo_root().join("target/browser-artifacts"),
        &gateway,
        &[
            "04-seats-selected",
            "06-seats-held-countdown",
            "09-ticket",
            "10-seat-map-booked-phone",
        ],
    )
    .await;
    // What the browser did left the services consistent (one booking, paid, one ticket).
    stack.assert_consistent().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn passenger_goes_through_a_sales_waiting_room_in_chromium_and_pays_with_the_pass() {
    let web = web_dir();
    // A quick room: the moved opening is seen within half a second, the line moves every
    // 100 ms at two a second (a crowd of 40 passes in 20 s), and the room stays on (a pass
    // needed) until well after the booking.
    let queue = booking_service::settings::QueueSettings {
        tick_ms: 100,
        sales_refresh_ms: 500,
        admit_per_minute: 120,
        end_after_secs: 600,
        ..Default::default()
    };
    let stack = Stack::start(Options {
        queue: Some(queue),
        ..Default::default()
    })
    .await;
    let gateway = Gateway::start(&stack.upstreams(), &web.join("dist"), Profile::Default)
        .await
        .unwrap();
    // train-service's admin call that moves the opening takes an admin's token.
    let admin = sign_token(uuid::Uuid::new_v4(), "admin", &keys().unwrap().private).unwrap();
    // A crowd in the pre-queue with the passenger: verified users who only join.
    let crowd: Vec<String> = (0..40).map(|_| verified_user().token).collect();
    let trip = trip_of(&stack, &gateway).await;
    journey(
        "tests/waiting-room.mjs",
        &[
            ("BASE_URL", gateway.url.clone()),
            ("TRIP_ID", stack.trip.to_string()),
            ("FROM", trip["from"].as_str().unwrap().to_owned()),
            ("TO", trip["to"].as_str().unwrap().to_owned()),
            ("DATE", service_date(&trip)),
            ("ADMIN_TOKEN", admin),
            ("CROWD_TOKENS", crowd.join(",")),
            ("BOOKING_URL", stack.booking.address.clone()),
            ("OPENS_IN_S", "30".to_owned()),
            ("JOURNEY_TIMEOUT_MS", "180000".to_owned()),
        ],
        &repo_root().join("target/browser-artifacts/waiting-room"),
        &gateway,
        &[
            "20-sale-countdown-phone",
            "21-waiting-room-verify-phone",
            "22-waiting-room-pre-queue-phone",
            "23-waiting-room-admitted-phone",
            "24-seats-held-with-pass-phone",
            "26-ticket-phone",
        ],
    )
    .await;
    // One booking, paid, one ticket: the pass took nothing out of the services' agreement.
    stack.assert_consistent().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn conductor_boards_scanned_tickets_online_and_offline_and_syncs_in_chromium() {
    let web = web_dir();
    let stack = Stack::start(Options::default()).await;
    let gateway = Gateway::start(&stack.upstreams(), &web.join("dist"), Profile::Default)
        .await
        .unwrap();
    // A real conductor: an account made a conductor as the operator's command does.
    let conductor = stack.passenger().await;
    let pool = servicekit::db::pool(&stack.auth.env.database).unwrap();
    auth_service::admin::grant(&pool, &conductor.email, servicekit::auth::Role::Conductor)
        .await
        .unwrap();
    let trip = trip_of(&stack, &gateway).await;
    journey(
        "tests/conductor.mjs",
        &[
            ("BASE_URL", gateway.url.clone()),
            ("TRIP_ID", stack.trip.to_string()),
            ("FROM", trip["from"].as_str().unwrap().to_owned()),
            ("TO", trip["to"].as_str().unwrap().to_owned()),
            ("DATE", service_date(&trip)),
            ("CONDUCTOR_EMAIL", conductor.email.clone()),
            ("CONDUCTOR_PASSWORD", "correct horse battery".to_owned()),
            ("JOURNEY_TIMEOUT_MS", "150000".to_owned()),
        ],
        &repo_root().join("target/browser-artifacts/conductor"),
        &gateway,
        &[
            "40-conductor-boarded",
            "41-conductor-refused",
            "42-conductor-offline-queued",
            "43-conductor-synced",
            "44-conductor-camera",
        ],
    )
    .await;
    // Two boardings by the first phone (one online, one synced), one by the other device (the
    // ticket flagged on the phone), one by the second phone's camera: each ticket once.
    let db = stack.booking.db().await;
    let boarded: i64 = db
        .query_one("SELECT count(*) FROM boardings", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(boarded, 4);
    stack.assert_consistent().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn admin_follows_sales_and_cancels_a_trip_in_the_console_in_chromium() {
    let web = web_dir();
    // booking-service applies a closed or reopened sale within its inventory refresh (5 s):
    // the journey waits for it.
    let stack = Stack::start(Options::default()).await;
    let gateway = Gateway::start(&stack.upstreams(), &web.join("dist"), Profile::Default)
        .await
        .unwrap();
    // The admin as an operator makes one: `auth-service admin create`, on the stack's database.
    let email = format!("ops-{}@example.com", uuid::Uuid::new_v4().simple());
    let password = "console admin password";
    let pool = servicekit::db::pool(&stack.auth.env.database).unwrap();
    auth_service::admin::create(
        &pool,
        auth_service::admin::NewAdmin {
            email: email.clone(),
            password: Some(password.into()),
            name: "Ops Team".to_owned(),
            phone: None,
        },
    )
    .await
    .unwrap();
    // A malformed event booking-service parks, for the console's parked-messages panel.
    stack
        .booking
        .publish(
            "payment.succeeded",
            &serde_json::json!({"booking_id": "not a uuid"}),
        )
        .await;
    let trip = trip_of(&stack, &gateway).await;
    journey(
        "tests/console.mjs",
        &[
            ("BASE_URL", gateway.url.clone()),
            ("TRIP_ID", stack.trip.to_string()),
            ("DATE", service_date(&trip)),
            ("ADMIN_EMAIL", email),
            ("ADMIN_PASSWORD", password.to_owned()),
            ("ADMIN_NAME", "Ops Team".to_owned()),
            ("JOURNEY_TIMEOUT_MS", "180000".to_owned()),
        ],
        &repo_root().join("target/browser-artifacts/console"),
        &gateway,
        &[
            "30-console-sales",
            "31-console-cancellation",
            "32-console-booking",
            "33-console-parked",
        ],
    )
    .await;
    // The cancelled trip left the services agreeing (bookings cancelled, the paid one refunded).
    stack.assert_consistent().await;
}
