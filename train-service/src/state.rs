//! What the handlers share.

use crate::metrics::TrainMetrics;
use crate::search_cache::SearchCache;
use servicekit::db::PgPool;

pub struct TrainState {
    pub db: PgPool,
    pub cache: SearchCache,
    pub metrics: TrainMetrics,
}
