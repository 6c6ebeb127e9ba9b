//! The seed command's options (`train-service seed --help`). The defaults are the brief's
//! scenario; [`SeedOptions::default`] is the same as no options on the command line.

use crate::domain;
use std::fmt::Display;
use std::ops::RangeInclusive;
use std::str::FromStr;

const EXAMPLES: &str = "\
Examples:
  train-service seed                          the brief's scenario: 5 trains, DHK-CTG, 14 days
  train-service seed --trains 200 --coaches 10 --seats 60 --routes DHK-CTG,CTG-DHK,DHK-SYL
  train-service seed --rush-in 5              as above, and day 9's trips go on sale in 5 minutes

Sales: trips of the next 9 days (today and 8 more) are already on sale; later ones open at
08:00 Asia/Dhaka 10 days before their date. --rush-in moves the opening of every trip of
day --rush-day to MINUTES from now (on every run: a rerun moves that sale again).

Idempotent otherwise: existing stations, trains and trips are left alone, so a rerun only
adds the days that are new since the last run.";

/// Create stations, trains with their coaches and seats, and a trip of every train on
/// every day, with fares per class (applies pending migrations first)
#[derive(Clone, Debug, PartialEq, Eq, clap::Args)]
#[command(after_help = EXAMPLES)]
pub struct SeedOptions {
    /// Number of trains, spread over the routes in turn
    #[arg(long, value_name = "N", default_value_t = 5, value_parser = between::<usize>(1, 2000))]
    pub trains: usize,
    /// Coaches per train, in Bangladesh Railway's order (KA, KHA, GA, ...)
    #[arg(long, value_name = "N", default_value_t = 5,
          value_parser = between(1, super::plan::MAX_COACHES))]
    pub coaches: usize,
    /// Seats per coach
    #[arg(long, value_name = "N", default_value_t = 55, value_parser = between::<i32>(1, 200))]
    pub seats: i32,
    /// Trips run every day from today (Asia/Dhaka) for this many days.
    #[arg(long, value_name = "N", default_value_t = 14, value_parser = between::<i32>(1, 366))]
    pub days: i32,
    /// Routes the trains run, as station codes FROM-TO, comma-separated or repeated
    #[arg(long = "routes", value_name = "FROM-TO", value_delimiter = ',',
          default_value = "DHK-CTG", value_parser = route)]
    pub routes: Vec<(String, String)>,
    /// Open the sale of day --rush-day's trips MINUTES from now (a rush to watch)
    #[arg(long, value_name = "MINUTES", value_parser = between::<i32>(0, 24 * 60))]
    pub rush_in: Option<i32>,
    /// The day (from today, 0-based) whose trips --rush-in opens; must be below --days
    #[arg(long, value_name = "DAY", default_value_t = 9, value_parser = between::<i32>(1, 365))]
    pub rush_day: i32,
}

impl Default for SeedOptions {
    fn default() -> Self {
        Self {
            trains: 5,
            coaches: 5,
            seats: 55,
            days: 14,
            routes: vec![("DHK".into(), "CTG".into())],
            rush_in: None,
            rush_day: 9,
        }
    }
}

/// A parser of numbers in `min..=max`.
fn between<T>(min: T, max: T) -> impl Fn(&str) -> Result<T, String> + Clone + Send + Sync
where
    T: FromStr + PartialOrd + Display + Copy + Send + Sync + 'static,
{
    let range: RangeInclusive<T> = min..=max;
    move |value: &str| match value.parse::<T>() {
        Ok(n) if range.contains(&n) => Ok(n),
        _ => Err(format!(
            "{value} is not a number from {} to {}",
            range.start(),
            range.end()
        )),
    }
}

fn route(value: &str) -> Result<(String, String), String> {
    let (from, to) = value
        .split_once('-')
        .ok_or_else(|| format!("route {value:?} is not FROM-TO"))?;
    let from = domain::station_code(from)?;
    let to = domain::station_code(to)?;
    if from == to {
        return Err(format!("route {value:?} goes nowhere"));
    }
    Ok((from, to))
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Seed {
        #[command(flatten)]
        options: SeedOptions,
    }

    fn parse(s: &str) -> Result<SeedOptions, clap::Error> {
        Seed::try_parse_from(std::iter::once("seed").chain(s.split_whitespace()))
            .map(|seed| seed.options)
    }

    #[test]
    fn defaults_are_the_brief_scenario() {
        assert_eq!(parse("").ok(), Some(SeedOptions::default()));
    }

    #[test]
    fn options_are_parsed_and_checked() {
        let o =
            parse("--trains 200 --coaches 10 --seats 60 --days 14 --routes DHK-CTG,CTG-DHK").ok();
        assert_eq!(
            o.map(|o| (o.trains, o.coaches, o.seats, o.days, o.routes.len())),
            Some((200, 10, 60, 14, 2))
        );
        for bad in [
            "--trains 0",
            "--trains x",
            "--seats",
            "--days 0",
            "--coaches 27",
            "--routes DHK",
            "--routes DHK-DHK",
            "--routes dhk-ctg",
            "--bogus 1",
            "--rush-in -1",
            "--rush-in 1441",
            "--rush-day 0",
        ] {
            assert!(parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_rush_is_opt_in() {
        let o = parse("--rush-in 5").ok();
        assert_eq!(o.map(|o| (o.rush_in, o.rush_day)), Some((Some(5), 9)));
        let o = parse("--rush-in 0 --rush-day 3").ok();
        assert_eq!(o.map(|o| (o.rush_in, o.rush_day)), Some((Some(0), 3)));
    }

    #[test]
    fn routes_may_also_be_repeated() {
        let routes = parse("--routes DHK-CTG --routes SYL-DHK").map(|o| o.routes);
        assert_eq!(
            routes.ok(),
            Some(vec![
                ("DHK".to_owned(), "CTG".to_owned()),
                ("SYL".to_owned(), "DHK".to_owned())
            ])
        );
    }
}
