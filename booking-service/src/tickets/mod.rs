//! Signed tickets and check-in (`docs/api.md`, "The railway's side"; `docs/architecture.md`,
//! "Tickets"). A paid booking's ticket is signed once, when the payment is applied, and kept
//! in `bookings.ticket_qr`, so its text is the same on every read and survives key rotation
//! (the key that signed it stays listed among `tickets.previous_public_key_paths`).
//! `checkin` verifies and boards a scanned ticket against the booking's current state;
//! `manifest` lists a trip's tickets for a conductor's phone to check them offline.

pub mod checkin;
pub mod keys;
pub mod manifest;

use crate::settings::TicketSettings;
use chrono::{DateTime, SubsecRound, Utc};
use keys::{OpenError, TicketKeys};
use prometheus::{IntCounterVec, Opts, Registry};
use serde::{Deserialize, Serialize};
use servicekit::events::{BookedSeat, Passenger, TripSummary};
use uuid::Uuid;

/// What a ticket's QR code says, signed (`keys`): enough for a conductor to check it offline.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct Ticket {
    /// The key that signed it (`GET /api/tickets/keys`).
    pub kid: String,
    pub booking_id: Uuid,
    pub ticket_code: String,
    pub trip_id: i64,
    pub train: TicketTrain,
    /// Station codes.
    pub from: String,
    pub to: String,
    pub departs_at: DateTime<Utc>,
    pub seats: Vec<TicketSeat>,
    /// The passengers' names, in booking order.
    pub passengers: Vec<String>,
    /// When the booking was paid (the ticket issued).
    pub issued_at: DateTime<Utc>,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct TicketTrain {
    pub number: String,
    pub name: String,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct TicketSeat {
    pub seat_id: i32,
    pub label: String,
    pub coach: String,
    pub class: String,
}

/// What a ticket is made of when its booking is paid.
pub struct Issue<'a> {
    pub booking_id: Uuid,
    pub ticket_code: &'a str,
    pub trip_id: i64,
    pub trip: &'a TripSummary,
    pub seats: &'a [BookedSeat],
    pub passengers: &'a [Passenger],
    pub issued_at: DateTime<Utc>,
}

/// The signing keys, the rules of check-in and their counters.
pub struct Tickets {
    pub keys: TicketKeys,
    pub settings: TicketSettings,
    pub metrics: TicketMetrics,
}

impl Tickets {
    /// The keys of `settings` (a random per-process key when none is configured).
    pub fn new(settings: &TicketSettings, registry: &Registry) -> anyhow::Result<Self> {
        let keys = match &settings.signing_key_path {
            Some(path) => TicketKeys::load(path, &settings.previous_public_key_paths)?,
            None => {
                tracing::warn!(
                    "no ticket signing key configured: using a random per-process key \
                     (tickets fail verification on another replica and after a restart)"
                );
                TicketKeys::random()
            }
        };
        Ok(Self {
            keys,
            settings: settings.clone(),
            metrics: TicketMetrics::register(registry)?,
        })
    }

    /// The signed text of a paid booking's ticket. The same input gives the same text
    /// (Ed25519 signatures are deterministic; `issued_at` is whole seconds).
    pub fn issue(&self, t: &Issue<'_>) -> anyhow::Result<String> {
        let ticket = Ticket {
            kid: self.keys.kid().to_owned(),
            booking_id: t.booking_id,
            ticket_code: t.ticket_code.to_owned(),
            trip_id: t.trip_id,
            train: TicketTrain {
                number: t.trip.train_number.clone(),
                name: t.trip.train_name.clone(),
            },
            from: t.trip.from.clone(),
            to: t.trip.to.clone(),
            departs_at: t.trip.departs_at,
            seats: t
                .seats
                .iter()
                .map(|s| TicketSeat {
                    seat_id: s.seat_id,
                    label: s.label.clone(),
                    coach: s.coach.clone(),
                    class: s.class.clone(),
                })
                .collect(),
            passengers: t.passengers.iter().map(|p| p.name.clone()).collect(),
            issued_at: t.issued_at.trunc_subsecs(0),
        };
        Ok(self.keys.sign(&serde_json::to_vec(&ticket)?))
    }

    /// The ticket a text carries, when its signature verifies under a key of ours.
    pub fn open(&self, text: &str) -> Result<Ticket, OpenError> {
        let payload = self.keys.open(text, |payload| {
            #[derive(Deserialize)]
            struct Kid {
                kid: String,
            }
            serde_json::from_slice::<Kid>(payload).ok().map(|k| k.kid)
        })?;
        serde_json::from_slice(&payload).map_err(|_| OpenError::Unreadable)
    }
}

