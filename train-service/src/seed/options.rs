//! The seed command's options: `seed [--trains N] [--coaches N] [--seats N] [--days N]
//! [--routes DHK-CTG,...]`. The defaults are the brief's scenario.

use crate::domain;
use anyhow::{Context, bail};

pub const USAGE: &str = "usage: train-service [seed [--trains N] [--coaches N] [--seats N] \
     [--days N] [--routes FROM-TO,...]]\n  \
     defaults: --trains 5 --coaches 5 --seats 55 --days 14 --routes DHK-CTG";

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SeedOptions {
    pub trains: usize,
    pub coaches: usize,
    pub seats: i32,
    /// Trips run every day from today (Asia/Dhaka) for this many days.
    pub days: i32,
    /// Trains are spread over these routes in turn.
    pub routes: Vec<(String, String)>,
}

impl Default for SeedOptions {
    fn default() -> Self {
        Self {
            trains: 5,
            coaches: 5,
            seats: 55,
            days: 14,
            routes: vec![("DHK".into(), "CTG".into())],
        }
    }
}

fn number<T: std::str::FromStr + PartialOrd>(
    flag: &str,
    value: Option<String>,
    range: std::ops::RangeInclusive<T>,
) -> anyhow::Result<T> {
    let value = value.with_context(|| format!("{flag} needs a value"))?;
    match value.parse::<T>() {
        Ok(n) if range.contains(&n) => Ok(n),
        _ => bail!("{flag} {value} is not a number in the allowed range"),
    }
}

fn routes(value: Option<String>) -> anyhow::Result<Vec<(String, String)>> {
    let value = value.context("--routes needs a value")?;
    let parsed = value
        .split(',')
        .map(|r| {
            let (from, to) = r
                .split_once('-')
                .with_context(|| format!("route {r:?} is not FROM-TO"))?;
            let from = domain::station_code(from).map_err(anyhow::Error::msg)?;
            let to = domain::station_code(to).map_err(anyhow::Error::msg)?;
            if from == to {
                bail!("route {r:?} goes nowhere");
            }
            Ok((from, to))
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    if parsed.is_empty() {
        bail!("--routes is empty");
    }
    Ok(parsed)
}

impl SeedOptions {
    pub fn parse(args: impl IntoIterator<Item = String>) -> anyhow::Result<Self> {
        let mut options = Self::default();
        let mut args = args.into_iter();
        while let Some(flag) = args.next() {
            match flag.as_str() {
                "--trains" => options.trains = number(&flag, args.next(), 1..=2000)?,
                "--coaches" => {
                    options.coaches = number(&flag, args.next(), 1..=super::plan::MAX_COACHES)?;
                }
                "--seats" => options.seats = number(&flag, args.next(), 1..=200)?,
                "--days" => options.days = number(&flag, args.next(), 1..=366)?,
                "--routes" => options.routes = routes(args.next())?,
                other => bail!("unknown option {other}\n{USAGE}"),
            }
        }
        Ok(options)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(s: &str) -> Vec<String> {
        s.split_whitespace().map(str::to_owned).collect()
    }

    #[test]
    fn defaults_are_the_brief_scenario() {
        assert_eq!(
            SeedOptions::parse(args("")).ok(),
            Some(SeedOptions::default())
        );
    }

    #[test]
    fn options_are_parsed_and_checked() {
        let o = SeedOptions::parse(args(
            "--trains 200 --coaches 10 --seats 60 --days 14 --routes DHK-CTG,CTG-DHK",
        ))
        .ok();
        assert_eq!(
            o.map(|o| (o.trains, o.coaches, o.seats, o.days, o.routes.len())),
            Some((200, 10, 60, 14, 2))
        );
        for bad in [
            "--trains 0",
            "--trains x",
            "--seats",
            "--routes DHK",
            "--routes DHK-DHK",
            "--routes dhk-ctg",
            "--bogus 1",
        ] {
            assert!(SeedOptions::parse(args(bad)).is_err(), "{bad}");
        }
    }
}
