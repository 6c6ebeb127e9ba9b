//! Verifying and boarding a scanned ticket. The signature proves what the ticket says; the
//! booking's row says whether it still holds: cancelled, no longer paid, or boarded (the
//! `boardings` table, one row per booking: its primary key decides parallel scans).
//!
//! A ticket's state, first match wins: `cancelled` (the booking was cancelled), `wrong_trip`
//! (the scanner named another trip), `boarded` (a boarding row exists), `expired` (the booking
//! is not paid for another reason, or the train departed more than
//! `tickets.valid_hours_after_departure` hours ago), else `valid`.

use super::{Ticket, Tickets};
use chrono::{DateTime, Utc};
use deadpool_postgres::GenericClient;
use serde::Serialize;
use servicekit::db::DbError;
use uuid::Uuid;

/// The state of a ticket (`state` in the answers).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum State {
    Valid,
    Boarded,
    Cancelled,
    Expired,
    WrongTrip,
}

impl State {
    pub fn as_str(self) -> &'static str {
        match self {
            State::Valid => "valid",
            State::Boarded => "boarded",
            State::Cancelled => "cancelled",
            State::Expired => "expired",
            State::WrongTrip => "wrong_trip",
        }
    }
}

/// A ticket's boarding: when, on which device, by whom.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Boarding {
    pub boarded_at: DateTime<Utc>,
    pub device: Option<String>,
    pub by: Uuid,
}

/// A ticket with its state (and boarding, once boarded).
#[derive(Clone, Debug, Serialize)]
pub struct Checked {
    pub state: State,
    pub ticket: Ticket,
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    pub boarding: Option<Boarding>,
}

/// What can refuse a scan.
#[derive(Debug, thiserror::Error)]
pub enum CheckinError {
    /// Unreadable, unknown key, bad signature, or no booking matches it.
    #[error("{0}")]
    Invalid(String),
    /// Boarding a ticket that is `cancelled`, `expired` or for another trip.
    #[error("a {} ticket cannot be boarded", .0.as_str())]
    NotBoardable(State),
    /// Boarded before (by another device).
    #[error("this ticket was boarded before")]
    AlreadyBoarded(Boarding),
    #[error(transparent)]
    Db(#[from] DbError),
}

/// The booking's side of a ticket: its status and boarding.
struct Row {
    status: String,
    boarding: Option<Boarding>,
}

/// The booking behind `ticket`; with `lock`, held against a cancellation until the end of the
/// transaction. `None` when no booking has the ticket's id and code.
async fn row(db: &impl GenericClient, ticket: &Ticket, lock: bool) -> Result<Option<Row>, DbError> {
    let sql = format!(
        "SELECT b.status, g.boarded_at, g.device, g.boarded_by FROM bookings b \
         LEFT JOIN boardings g ON g.booking_id = b.id \
         WHERE b.id = $1 AND b.ticket_code = $2{}",
        if lock { " FOR SHARE OF b" } else { "" }
    );
    let row = db
        .query_opt(&sql, &[&ticket.booking_id, &ticket.ticket_code])
        .await?;
    Ok(row.map(|r| Row {
        status: r.get(0),
        boarding: r
            .get::<_, Option<DateTime<Utc>>>(1)
            .map(|boarded_at| Boarding {
                boarded_at,
                device: r.get(2),
                by: r.get(3),
            }),
    }))
}

fn state(tickets: &Tickets, ticket: &Ticket, row: &Row, trip: Option<i64>) -> State {
    let valid_for =
        chrono::Duration::hours(i64::from(tickets.settings.valid_hours_after_departure));
    if row.status == "cancelled" {
        State::Cancelled
    } else if trip.is_some_and(|t| t != ticket.trip_id) {
        State::WrongTrip
    } else if row.boarding.is_some() {
        State::Boarded
    } else if row.status != "paid" || ticket.departs_at + valid_for < Utc::now() {
        State::Expired
    } else {
        State::Valid
    }
}

/// Opens a scanned text: the ticket, or why it is refused.
pub fn open(tickets: &Tickets, qr: &str) -> Result<Ticket, CheckinError> {
    tickets
        .open(qr)
        .map_err(|e| CheckinError::Invalid(e.to_string()))
}

fn unknown() -> CheckinError {
    CheckinError::Invalid("no booking matches this ticket".into())
}

/// The ticket's state now (`trip`: the trip the scanner checks for).
pub async fn verify(
    db: &impl GenericClient,
    tickets: &Tickets,
    ticket: Ticket,
    trip: Option<i64>,
) -> Result<Checked, CheckinError> {
    let row = row(db, &ticket, false).await?.ok_or_else(unknown)?;
    let state = state(tickets, &ticket, &row, trip);
    let boarding = row.boarding.filter(|_| state == State::Boarded);
    Ok(Checked {
        state,
        ticket,
        boarding,
    })
}

/// Boards the ticket once. The same device scanning a boarded ticket again gets the first
/// boarding back (a retried request); any other scan of it is [`CheckinError::AlreadyBoarded`].
/// Also answers whether this scan was the first.
pub async fn board(
    db: &mut deadpool_postgres::Object,
    tickets: &Tickets,
    ticket: Ticket,
    trip: Option<i64>,
    device: Option<&str>,
    by: Uuid,
) -> Result<(Checked, bool), CheckinError> {
    let tx = db.transaction().await.map_err(DbError::from)?;
    let row = row(&tx, &ticket, true).await?.ok_or_else(unknown)?;
    let (boarding, first) = match state(tickets, &ticket, &row, trip) {
        State::Valid => {
            let inserted = tx
                .query_opt(
                    "INSERT INTO boardings (booking_id, trip_id, device, boarded_by) \
                     VALUES ($1, $2, $3, $4) ON CONFLICT (booking_id) DO NOTHING \
                     RETURNING boarded_at",
                    &[&ticket.booking_id, &ticket.trip_id, &device, &by],
                )
                .await
                .map_err(DbError::from)?;
            match inserted {
                Some(r) => (
                    Boarding {
                        boarded_at: r.get(0),
                        device: device.map(str::to_owned),
                        by,
                    },
                    true,
                ),
                // A parallel scan committed first: its row is visible to this statement.
                None => (
                    again(
                        device,
                        row_boarding(&tx, ticket.booking_id)
                            .await?
                            .ok_or_else(unknown)?,
                    )?,
                    false,
                ),
            }
        }
        State::Boarded => (again(device, row.boarding.ok_or_else(unknown)?)?, false),
        refused => return Err(CheckinError::NotBoardable(refused)),
    };
    tx.commit().await.map_err(DbError::from)?;
    let checked = Checked {
        state: State::Boarded,
        ticket,
        boarding: Some(boarding),
    };
    Ok((checked, first))
}

/// A second scan of a boarded ticket: the first boarding when it is the same device's.
fn again(device: Option<&str>, first: Boarding) -> Result<Boarding, CheckinError> {
    if device.is_some() && first.device.as_deref() == device {
        Ok(first)
    } else {
        Err(CheckinError::AlreadyBoarded(first))
    }
}

async fn row_boarding(db: &impl GenericClient, booking: Uuid) -> Result<Option<Boarding>, DbError> {
    let row = db
        .query_opt(
            "SELECT boarded_at, device, boarded_by FROM boardings WHERE booking_id = $1",
            &[&booking],
        )
        .await?;
    Ok(row.map(|r| Boarding {
        boarded_at: r.get(0),
        device: r.get(1),
        by: r.get(2),
    }))
}
