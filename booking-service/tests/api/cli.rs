//! The binary's command line, run as an operator runs it.

servicekit::service_cli_tests!(env!("CARGO_BIN_EXE_booking-service"), "booking-service");

servicekit::parked_cli_tests!(
    env!("CARGO_BIN_EXE_booking-service"),
    "booking-service",
    "booking.payment-results"
);