/// Check-in counters.
pub struct TicketMetrics {
    /// Verifications by the state answered (or `invalid`).
    pub verified: IntCounterVec,
    /// Boarding attempts by outcome.
    pub boarded: IntCounterVec,
}

const VERIFY_STATES: &[&str] = &[
    "valid",
    "boarded",
    "cancelled",
    "expired",
    "wrong_trip",
    "invalid",
];
const BOARD_OUTCOMES: &[&str] = &[
    "boarded",
    "again_same_device",
    "already_boarded",
    "cancelled",
    "expired",
    "wrong_trip",
    "invalid",
];

impl TicketMetrics {
    pub fn register(registry: &Registry) -> anyhow::Result<Self> {
        let verified = IntCounterVec::new(
            Opts::new(
                "booking_tickets_verified_total",
                "Ticket verifications by the state answered (invalid: refused with 400)",
            ),
            &["state"],
        )?;
        let boarded = IntCounterVec::new(
            Opts::new(
                "booking_tickets_boarded_total",
                "Boarding scans by outcome (boarded: the first scan of a ticket)",
            ),
            &["outcome"],
        )?;
        for state in VERIFY_STATES {
            verified.with_label_values(&[state]);
        }
        for outcome in BOARD_OUTCOMES {
            boarded.with_label_values(&[outcome]);
        }
        registry.register(Box::new(verified.clone()))?;
        registry.register(Box::new(boarded.clone()))?;
        Ok(Self { verified, boarded })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ed25519_dalek::SigningKey;

    /// A ticket signed by a fixed key, for the web app's offline verifier
    /// (`web/tests/unit/tickets.test.js` reads `web/tests/unit/ticket-fixture.json`).
    fn fixture() -> serde_json::Value {
        let tickets = Tickets {
            keys: TicketKeys::new(SigningKey::from_bytes(&[7; 32]), Vec::new()),
            settings: TicketSettings::default(),
            metrics: TicketMetrics::register(&Registry::new()).unwrap(),
        };
        let at = |s: &str| DateTime::parse_from_rfc3339(s).unwrap().to_utc();
        let trip = TripSummary {
            train_number: "701".into(),
            train_name: "Subarna Express".into(),
            from: "DHK".into(),
            to: "CTG".into(),
            departs_at: at("2030-01-02T01:00:00Z"),
        };
        let seats = [BookedSeat {
            seat_id: 12,
            label: "KA-12".into(),
            coach: "KA".into(),
            class: "S_CHAIR".into(),
            fare: 45000,
        }];
        let passengers = [Passenger {
            name: "Rahim Uddin".into(),
        }];
        let qr = tickets
            .issue(&Issue {
                booking_id: Uuid::from_u128(0x0193_0000_0000_7000_8000_0000_0000_0001),
                ticket_code: "RR-7K3Q-0000-0000-0001",
                trip_id: 42,
                trip: &trip,
                seats: &seats,
                passengers: &passengers,
                issued_at: at("2030-01-01T10:00:00.250Z"),
            })
            .unwrap();
        let ticket = tickets.open(&qr).unwrap();
        serde_json::json!({
            "keys": { "keys": tickets.keys.public() },
            "qr": qr,
            "ticket": ticket,
        })
    }

    #[test]
    fn the_web_apps_ticket_fixture_is_what_the_signer_makes() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../web/tests/unit/ticket-fixture.json");
        let made = serde_json::to_string_pretty(&fixture()).unwrap() + "\n";
        if std::env::var_os("RAILRUSH_WRITE_FIXTURES").is_some() {
            std::fs::write(&path, &made).unwrap();
        }
        let committed = std::fs::read_to_string(&path).unwrap_or_default();
        assert_eq!(
            committed, made,
            "regenerate with RAILRUSH_WRITE_FIXTURES=1 cargo nextest run -p booking-service --lib fixture"
        );
    }

    #[test]
    fn a_ticket_is_the_same_text_each_time_and_opens_to_what_was_issued() {
        let first = fixture();
        assert_eq!(first, fixture());
        let ticket: Ticket = serde_json::from_value(first["ticket"].clone()).unwrap();
        assert_eq!(ticket.passengers, ["Rahim Uddin"]);
        assert_eq!(ticket.seats[0].label, "KA-12");
        // Whole seconds: the text does not depend on the clock's sub-second digits.
        assert_eq!(ticket.issued_at.to_rfc3339(), "2030-01-01T10:00:00+00:00");
    }
}
