//! The seat inventory, fares and sales opening of a trip, fetched from train-service's
//! internal endpoint and kept in process. A trip's seats and fares do not change once sold,
//! but an admin may move its `sales_open_at`, so a cached trip is fetched again once it is
//! [`REFRESH_AFTER`] old: by one caller, while the others keep answering from the cached
//! copy, and conditionally (the copy's `ETag`: train-service answers 304, not the seat list,
//! while nothing changed). The staleness accepted: a moved opening applies here within [`REFRESH_AFTER`] plus
//! one fetch (a select in between is judged by the old opening). When train-service cannot
//! be reached then, the cached copy keeps serving and is tried again [`REFRESH_AFTER`]
//! later. The callers that find a trip uncached at once (every passenger at a sale's
//! opening) wait for one fetch, not one each; a failed one is not kept. Unknown trips are
//! remembered briefly so a flood of bad ids does not become a flood of lookups. Failures are [`InventoryError`]: an unknown trip (404), or train-service out
//! of reach with nothing cached (503). The railway's closing of a trip's sales
//! (`sales_closed`) travels the same way as a moved opening.
//!
//! [`Inventory::trips_on`] lists a date's trips with their seats per class for the admin
//! sales overview (not cached: it is asked every few seconds by a few operators).

use chrono::{DateTime, NaiveDate, Utc};
use serde::Deserialize;
use servicekit::ApiError;
use servicekit::error::Code;
use servicekit::events::TripSummary;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};
use tokio::sync::OnceCell;

#[derive(Clone, Debug, Deserialize)]
pub struct SeatInfo {
    pub seat_id: i32,
    pub label: String,
    pub coach: String,
    pub class: String,
    pub fare: i64,
}

#[derive(Clone, Debug, Deserialize)]
pub struct TrainRef {
    pub number: String,
    pub name: String,
}

#[derive(Debug, Deserialize)]
pub struct TripInventory {
    pub trip_id: i64,
    pub departs_at: DateTime<Utc>,
    /// Selecting before this is 409 `sales_not_open`.
    pub sales_open_at: DateTime<Utc>,
    /// The railway closed the trip's sales: selecting is 409 `sales_closed`.
    #[serde(default)]
    pub sales_closed: bool,
    pub train: TrainRef,
    /// Station codes.
    pub from: String,
    pub to: String,
    pub currency: String,
    pub seats: Vec<SeatInfo>,
    /// train-service's `ETag` of this answer: a refresh sends it back as `If-None-Match`
    /// and, when nothing changed, gets a 304 instead of the seat list again.
    #[serde(skip)]
    pub etag: Option<String>,
}

impl TripInventory {
    /// The journey as events and tickets print it.
    pub fn summary(&self) -> TripSummary {
        TripSummary {
            train_number: self.train.number.clone(),
            train_name: self.train.name.clone(),
            from: self.from.clone(),
            to: self.to.clone(),
            departs_at: self.departs_at,
        }
    }

    pub fn seat(&self, seat_id: i32) -> Option<&SeatInfo> {
        // Seat ids are 1..N in order; fall back to a search if the list has gaps.
        usize::try_from(seat_id - 1)
            .ok()
            .and_then(|i| self.seats.get(i))
            .filter(|s| s.seat_id == seat_id)
            .or_else(|| self.seats.iter().find(|s| s.seat_id == seat_id))
    }
}

/// A trip of a date as train-service's `GET /internal/trips?date=` lists it.
#[derive(Clone, Debug, Deserialize)]
pub struct DayTrip {
    pub trip_id: i64,
    pub train: TrainRef,
    pub from: String,
    pub to: String,
    pub departs_at: DateTime<Utc>,
    pub sales_open_at: DateTime<Utc>,
    #[serde(default)]
    pub sales_closed: bool,
    pub classes: Vec<DayClass>,
}

#[derive(Clone, Debug, Deserialize)]
pub struct DayClass {
    pub class: String,
    pub seats_total: i64,
}

#[derive(Deserialize)]
struct DayTrips {
    trips: Vec<DayTrip>,
}

