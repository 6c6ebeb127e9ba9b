//! booking-service's internal booking summary (`GET /internal/bookings/{id}`,
//! `servicekit::internal`): what payment-service asks when it has no payment row yet (the
//! booking was confirmed a moment ago and `booking.confirmed` is still on its way) and before
//! it accepts a retry (the booking may have been cancelled a moment ago, with its
//! `booking.cancelled` still on its way).

use crate::settings::BookingServiceSettings;
use servicekit::ApiError;
use servicekit::internal::{BookingSummary, booking_path};
use std::time::Duration;
use uuid::Uuid;

/// booking-service did not answer, or not with a summary: the caller answers 503.
#[derive(Debug, thiserror::Error)]
#[error("booking-service cannot tell the booking")]
pub struct BookingsUnavailable(#[source] anyhow::Error);

impl From<BookingsUnavailable> for ApiError {
    fn from(e: BookingsUnavailable) -> Self {
        ApiError::unavailable(e)
    }
}

/// The client of booking-service's internal endpoint.
pub struct Bookings {
    base_url: String,
    client: reqwest::Client,
}

impl Bookings {
    pub fn new(settings: &BookingServiceSettings) -> anyhow::Result<Self> {
        Ok(Self {
            base_url: settings.url.trim_end_matches('/').to_owned(),
            client: reqwest::Client::builder()
                .timeout(Duration::from_millis(settings.timeout_ms))
                .build()?,
        })
    }

    /// The booking, or `None` when booking-service does not know it.
    pub async fn find(
        &self,
        booking_id: Uuid,
    ) -> Result<Option<BookingSummary>, BookingsUnavailable> {
        let url = format!("{}{}", self.base_url, booking_path(booking_id));
        let unavailable = |e: reqwest::Error| BookingsUnavailable(e.into());
        let res = self.client.get(&url).send().await.map_err(unavailable)?;
        match res.status() {
            reqwest::StatusCode::OK => Ok(Some(res.json().await.map_err(unavailable)?)),
            reqwest::StatusCode::NOT_FOUND => Ok(None),
            status => Err(BookingsUnavailable(anyhow::anyhow!(
                "booking-service answered {status}"
            ))),
        }
    }
}
