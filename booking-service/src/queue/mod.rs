//! The waiting room of a sale (`docs/api.md`, "The fair rush"): who may select the seats of a
//! sale that opens in a rush, and in which order. It lives in booking-service, beside the
//! only code that checks its passes (see `docs/architecture.md`, "The waiting room").
//!
//! - [`sales`]: the sales (trips grouped by `sales_open_at`) as train-service reports them.
//! - [`room`]: a sale's room in Redis (pre-queue, numbers, serving counter, places).
//! - [`pass`]: the signed pass an admitted user shows on select and confirm.
//! - [`admitter`]: the background job that opens rooms, shuffles the pre-queue at the
//!   opening, moves the serving counter at the admission rate and ends drained rooms.
//!
//! A sale's room is made when the sale's pre-queue opens (`pre_queue_mins` before it opens)
//! and is *active* (its trips need a pass) until, after the opening, everyone who joined has
//! had their turn; then it ends for good, and later joiners are admitted at once. A sale that
//! opened before any room was made for it (the seed's days already on sale) never has one.

pub mod admitter;
pub mod pass;
pub mod room;
pub mod sales;

use crate::settings::QueueSettings;
use chrono::{DateTime, Utc};
use pass::PassKey;
use room::Rooms;
use sales::{SaleTrips, Sales};
use std::collections::HashMap;
use std::sync::{Arc, RwLock};

/// The public state of a sale.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SaleState {
    Upcoming,
    PreQueue,
    Open,
    SoldOut,
    Closed,
}

/// Everything the routes and the job share.
pub struct WaitingRoom {
    pub sales: Sales,
    pub rooms: Rooms,
    pub key: PassKey,
    pub settings: QueueSettings,
    /// The sales whose room is active, as last read from Redis by the job, each with whether
    /// its pre-queue has been numbered.
    active: RwLock<Arc<HashMap<String, bool>>>,
    pub metrics: admitter::QueueMetrics,
}

impl WaitingRoom {
    pub fn new(
        rooms: Rooms,
        key: PassKey,
        settings: QueueSettings,
        metrics: admitter::QueueMetrics,
    ) -> Self {
        Self {
            sales: Sales::default(),
            rooms,
            key,
            settings,
            active: RwLock::default(),
            metrics,
        }
    }

    /// Whether the trips of `sale_id` need a pass now (no store round trip).
    pub fn is_active(&self, sale_id: &str) -> bool {
        self.active
            .read()
            .map(|a| a.contains_key(sale_id))
            .unwrap_or(false)
    }

    /// Whether the pre-queue of `sale_id` is numbered: true unless its room is active and
    /// not yet numbered.
    pub fn is_numbered(&self, sale_id: &str) -> bool {
        self.active
            .read()
            .map(|a| a.get(sale_id).copied().unwrap_or(true))
            .unwrap_or(true)
    }

    pub fn set_active(&self, sales: HashMap<String, bool>) {
        if let Ok(mut active) = self.active.write() {
            *active = Arc::new(sales);
        }
    }

    pub fn pre_queue_opens(&self, opens_at: DateTime<Utc>) -> DateTime<Utc> {
        opens_at - chrono::Duration::minutes(i64::from(self.settings.pre_queue_mins))
    }

    /// The state of `sale` at `now`; `assigned` says whether its room has numbered the
    /// pre-queue yet (until then it still shows as the pre-queue).
    pub fn state(&self, sale: &SaleTrips, now: DateTime<Utc>, assigned: bool) -> SaleState {
        if now >= sale.closes_at {
            SaleState::Closed
        } else if sale.sold_out() {
            SaleState::SoldOut
        } else if now < self.pre_queue_opens(sale.opens_at) {
            SaleState::Upcoming
        } else if now < sale.opens_at || !assigned {
            SaleState::PreQueue
        } else {
            SaleState::Open
        }
    }

    pub fn pass_lifetime(&self) -> chrono::Duration {
        chrono::Duration::seconds(i64::try_from(self.settings.pass_ttl_secs).unwrap_or(600))
    }
}

/// The header an admitted user's pass travels in.
pub const PASS_HEADER: &str = "x-queue-pass";

impl WaitingRoom {
    /// The pass rule of select (`grace` zero) and confirm (`grace` the hold's lifetime, so a
    /// hold taken with a valid pass can be confirmed): while the room of the sale opening at
    /// `sales_open_at` is active, `X-Queue-Pass` must carry a valid pass of `user` for it.
    pub fn require_pass(
        &self,
        req: &actix_web::HttpRequest,
        sales_open_at: DateTime<Utc>,
        user: uuid::Uuid,
        grace: chrono::Duration,
    ) -> Result<(), servicekit::ApiError> {
        use servicekit::ApiError;
        use servicekit::error::Code;
        let sale_id = sales::sale_id(sales_open_at);
        if !self.is_active(&sale_id) {
            return Ok(());
        }
        let refused = |reason: &str| {
            self.metrics
                .passes_refused
                .with_label_values(&[reason])
                .inc()
        };
        let Some(pass) = req.headers().get(PASS_HEADER) else {
            refused("missing");
            return Err(ApiError::new(
                Code::QueuePassRequired,
                "this sale has a waiting room: join it and select with the pass it gives you",
            )
            .with_details(serde_json::json!({ "sale_id": sale_id })));
        };
        let pass = pass.to_str().unwrap_or_default();
        self.key
            .verify(pass, &sale_id, user, Utc::now(), grace)
            .map_err(|refusal| {
                refused(refusal.label());
                ApiError::new(
                    Code::QueuePassInvalid,
                    "the queue pass is not valid for you, this sale or now",
                )
                .with_details(serde_json::json!({ "sale_id": sale_id }))
            })
    }
}
