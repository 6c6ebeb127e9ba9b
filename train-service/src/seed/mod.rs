//! The seed command: stations, trains with coaches and seats, and a trip of every train on
//! every day from today (Asia/Dhaka) for `--days` days, with fares per class. Idempotent:
//! existing stations, trains and trips are left alone, so a rerun only adds the days that
//! are new since the last run. Everything is a handful of set-based statements
//! (`unnest`, `generate_series`) in one transaction, so load-test data seeds in seconds.
//!
//! Sales: a new trip of the first [`ON_SALE_DAYS`] days (today included) is already on
//! sale (its default opening, or a minute ago if that were later); later trips open by the
//! default rule (`default_sales_open_at`, 08:00 Asia/Dhaka 10 days before the date).
//! `--rush-in M` moves the opening of every seeded trip of day `--rush-day` to M minutes
//! from now, on every run, so the local stack shows a rush shortly after it starts.

mod options;
mod plan;

pub use options::SeedOptions;

use crate::catalogue::SERVICE_TIME_ZONE;
use crate::catalogue::create::materialise_seats;
use crate::catalogue::trips::unknown_stations;
use anyhow::{Context, bail};
use servicekit::db::PgPool;

/// What a run added.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct SeedReport {
    pub stations: u64,
    pub trains: u64,
    pub seats: u64,
    pub trips: u64,
    /// Trips whose opening `--rush-in` moved.
    pub rush_trips: u64,
}

/// New trips of this many days from today are seeded already on sale.
pub const ON_SALE_DAYS: i32 = 9;

const LOCK: i64 = 0x7472_6169_6e73_6564; // "trainsed"

