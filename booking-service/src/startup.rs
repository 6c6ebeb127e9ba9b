//! Assembles booking-service on the service kernel: `main` and the tests both start it
//! through [`build`].

use crate::confirms::{self, Confirms};
use crate::inventory::Inventory;
use crate::live::LiveFeed;
use crate::payments::PaymentResults;
use crate::queue::WaitingRoom;
use crate::queue::admitter::{self, QueueMetrics};
use crate::queue::pass::PassKey;
use crate::queue::room::Rooms;
use crate::queue::sales::SalesSource;
use crate::refunds::Refunds;
use crate::seats::SeatStore;
use crate::settings::{QueueSettings, Settings};
use crate::state::{BookingMetrics, BookingState};
use crate::tickets::Tickets;
use crate::trip_cancel::{self, TripCancelMetrics, TripCancellations};
use crate::{expiries, hot_trips, markers, reconcile, sweeper};
use actix_web::web;
use servicekit::cache::Keys;
pub use servicekit::service::Application;
use servicekit::service::Kernel;
use std::sync::Arc;
use std::time::Duration;

use servicekit::auth::Revocations;

servicekit::migrations!("migrations");

pub async fn build(settings: Settings) -> anyhow::Result<Application> {
    let mut kernel = Kernel::new("booking-service", &settings.http)?;
    let pg = kernel.postgres(&settings.database, migrations()).await?;
    kernel.retention(&pg, &settings.retention).await?;
    let redis = kernel.redis(&settings.redis)?;
    let broker = kernel.broker(&settings.amqp);
    // Confirmations wait in the outbox; live maps then update on this replica only.
    kernel.degradable(&["rabbitmq"]);
    kernel.verify_tokens(&settings.jwt)?;
    kernel.idempotency(&pg);
    let own = &settings.booking;
    let revocations = Revocations::from_settings(redis.clone(), &settings.jwt, &settings.redis);
    let seats = SeatStore::new(redis, Keys::new(settings.redis.key_prefix.clone()));
    let live = LiveFeed::new(
        broker,
        &own.seats_exchange,
        Duration::from_millis(own.live_window_ms),
    );
    live.export_listeners(kernel.metrics())?;
    let waiting_room = Arc::new(WaitingRoom::new(
        Rooms::new(seats.pool().clone(), seats.keys().clone()),
        PassKey::new(&pass_key(&settings.queue)?)?,
        settings.queue.clone(),
        QueueMetrics::register(kernel.metrics().registry())?,
    ));
    let source = SalesSource::new(&own.train_service_url)?;
    let room = waiting_room.clone();
    kernel.spawn("waiting room", move |stop| {
        admitter::run(room, source, stop)
    });
    let (confirms, confirm_writer) = Confirms::new(own.confirm_batch, kernel.metrics().registry())?;
    let state = Arc::new(BookingState {
        db: pg.clone(),
        seats: seats.clone(),
        inventory: Inventory::new(&own.train_service_url)?,
        relay: kernel.outbox(&pg)?,
        revocations,
        live: live.clone(),
        settings: own.clone(),
        metrics: BookingMetrics::register(kernel.metrics().registry())?,
        queue: waiting_room,
        limits: servicekit::limit::PerCaller::default(),
        user_limits: settings.user_limits.clone(),
        tickets: Tickets::new(&settings.tickets, kernel.metrics().registry())?,
        unreconciled: Default::default(),
        trip_cancel: TripCancellations::new(
            Duration::from_millis(own.trip_cancel_interval_ms),
            TripCancelMetrics::register(kernel.metrics().registry())?,
        ),
        confirms,
    });
    if let Some(writer) = confirm_writer {
        let s = state.clone();
        kernel.spawn("confirm batches", move |stop| {
            confirms::run(s, writer, stop)
        });
    }
    markers::rebuild_at_start(&pg, &seats).await;
    let markers_every = Duration::from_millis(own.marker_check_ms);
    kernel.spawn("live seat feed", |stop| live.run(stop));
    kernel.spawn("booked markers", move |stop| {
        markers::watch(pg, seats, markers_every, stop)
    });
    kernel.consume(PaymentResults(state.clone()))?;
    kernel.consume(Refunds::new(state.clone(), kernel.metrics().registry())?)?;
    let (s, t, c) = (state.clone(), state.clone(), state.clone());
    kernel.spawn("sweeper", move |stop| sweeper::run(s, stop));
    let (e, r) = (state.clone(), state.clone());
    kernel.spawn("hold expiries", move |stop| expiries::run(e, stop));
    kernel.spawn("reconciliation", move |stop| reconcile::run(r, stop));
    kernel.spawn("trip cancellations", move |stop| {
        trip_cancel::job::run(c, stop)
    });
    kernel.spawn("seats left", move |stop| hot_trips::run(t, stop));
    let state = web::Data::from(state);
    kernel.api(crate::routes::api());
    kernel.serve(move |cfg| {
        cfg.app_data(state.clone());
    })
}

/// The key passes are signed with: configured, else a random one for this process (passes
/// then fail on another replica and after a restart, which the log says).
fn pass_key(settings: &QueueSettings) -> anyhow::Result<secrecy::SecretString> {
    let configured = servicekit::config::load_secret(
        settings.pass_key.as_ref(),
        settings.pass_key_path.as_deref(),
        "queue pass key",
    )?;
    Ok(configured.unwrap_or_else(|| {
        tracing::warn!("no queue pass key configured: using a random per-process key");
        let bytes: [u8; 32] = rand::random();
        hex::encode(bytes).into()
    }))
}
