//! The binary's command line, run as an operator runs it.

servicekit::service_cli_tests!(env!("CARGO_BIN_EXE_payment-service"), "payment-service");

servicekit::parked_cli_tests!(
    env!("CARGO_BIN_EXE_payment-service"),
    "payment-service",
    "payment.booking-confirmed"
);
