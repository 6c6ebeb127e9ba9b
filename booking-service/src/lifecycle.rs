//! What happens around a booking's end and payment, shared by the cancel route, the
//! payment-outcome consumer and the sweeper.

use crate::reconcile;
use crate::seats;
use crate::state::BookingState;
use rand::RngCore;
use servicekit::error::chain;
use servicekit::events::TripSummary;
use uuid::Uuid;

/// After a booking ended (cancelled or expired) and that was committed: drop its booked
/// markers in Redis and tell live seat maps the seats are free. Redis trouble is logged, not
/// returned: PostgreSQL already freed the seats, and a release that failed or found fewer
/// markers than seats marks the trip for reconciliation (`crate::reconcile`).
pub async fn free_seats(
    state: &BookingState,
    booking: Uuid,
    user: Uuid,
    trip: i64,
    seat_ids: &[i32],
) {
    let marker = seats::booked_value(booking, user);
    let released = state
        .seats
        .release(trip, seat_ids, user, &marker, None)
        .await;
    reconcile::unless_all(
        state,
        trip,
        released,
        seat_ids.len(),
        "releasing booked markers",
    )
    .await;
    state.live.publish(trip, seat_ids, "available");
}

/// The trip's summary for an event, when train-service (or the cache) can tell it.
pub async fn trip_summary(state: &BookingState, trip: i64) -> Option<TripSummary> {
    match state.inventory.trip(trip).await {
        Ok(inventory) => Some(inventory.summary()),
        Err(error) => {
            tracing::warn!(trip, error = %chain(&error), "trip summary unavailable; the event goes without it");
            None
        }
    }
}

/// Crockford's base32 alphabet: no I, L, O or U to misread.
const ALPHABET: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";

/// A ticket code: 80 random bits from the OS-seeded CSPRNG as 16 base32 characters, in
/// groups of four (`RR-7K3Q-...`), so it cannot be guessed from other tickets.
pub fn ticket_code() -> String {
    let mut bytes = [0u8; 10];
    rand::rng().fill_bytes(&mut bytes);
    let mut bits: u128 = 0;
    for b in bytes {
        bits = (bits << 8) | u128::from(b);
    }
    let mut code = String::from("RR");
    for i in 0..16 {
        if i % 4 == 0 {
            code.push('-');
        }
        let shift = 75 - 5 * i;
        code.push(char::from(ALPHABET[((bits >> shift) & 31) as usize]));
    }
    code
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticket_codes_carry_80_bits_in_readable_groups() {
        let code = ticket_code();
        assert_eq!(code.len(), 2 + 4 * 5);
        assert!(code.starts_with("RR-"));
        let symbols: String = code[3..].chars().filter(|c| *c != '-').collect();
        assert_eq!(symbols.len(), 16);
        assert!(symbols.bytes().all(|b| ALPHABET.contains(&b)));
        let distinct: std::collections::HashSet<String> =
            (0..1000).map(|_| ticket_code()).collect();
        assert_eq!(distinct.len(), 1000);
    }
}
