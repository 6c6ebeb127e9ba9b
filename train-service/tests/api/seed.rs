use crate::helpers::{Catalogue, service_date, spawn_app};
use train_service::seed::SeedReport;

async fn counts(app: &crate::helpers::TestApp) -> Vec<i64> {
    let db = app.db().await;
    let mut out = vec![];
    for table in [
        "stations",
        "trains",
        "coaches",
        "seats",
        "trips",
        "trip_classes",
    ] {
        let row = db
            .query_one(&format!("SELECT count(*) FROM {table}"), &[])
            .await
            .unwrap();
        out.push(row.get(0));
    }
    out
}

#[tokio::test]
async fn seeding_twice_adds_nothing_the_second_time() {
    let app = spawn_app().await;
    let first = app.seed(2, 2, 4, 3).await;
    assert_eq!(
        first,
        SeedReport {
            stations: 8,
            trains: 2,
            seats: 16,
            trips: 6,
            rush_trips: 0
        }
    );
    let after_first = counts(&app).await;
    assert_eq!(after_first, [8, 2, 4, 16, 6, 12]);
    let second = app.seed(2, 2, 4, 3).await;
    assert_eq!(second, SeedReport::default());
    assert_eq!(counts(&app).await, after_first);
}

#[tokio::test]
async fn seeding_more_days_adds_only_the_missing_trips() {
    let app = spawn_app().await;
    app.seed(2, 2, 4, 1).await;
    let more = app.seed(2, 2, 4, 3).await;
    assert_eq!(
        more,
        SeedReport {
            stations: 0,
            trains: 0,
            seats: 0,
            trips: 4,
            rush_trips: 0
        }
    );
    let db = app.db().await;
    let rows = db
        .query(
            "SELECT service_date, count(*) FROM trips GROUP BY 1 ORDER BY 1",
            &[],
        )
        .await
        .unwrap();
    let days: Vec<(chrono::NaiveDate, i64)> = rows.iter().map(|r| (r.get(0), r.get(1))).collect();
    assert_eq!(
        days,
        [
            (service_date(0), 2),
            (service_date(1), 2),
            (service_date(2), 2)
        ]
    );
}

/// Runs the real `train-service seed` binary against the test database.
async fn run_seed_command(app: &crate::helpers::TestApp, args: &'static str) {
    use secrecy::ExposeSecret;
    let url = app.env.database.url.expose_secret().to_owned();
    let status = tokio::task::spawn_blocking(move || {
        std::process::Command::new(env!("CARGO_BIN_EXE_train-service"))
            .arg("seed")
            .args(args.split_whitespace())
            .env("APP_DATABASE__URL", url)
            .env("APP_CONFIG_FILE", "/nonexistent")
            .status()
            .unwrap()
    })
    .await
    .unwrap();
    assert!(status.success(), "seed {args}: {status}");
}

#[tokio::test]
async fn the_seed_command_is_idempotent_and_spreads_trains_over_its_routes() {
    let app = spawn_app().await;
    let args = "--trains 3 --coaches 2 --seats 4 --days 2 --routes CTG-DHK,DHK-SYL";
    run_seed_command(&app, args).await;
    let after_first = counts(&app).await;
    assert_eq!(after_first, [8, 3, 6, 24, 6, 12]);
    run_seed_command(&app, args).await;
    assert_eq!(counts(&app).await, after_first);
    let search = |from: &str, to: &str| {
        format!(
            "/api/trains/search?from={from}&to={to}&date={}",
            service_date(1)
        )
    };
    let found = app.get_json(&search("CTG", "DHK")).await;
    assert_eq!(found["trips"].as_array().unwrap().len(), 2);
    let found = app.get_json(&search("DHK", "SYL")).await;
    assert_eq!(found["trips"].as_array().unwrap().len(), 1);
    assert_eq!(found["trips"][0]["train"]["number"], "703");
    assert_eq!(found["trips"][0]["classes"][0]["seats_total"], 4);
}

#[tokio::test]
async fn the_seed_command_rejects_bad_options() {
    let status = tokio::task::spawn_blocking(|| {
        std::process::Command::new(env!("CARGO_BIN_EXE_train-service"))
            .args(["seed", "--trains", "zero"])
            .env("APP_DATABASE__URL", "postgres://postgres@127.0.0.1:1/none")
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    assert!(!status.status.success());
    assert!(String::from_utf8_lossy(&status.stderr).contains("--trains"));
}
