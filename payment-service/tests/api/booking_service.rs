//! booking-service's internal booking summary (`GET /internal/bookings/{id}`, the contract
//! type `servicekit::internal::BookingSummary`), played by the test as these tests already
//! play booking-service's events: [`crate::helpers::PaymentApp::confirm`] records the booking
//! it announces, and a test ends one with [`Bookings::set_status`]. The real endpoint is
//! booking-service's (tested there), and the saga tests run both services together.

use actix_web::{HttpResponse, web};
use servicekit::internal::BookingSummary;
use servicekit::testing::servers::LocalHttp;
use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use uuid::Uuid;

#[derive(Default)]
pub struct Bookings {
    known: Mutex<HashMap<Uuid, BookingSummary>>,
    /// How many summaries were asked for.
    pub asked: AtomicUsize,
}

impl Bookings {
    pub fn insert(&self, booking: BookingSummary) {
        self.known
            .lock()
            .unwrap()
            .insert(booking.booking_id, booking);
    }

    /// The booking's status moves on (e.g. `cancelled`), as booking-service's would.
    pub fn set_status(&self, booking_id: Uuid, status: &str) {
        if let Some(b) = self.known.lock().unwrap().get_mut(&booking_id) {
            status.clone_into(&mut b.status);
        }
    }

    pub fn asked(&self) -> usize {
        self.asked.load(Ordering::SeqCst)
    }
}

pub struct BookingService {
    pub base_url: String,
    pub bookings: Arc<Bookings>,
    _server: LocalHttp,
}

pub fn start() -> BookingService {
    let bookings = Arc::new(Bookings::default());
    let data = web::Data::from(bookings.clone());
    let server = LocalHttp::start(move |cfg| {
        cfg.app_data(data.clone())
            .route("/internal/bookings/{booking_id}", web::get().to(summary));
    })
    .unwrap();
    BookingService {
        base_url: server.base_url.clone(),
        bookings,
        _server: server,
    }
}

async fn summary(bookings: web::Data<Bookings>, path: web::Path<Uuid>) -> HttpResponse {
    bookings.asked.fetch_add(1, Ordering::SeqCst);
    match bookings.known.lock().unwrap().get(&path.into_inner()) {
        Some(b) => HttpResponse::Ok().json(b),
        None => HttpResponse::NotFound().json(serde_json::json!({"error": {"code": "not_found"}})),
    }
}
