//! The one table of public error codes: each [`Code`] names a stable `snake_case` code and
//! the HTTP status it answers with. `docs/api.md` lists the same codes; a test checks that
//! the two agree, so a code is added here and in the documentation together.

use actix_web::http::StatusCode;
use serde::{Serialize, Serializer};
use std::fmt;

/// A code's wire name and status.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ErrCode {
    pub status: StatusCode,
    pub name: &'static str,
}

macro_rules! codes {
    ($( $(#[$doc:meta])* $variant:ident => $status:ident, $name:literal; )+) => {
        /// Every error code a RailRush service answers with. Handlers and feature errors name
        /// a variant; the status comes from this table.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub enum Code {
            $( $(#[$doc])* $variant, )+
        }

        impl Code {
            /// Every code, in the order of the table.
            pub const ALL: &'static [Code] = &[ $( Code::$variant, )+ ];

            pub const fn err_code(self) -> ErrCode {
                match self {
                    $( Code::$variant => ErrCode { status: StatusCode::$status, name: $name }, )+
                }
            }
        }
    };
}

codes! {
    /// Malformed JSON, a missing or invalid field (`details.field` names it).
    InvalidRequest => BAD_REQUEST, "invalid_request";
    /// A ticket that is unreadable, signed by an unknown key, badly signed or altered.
    InvalidTicket => BAD_REQUEST, "invalid_ticket";
    /// Missing, malformed, expired or badly signed access token.
    Unauthorized => UNAUTHORIZED, "unauthorized";
    /// Unknown login or wrong password (the same answer for both).
    InvalidCredentials => UNAUTHORIZED, "invalid_credentials";
    /// A wrong or expired one-time code (also for a phone with no account).
    InvalidOtp => UNAUTHORIZED, "invalid_otp";
    /// The caller may not do this (a role is missing).
    Forbidden => FORBIDDEN, "forbidden";
    /// A sale's waiting room is active and no queue pass was sent.
    QueuePassRequired => FORBIDDEN, "queue_pass_required";
    /// A forged, expired, another user's or another sale's queue pass.
    QueuePassInvalid => FORBIDDEN, "queue_pass_invalid";
    /// Joining a sale needs a verified phone and NID (`details.missing`).
    VerificationRequired => FORBIDDEN, "verification_required";
    /// No such resource, or one that belongs to another user.
    NotFound => NOT_FOUND, "not_found";
    /// The route exists but not with this method.
    MethodNotAllowed => METHOD_NOT_ALLOWED, "method_not_allowed";
    /// Registering an e-mail or phone that has an account.
    AlreadyRegistered => CONFLICT, "already_registered";
    /// Creating a station, train or trip that exists (admin).
    AlreadyExists => CONFLICT, "already_exists";
    /// The NID is verified on another account.
    NidInUse => CONFLICT, "nid_in_use";
    /// The caller's account has another NID verified; it cannot be replaced.
    NidAlreadyVerified => CONFLICT, "nid_already_verified";
    /// Taking the admin role from the only admin (make another admin first).
    LastAdmin => CONFLICT, "last_admin";
    /// The same `Idempotency-Key` with a different request.
    IdempotencyKeyReused => CONFLICT, "idempotency_key_reused";
    /// The first request with this `Idempotency-Key` is still running.
    IdempotencyKeyInUse => CONFLICT, "idempotency_key_in_use";
    /// Selecting seats of a trip that has departed.
    TripDeparted => CONFLICT, "trip_departed";
    /// The railway cancelled the trip: nothing more is sold or confirmed.
    TripCancelled => CONFLICT, "trip_cancelled";
    /// Selecting before the trip's `sales_open_at` (`details.opens_at`).
    SalesNotOpen => CONFLICT, "sales_not_open";
    /// The railway closed the trip's sales (a hold taken before may still be confirmed).
    SalesClosed => CONFLICT, "sales_closed";
    /// Some of the seats are taken (`details.seat_ids`).
    SeatUnavailable => CONFLICT, "seat_unavailable";
    /// The caller would hold or own more seats of the trip than allowed.
    SeatLimitReached => CONFLICT, "seat_limit_reached";
    /// The hold lapsed, or was already confirmed.
    HoldExpired => CONFLICT, "hold_expired";
    /// The booking is not confirmed or paid any more, or the trip has departed.
    NotCancellable => CONFLICT, "not_cancellable";
    /// Only a failed payment can be retried, before it is due.
    NotRetryable => CONFLICT, "not_retryable";
    /// The sale's waiting room no longer admits anyone.
    QueueClosed => CONFLICT, "queue_closed";
    /// Every seat of the sale is gone.
    SoldOut => CONFLICT, "sold_out";
    /// The ticket was boarded before (`details.boarded_at`).
    AlreadyBoarded => CONFLICT, "already_boarded";
    /// A cancelled, expired or another trip's ticket cannot be boarded (`details.state`).
    NotBoardable => CONFLICT, "not_boardable";
    /// The body is larger than the limit.
    PayloadTooLarge => PAYLOAD_TOO_LARGE, "payload_too_large";
    /// The body is not JSON.
    UnsupportedMediaType => UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type";
    /// Too many requests (`Retry-After`).
    RateLimited => TOO_MANY_REQUESTS, "rate_limited";
    /// Too many failed logins or wrong codes (`Retry-After`).
    TooManyAttempts => TOO_MANY_REQUESTS, "too_many_attempts";
    /// A fault of ours; the body says nothing more.
    Internal => INTERNAL_SERVER_ERROR, "internal";
    /// A store or the broker cannot be reached; retry shortly.
    Unavailable => SERVICE_UNAVAILABLE, "unavailable";
}

impl Code {
    pub const fn status(self) -> StatusCode {
        self.err_code().status
    }

    pub const fn as_str(self) -> &'static str {
        self.err_code().name
    }

    /// The code with this wire name.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.iter().copied().find(|c| c.as_str() == name)
    }
}

impl fmt::Display for Code {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for Code {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn names_are_unique_snake_case_and_found_by_name() {
        let names: HashSet<&str> = Code::ALL.iter().map(|c| c.as_str()).collect();
        assert_eq!(names.len(), Code::ALL.len());
        for code in Code::ALL {
            let name = code.as_str();
            assert!(
                name.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'),
                "{name}"
            );
            assert_eq!(Code::from_name(name), Some(*code));
        }
        assert_eq!(Code::from_name("no_such_code"), None);
    }

    #[test]
    fn every_code_is_an_error_status() {
        for code in Code::ALL {
            let status = code.status();
            assert!(
                status.is_client_error() || status.is_server_error(),
                "{code}"
            );
        }
        assert_eq!(Code::SeatUnavailable.status(), StatusCode::CONFLICT);
        assert_eq!(Code::HoldExpired.status(), StatusCode::CONFLICT);
        assert_eq!(Code::InvalidOtp.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(Code::Unavailable.status(), StatusCode::SERVICE_UNAVAILABLE);
    }
}
