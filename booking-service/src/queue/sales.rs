//! The sales, as train-service groups its trips (`GET /internal/sales`): kept in process and
//! fetched again every `queue.sales_refresh_ms` by the waiting room's job, so the public
//! answers never wait on train-service. A sale's id is its opening in UTC,
//! `YYYYMMDDTHHMMSSZ`: the same on every replica, derivable from any of its trips.

use chrono::{DateTime, NaiveDateTime, Utc};
use serde::Deserialize;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

const ID_FORMAT: &str = "%Y%m%dT%H%M%SZ";

/// The id of the sale that opens at `opens_at`.
pub fn sale_id(opens_at: DateTime<Utc>) -> String {
    opens_at.format(ID_FORMAT).to_string()
}

/// The opening a sale id names; `None` for anything else.
pub fn opens_at(sale_id: &str) -> Option<DateTime<Utc>> {
    if sale_id.len() != 16 {
        return None;
    }
    NaiveDateTime::parse_from_str(sale_id, ID_FORMAT)
        .ok()
        .map(|t| t.and_utc())
}

/// One sale as train-service reports it.
#[derive(Clone, Debug, Deserialize)]
pub struct SaleTrips {
    pub opens_at: DateTime<Utc>,
    pub trip_ids: Vec<i64>,
    pub seats_total: i64,
    pub seats_sold: i64,
    /// The last departure of its trips: the sale is closed after it.
    pub closes_at: DateTime<Utc>,
}

impl SaleTrips {
    pub fn id(&self) -> String {
        sale_id(self.opens_at)
    }

    pub fn sold_out(&self) -> bool {
        self.seats_sold >= self.seats_total
    }
}

#[derive(Deserialize)]
struct SalesAnswer {
    sales: Vec<SaleTrips>,
}

/// The last list of sales fetched, by id.
#[derive(Default)]
pub struct Sales {
    known: RwLock<Arc<HashMap<String, SaleTrips>>>,
    fetched: AtomicBool,
}

impl Sales {
    /// Whether a list has arrived since the start.
    pub fn fetched(&self) -> bool {
        self.fetched.load(Ordering::Acquire)
    }

    pub fn all(&self) -> Arc<HashMap<String, SaleTrips>> {
        self.known.read().map(|k| k.clone()).unwrap_or_default()
    }

    pub fn get(&self, sale_id: &str) -> Option<SaleTrips> {
        self.all().get(sale_id).cloned()
    }

    pub fn replace(&self, sales: Vec<SaleTrips>) {
        let by_id = sales.into_iter().map(|s| (s.id(), s)).collect();
        if let Ok(mut known) = self.known.write() {
            *known = Arc::new(by_id);
        }
        self.fetched.store(true, Ordering::Release);
    }
}

/// Asks train-service for the sales.
pub struct SalesSource {
    url: String,
    client: reqwest::Client,
}

impl SalesSource {
    pub fn new(train_service_url: &str) -> anyhow::Result<Self> {
        Ok(Self {
            url: format!("{}/internal/sales", train_service_url.trim_end_matches('/')),
            client: reqwest::Client::builder()
                .timeout(Duration::from_secs(3))
                .build()?,
        })
    }

    pub async fn fetch(&self) -> anyhow::Result<Vec<SaleTrips>> {
        let res = self.client.get(&self.url).send().await?;
        anyhow::ensure!(
            res.status().is_success(),
            "train-service answered {}",
            res.status()
        );
        Ok(res.json::<SalesAnswer>().await?.sales)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sale_id_names_its_opening_and_nothing_else() {
        let at = DateTime::parse_from_rfc3339("2026-12-10T02:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        assert_eq!(sale_id(at), "20261210T020000Z");
        assert_eq!(opens_at("20261210T020000Z"), Some(at));
        for bad in [
            "",
            "20261210T020000",
            "2026-12-10T02:00",
            "20261310T020000Z",
            "+0261210T020000Z",
        ] {
            assert_eq!(opens_at(bad), None, "{bad}");
        }
    }
}
