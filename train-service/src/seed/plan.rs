//! What the seed creates: stations, named trains with departure times spread over the day,
//! their coach layout and fares per class. Pure data, so it is the same on every run.

use super::SeedOptions;
use crate::domain::SeatClass;

pub const STATIONS: &[(&str, &str)] = &[
    ("DHK", "Dhaka"),
    ("CTG", "Chattogram"),
    ("SYL", "Sylhet"),
    ("RAJ", "Rajshahi"),
    ("KHL", "Khulna"),
    ("CXB", "Cox's Bazar"),
    ("MYM", "Mymensingh"),
    ("RGP", "Rangpur"),
];

/// Coach codes in Bangladesh Railway's order (ka, kha, ga, ...).
const COACH_CODES: &[&str] = &[
    "KA", "KHA", "GA", "GHA", "UMA", "CHA", "CHHA", "JA", "JHA", "NEO", "TA", "THA", "DA", "DHA",
    "NA", "PA", "FA", "BA", "BHA", "MA", "YA", "RA", "LA", "SHA", "SA", "HA",
];
pub const MAX_COACHES: usize = COACH_CODES.len();

/// The brief's trains, with their departure (minutes after midnight, Dhaka time).
const NAMED: &[(&str, &str, i32)] = &[
    ("787", "Sonar Bangla Express", 7 * 60),
    ("703", "Mohanagar Provati", 7 * 60 + 45),
    ("721", "Mohanagar Godhuli", 15 * 60),
    ("701", "Subarna Express", 16 * 60 + 30),
    ("741", "Turna Express", 23 * 60 + 30),
];

/// Names for trains beyond [`NAMED`] (load-test data).
const MORE_NAMES: &[&str] = &[
    "Ekota",
    "Drutojan",
    "Padma",
    "Silkcity",
    "Dhumketu",
    "Kalni",
    "Parabat",
    "Jayantika",
    "Upaban",
    "Sundarban",
    "Chitra",
    "Rupsha",
    "Teesta",
    "Brahmaputra",
    "Agnibina",
    "Jamuna",
    "Lalmoni",
    "Kapotaksha",
    "Banalata",
    "Upakul",
];

/// Fares from Dhaka to Chattogram in poisha, by class; other routes scale by duration.
const BASE_FARES: [(SeatClass, i64); 5] = [
    (SeatClass::AcBerth, 139_800),
    (SeatClass::AcSeat, 93_200),
    (SeatClass::Snigdha, 77_700),
    (SeatClass::ShovanChair, 40_500),
    (SeatClass::Shovan, 32_000),
];
const BASE_MINUTES: i64 = 330;

pub struct PlannedTrain {
    pub number: String,
    pub name: String,
    pub from: String,
    pub to: String,
    pub departs_minute: i32,
    pub duration_minutes: i32,
    pub fares: Vec<(SeatClass, i64)>,
}

fn route_minutes(from: &str, to: &str) -> i32 {
    let mut pair = [from, to];
    pair.sort_unstable();
    match pair {
        ["CTG", "DHK"] => 330,
        ["DHK", "SYL"] => 450,
        ["DHK", "RAJ"] => 360,
        ["DHK", "KHL"] => 420,
        ["CXB", "DHK"] => 540,
        ["DHK", "MYM"] => 180,
        ["DHK", "RGP"] => 600,
        _ => 360,
    }
}

pub fn trains(options: &SeedOptions) -> Vec<PlannedTrain> {
    (0..options.trains)
        .map(|i| {
            let (number, name, departs_minute) = match NAMED.get(i) {
                Some((number, name, minute)) => ((*number).to_owned(), (*name).to_owned(), *minute),
                None => {
                    let k = i - NAMED.len();
                    let base = MORE_NAMES[k % MORE_NAMES.len()];
                    let round = k / MORE_NAMES.len();
                    let name = if round == 0 {
                        format!("{base} Express")
                    } else {
                        format!("{base} Express {}", round + 1)
                    };
                    let spread = i32::try_from(k * 37 % 222).unwrap_or(0);
                    (format!("{}", 1001 + k), name, 5 * 60 + spread * 5)
                }
            };
            let (from, to) = options.routes[i % options.routes.len()].clone();
            let minutes = route_minutes(&from, &to) + i32::try_from(i % 4).unwrap_or(0) * 15;
            let fares = BASE_FARES
                .iter()
                .map(|(class, fare)| {
                    let scaled = fare * i64::from(route_minutes(&from, &to)) / BASE_MINUTES;
                    (*class, ((scaled + 50) / 100).max(1) * 100)
                })
                .collect();
            PlannedTrain {
                number,
                name,
                from,
                to,
                departs_minute,
                duration_minutes: minutes,
                fares,
            }
        })
        .collect()
}

/// The coaches of every seeded train: codes in order, classes from premium to economy.
pub fn coaches(count: usize) -> Vec<(&'static str, SeatClass)> {
    let count = count.min(MAX_COACHES);
    (0..count)
        .map(|i| {
            (
                COACH_CODES[i],
                SeatClass::ALL[i * SeatClass::ALL.len() / count],
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_scenario_is_five_named_trains_dhaka_to_chattogram() {
        let trains = trains(&SeedOptions::default());
        assert_eq!(trains.len(), 5);
        assert!(trains.iter().all(|t| t.from == "DHK" && t.to == "CTG"));
        assert_eq!(trains[3].name, "Subarna Express");
        let layout = coaches(5);
        assert_eq!(layout[0], ("KA", SeatClass::AcBerth));
        assert_eq!(layout[4], ("UMA", SeatClass::Shovan));
    }

    #[test]
    fn many_trains_get_unique_numbers_and_names() {
        let options = SeedOptions {
            trains: 200,
            ..SeedOptions::default()
        };
        let trains = trains(&options);
        let mut numbers: Vec<_> = trains.iter().map(|t| t.number.clone()).collect();
        numbers.sort();
        numbers.dedup();
        assert_eq!(numbers.len(), 200);
        assert!(
            trains
                .iter()
                .all(|t| (0..24 * 60).contains(&t.departs_minute))
        );
        assert_eq!(coaches(10).len(), 10);
    }
}