#[derive(Debug, thiserror::Error)]
pub enum InventoryError {
    #[error("no such trip")]
    UnknownTrip,
    /// train-service did not answer, or not with an inventory.
    #[error("train-service cannot tell the trip's inventory")]
    Unavailable(#[source] anyhow::Error),
}

impl From<InventoryError> for ApiError {
    fn from(e: InventoryError) -> Self {
        match e {
            InventoryError::UnknownTrip => ApiError::new(Code::NotFound, e.to_string()),
            InventoryError::Unavailable(_) => ApiError::unavailable(e),
        }
    }
}

const UNKNOWN_TTL: Duration = Duration::from_secs(30);
const LIMIT: usize = 20_000;

/// How old a cached trip may get before it is fetched again (see the module's comment).
pub const REFRESH_AFTER: Duration = Duration::from_secs(5);

struct Known {
    trip: Arc<TripInventory>,
    fetched: Instant,
    /// Set by the one caller that fetches the trip again.
    refreshing: AtomicBool,
}

impl Known {
    fn new(trip: Arc<TripInventory>) -> Arc<Self> {
        Arc::new(Self {
            trip,
            fetched: Instant::now(),
            refreshing: AtomicBool::new(false),
        })
    }
}

/// Clears [`Known::refreshing`] when the refresh ends, however it ends.
struct Refreshing(Arc<Known>);

impl Drop for Refreshing {
    fn drop(&mut self) {
        self.0.refreshing.store(false, Ordering::Release);
    }
}

enum Entry {
    Known(Arc<Known>),
    Unknown(Instant),
    /// A first fetch under way: every caller that finds it waits for its answer.
    Fetching(Arc<OnceCell<Fetched>>),
}

/// What one fetch of a trip found, shared with the callers that waited for it.
#[derive(Clone)]
enum Fetched {
    Known(Arc<TripInventory>),
    Unknown,
    Failed(Arc<str>),
}

impl Fetched {
    fn into_result(self) -> Result<Arc<TripInventory>, InventoryError> {
        match self {
            Self::Known(trip) => Ok(trip),
            Self::Unknown => Err(InventoryError::UnknownTrip),
            Self::Failed(error) => Err(InventoryError::Unavailable(anyhow::anyhow!("{error}"))),
        }
    }
}

/// What train-service answered a request for a trip's inventory.
enum Answer {
    Trip(Box<TripInventory>),
    /// 304: the copy whose `ETag` the request named is current.
    Unchanged,
    Unknown,
}

/// Where the cache sends a caller.
enum Lookup {
    Hit(Arc<TripInventory>),
    /// The cached copy is old and this caller fetches it again.
    Refresh(Arc<Known>),
    /// Not cached: wait for (or run) the trip's one first fetch.
    Wait(Arc<OnceCell<Fetched>>),
}

pub struct Inventory {
    base_url: String,
    client: reqwest::Client,
    trips: RwLock<HashMap<i64, Entry>>,
}

impl Inventory {
    pub fn new(base_url: &str) -> anyhow::Result<Self> {
        Ok(Self {
            base_url: base_url.trim_end_matches('/').to_owned(),
            client: reqwest::Client::builder()
                .timeout(Duration::from_secs(3))
                .build()?,
            trips: RwLock::new(HashMap::new()),
        })
    }

    /// The trip's inventory; [`InventoryError::UnknownTrip`] for a trip train-service does
    /// not know. The callers that find a trip uncached at once (a sale's opening) share one
    /// fetch.
    pub async fn trip(&self, trip_id: i64) -> Result<Arc<TripInventory>, InventoryError> {
        match self.lookup(trip_id)? {
            Lookup::Hit(trip) => Ok(trip),
            Lookup::Refresh(stale) => {
                // Should this caller go away mid-fetch (its client hung up), the next one
                // that finds the copy old fetches it.
                let _unless_done = Refreshing(stale.clone());
                let fetched = match self.fetch(trip_id, Some(&stale.trip)).await {
                    Fetched::Failed(error) => {
                        tracing::warn!(trip_id, %error,
                            "could not refresh a trip's inventory; the cached one serves");
                        Fetched::Known(stale.trip.clone())
                    }
                    fetched => fetched,
                };
                if let Ok(mut trips) = self.trips.write() {
                    store(&mut trips, trip_id, &fetched);
                }
                fetched.into_result()
            }
            Lookup::Wait(first) => {
                // One caller runs the fetch; if it goes away (its client hung up), the next
                // waiter runs it.
                let fetched = first
                    .get_or_init(|| self.fetch(trip_id, None))
                    .await
                    .clone();
                if let Ok(mut trips) = self.trips.write()
                    && matches!(trips.get(&trip_id), Some(Entry::Fetching(f)) if Arc::ptr_eq(f, &first))
                {
                    store(&mut trips, trip_id, &fetched);
                }
                fetched.into_result()
            }
        }
    }

    fn lookup(&self, trip_id: i64) -> Result<Lookup, InventoryError> {
        if let Ok(trips) = self.trips.read()
            && let Some(found) = cached(trips.get(&trip_id))
        {
            return found;
        }
        let first = Arc::new(OnceCell::new());
        let Ok(mut trips) = self.trips.write() else {
            return Ok(Lookup::Wait(first));
        };
        // Looked up again: another caller may have started the fetch in between.
        if let Some(found) = cached(trips.get(&trip_id)) {
            return found;
        }
        make_room(&mut trips);
        if trips.len() < LIMIT {
            trips.insert(trip_id, Entry::Fetching(first.clone()));
        }
        Ok(Lookup::Wait(first))
    }

