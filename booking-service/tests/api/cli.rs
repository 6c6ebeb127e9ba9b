//! The binary's command line, run as an operator runs it.

servicekit::service_cli_tests!(env!("CARGO_BIN_EXE_booking-service"), "booking-service");