pub async fn run(pool: &PgPool, options: &SeedOptions) -> anyhow::Result<SeedReport> {
    let mut client = pool.get().await.context("connecting to seed")?;
    let tx = client.transaction().await?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&LOCK])
        .await?;
    let mut report = SeedReport::default();
    if options.rush_in.is_some() && options.rush_day >= options.days {
        bail!(
            "--rush-day {} is not a seeded day (--days {})",
            options.rush_day,
            options.days
        );
    }

    let (codes, names): (Vec<&str>, Vec<&str>) = plan::STATIONS.iter().copied().unzip();
    report.stations = tx
        .execute(
            "INSERT INTO stations (code, name) SELECT * FROM unnest($1::text[], $2::text[]) \
             ON CONFLICT DO NOTHING",
            &[&codes, &names],
        )
        .await?;
    let used: Vec<&str> = options
        .routes
        .iter()
        .flat_map(|(f, t)| [f.as_str(), t.as_str()])
        .collect();
    let unknown = unknown_stations(&tx, &used)
        .await
        .map_err(|e| anyhow::anyhow!("checking stations: {e}"))?;
    if !unknown.is_empty() {
        bail!("unknown stations in --routes: {}", unknown.join(", "));
    }

    let trains = plan::trains(options);
    let numbers: Vec<&str> = trains.iter().map(|t| t.number.as_str()).collect();
    let train_names: Vec<&str> = trains.iter().map(|t| t.name.as_str()).collect();
    let new_ids: Vec<i64> = tx
        .query(
            "INSERT INTO trains (number, name) SELECT * FROM unnest($1::text[], $2::text[]) \
             ON CONFLICT (number) DO NOTHING RETURNING id",
            &[&numbers, &train_names],
        )
        .await?
        .iter()
        .map(|r| r.get(0))
        .collect();
    report.trains = new_ids.len() as u64;

    let layout = plan::coaches(options.coaches);
    let coach_codes: Vec<&str> = layout.iter().map(|(code, _)| *code).collect();
    let coach_classes: Vec<&str> = layout.iter().map(|(_, class)| class.as_str()).collect();
    tx.execute(
        "INSERT INTO coaches (train_id, code, class, position, seats, first_seat) \
         SELECT t.id, c.code, c.class, c.position::int, $4, (c.position::int - 1) * $4 + 1 \
         FROM unnest($1::bigint[]) AS t(id) \
         CROSS JOIN unnest($2::text[], $3::text[]) WITH ORDINALITY AS c(code, class, position)",
        &[&new_ids, &coach_codes, &coach_classes, &options.seats],
    )
    .await?;
    report.seats = materialise_seats(&tx, &new_ids).await?;

    let froms: Vec<&str> = trains.iter().map(|t| t.from.as_str()).collect();
    let tos: Vec<&str> = trains.iter().map(|t| t.to.as_str()).collect();
    let departs: Vec<i32> = trains.iter().map(|t| t.departs_minute).collect();
    let durations: Vec<i32> = trains.iter().map(|t| t.duration_minutes).collect();
    let trips_sql = format!(
        "WITH today AS (SELECT (now() AT TIME ZONE '{SERVICE_TIME_ZONE}')::date AS d) \
         INSERT INTO trips (train_id, from_station, to_station, service_date, departs_at, arrives_at, \
                            sales_open_at) \
         SELECT t.id, p.from_station, p.to_station, today.d + day, \
                ((today.d + day) + p.departs * interval '1 minute') AT TIME ZONE '{SERVICE_TIME_ZONE}', \
                ((today.d + day) + (p.departs + p.minutes) * interval '1 minute') AT TIME ZONE '{SERVICE_TIME_ZONE}', \
                CASE WHEN day < {ON_SALE_DAYS} \
                     THEN least(default_sales_open_at(today.d + day), now() - interval '1 minute') \
                     ELSE default_sales_open_at(today.d + day) END \
         FROM unnest($1::text[], $2::text[], $3::text[], $4::int[], $5::int[]) \
              AS p(number, from_station, to_station, departs, minutes) \
         JOIN trains t ON t.number = p.number \
         CROSS JOIN today CROSS JOIN generate_series(0, $6 - 1) AS day \
         ON CONFLICT (train_id, service_date) DO NOTHING RETURNING trip_id"
    );
    let new_trips: Vec<i64> = tx
        .query(
            &trips_sql,
            &[&numbers, &froms, &tos, &departs, &durations, &options.days],
        )
        .await?
        .iter()
        .map(|r| r.get(0))
        .collect();
    report.trips = new_trips.len() as u64;

    let (mut fare_numbers, mut fare_classes, mut fare_amounts) = (vec![], vec![], vec![]);
    for t in &trains {
        for (class, fare) in &t.fares {
            fare_numbers.push(t.number.as_str());
            fare_classes.push(class.as_str());
            fare_amounts.push(*fare);
        }
    }
    tx.execute(
        "INSERT INTO trip_classes (trip_id, class, fare, seats_total) \
         SELECT tr.trip_id, c.class, f.fare, sum(c.seats) \
         FROM trips tr JOIN trains tn ON tn.id = tr.train_id \
         JOIN coaches c ON c.train_id = tr.train_id \
         JOIN unnest($2::text[], $3::text[], $4::bigint[]) AS f(number, class, fare) \
              ON f.number = tn.number AND f.class = c.class \
         WHERE tr.trip_id = ANY($1) GROUP BY tr.trip_id, c.class, f.fare \
         ON CONFLICT DO NOTHING",
        &[&new_trips, &fare_numbers, &fare_classes, &fare_amounts],
    )
    .await?;

    if let Some(minutes) = options.rush_in {
        let sql = format!(
            "UPDATE trips tr SET sales_open_at = now() + $3::int * interval '1 minute' \
             FROM trains t WHERE t.id = tr.train_id AND t.number = ANY($1) \
             AND tr.service_date = (now() AT TIME ZONE '{SERVICE_TIME_ZONE}')::date + $2::int"
        );
        report.rush_trips = tx
            .execute(&sql, &[&numbers, &options.rush_day, &minutes])
            .await?;
    }
    tx.commit().await?;
    Ok(report)
}