    /// The trips of `date` (train-service's service date: the departure's date in
    /// Asia/Dhaka), by departure.
    pub async fn trips_on(&self, date: NaiveDate) -> Result<Vec<DayTrip>, InventoryError> {
        let url = format!("{}/internal/trips", self.base_url);
        let unavailable = |e: reqwest::Error| InventoryError::Unavailable(e.into());
        let res = self
            .client
            .get(&url)
            .query(&[("date", date.format("%Y-%m-%d").to_string())])
            .send()
            .await
            .map_err(unavailable)?;
        if res.status() != reqwest::StatusCode::OK {
            return Err(InventoryError::Unavailable(anyhow::anyhow!(
                "train-service answered {}",
                res.status()
            )));
        }
        let day: DayTrips = res.json().await.map_err(unavailable)?;
        Ok(day.trips)
    }

    /// One request for the trip's inventory; with the `cached` copy, a conditional one that
    /// keeps the copy when train-service answers 304.
    async fn fetch(&self, trip_id: i64, cached: Option<&Arc<TripInventory>>) -> Fetched {
        let etag = cached.and_then(|trip| trip.etag.as_deref());
        match self.request(trip_id, etag).await {
            Ok(Answer::Trip(trip)) => Fetched::Known(Arc::new(*trip)),
            Ok(Answer::Unchanged) => match cached {
                Some(trip) => Fetched::Known(trip.clone()),
                None => Fetched::Failed("train-service answered 304 to no If-None-Match".into()),
            },
            Ok(Answer::Unknown) => Fetched::Unknown,
            Err(error) => Fetched::Failed(format!("{error:#}").into()),
        }
    }

    async fn request(&self, trip_id: i64, etag: Option<&str>) -> anyhow::Result<Answer> {
        let url = format!("{}/internal/trips/{trip_id}/inventory", self.base_url);
        let mut request = self.client.get(&url);
        if let Some(etag) = etag {
            request = request.header(reqwest::header::IF_NONE_MATCH, etag);
        }
        let res = request.send().await?;
        match res.status() {
            reqwest::StatusCode::OK => {
                let etag = res
                    .headers()
                    .get(reqwest::header::ETAG)
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_owned);
                let mut trip: Box<TripInventory> = res.json().await?;
                trip.etag = etag;
                Ok(Answer::Trip(trip))
            }
            reqwest::StatusCode::NOT_MODIFIED if etag.is_some() => Ok(Answer::Unchanged),
            reqwest::StatusCode::NOT_FOUND => Ok(Answer::Unknown),
            status => anyhow::bail!("train-service answered {status}"),
        }
    }
}

/// What the cache holds for a trip, or `None` when a fetch must start. A cached trip that is
/// old is fetched again by the one caller that finds it so first; the others get the copy.
fn cached(entry: Option<&Entry>) -> Option<Result<Lookup, InventoryError>> {
    match entry? {
        Entry::Known(k) => Some(Ok(
            if k.fetched.elapsed() < REFRESH_AFTER || k.refreshing.swap(true, Ordering::AcqRel) {
                Lookup::Hit(k.trip.clone())
            } else {
                Lookup::Refresh(k.clone())
            },
        )),
        Entry::Unknown(at) if at.elapsed() < UNKNOWN_TTL => Some(Err(InventoryError::UnknownTrip)),
        Entry::Unknown(_) => None,
        Entry::Fetching(first) => Some(Ok(Lookup::Wait(first.clone()))),
    }
}

/// Forgets the unknown trips when the cache is full.
fn make_room(trips: &mut HashMap<i64, Entry>) {
    if trips.len() >= LIMIT {
        trips.retain(|_, e| !matches!(e, Entry::Unknown(_)));
    }
}

/// Caches what a fetch found; a failed fetch is forgotten (the next caller tries again).
fn store(trips: &mut HashMap<i64, Entry>, trip_id: i64, fetched: &Fetched) {
    let entry = match fetched {
        Fetched::Known(trip) => Entry::Known(Known::new(trip.clone())),
        Fetched::Unknown => Entry::Unknown(Instant::now()),
        Fetched::Failed(_) => {
            trips.remove(&trip_id);
            return;
        }
    };
    make_room(trips);
    if trips.len() < LIMIT || trips.contains_key(&trip_id) {
        trips.insert(trip_id, entry);
    }
}
