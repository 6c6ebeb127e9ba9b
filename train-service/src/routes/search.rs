//! `GET /api/trains/stations` and `GET /api/trains/search` (cached, see `search_cache`).

use crate::catalogue::{Route, trips};
use crate::domain;
use crate::search_cache::Lookup;
use crate::state::TrainState;
use actix_web::{HttpResponse, web};
use serde::Deserialize;
use serde_json::json;
use servicekit::ApiError;

#[tracing::instrument(skip_all)]
pub async fn stations(state: web::Data<TrainState>) -> Result<HttpResponse, ApiError> {
    let db = state.db.get().await?;
    let stations = trips::stations(&db).await?;
    Ok(HttpResponse::Ok().json(json!({ "stations": stations })))
}

/// Every parameter optional here, so a missing one is reported by name.
#[derive(Deserialize)]
pub struct SearchQuery {
    from: Option<String>,
    to: Option<String>,
    date: Option<String>,
}

fn station_param(value: Option<&String>, field: &str) -> Result<String, ApiError> {
    let value =
        value.ok_or_else(|| ApiError::invalid_field(field, format!("{field} is required")))?;
    domain::station_code(&value.trim().to_ascii_uppercase())
        .map_err(|m| ApiError::invalid_field(field, m))
}

fn parse_route(q: &SearchQuery) -> Result<Route, ApiError> {
    let from = station_param(q.from.as_ref(), "from")?;
    let to = station_param(q.to.as_ref(), "to")?;
    let date = servicekit::http::date_param(q.date.as_deref())?;
    if from == to {
        return Err(ApiError::invalid_field("to", "from and to must differ"));
    }
    Ok(Route { from, to, date })
}

#[tracing::instrument(skip_all)]
pub async fn search(
    state: web::Data<TrainState>,
    query: web::Query<SearchQuery>,
) -> Result<HttpResponse, ApiError> {
    let route = parse_route(&query)?;
    let generation = match state.cache.lookup(&route).await {
        Lookup::Hit(body) => {
            state.metrics.search_cache.with_label_values(&["hit"]).inc();
            return Ok(json_body(body));
        }
        Lookup::Miss(generation) => {
            state
                .metrics
                .search_cache
                .with_label_values(&["miss"])
                .inc();
            Some(generation)
        }
        Lookup::Unavailable => {
            state
                .metrics
                .search_cache
                .with_label_values(&["unavailable"])
                .inc();
            None
        }
    };
    let db = state.db.get().await?;
    let unknown = trips::unknown_stations(&db, &[&route.from, &route.to]).await?;
    if let Some(code) = unknown.first() {
        let field = if *code == route.from { "from" } else { "to" };
        return Err(ApiError::invalid_field(
            field,
            format!("unknown station {code}"),
        ));
    }
    let found = trips::search(&db, &route).await?;
    drop(db);
    let body = serde_json::to_vec(&json!({ "trips": found })).map_err(ApiError::internal)?;
    if let Some(generation) = generation {
        state.cache.fill(&route, &generation, &body).await;
    }
    Ok(json_body(body))
}

fn json_body(body: Vec<u8>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/json")
        .body(body)
}
