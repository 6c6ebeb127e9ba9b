//! Prometheus metrics: one registry per service (never the process-global default), HTTP
//! requests counted and timed by route pattern, pool gauges refreshed at scrape time.
//!
//! Services register their own metrics on [`Metrics::registry`] and add scrape-time refreshes
//! with [`Metrics::on_scrape`].

use crate::cache::RedisPool;
use crate::db::PgPool;
use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::{HttpResponse, web};
use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounterVec, IntGaugeVec, Opts, Registry,
};
use std::sync::{Arc, Mutex};
use std::time::Instant;

/// Latency buckets from 1 ms to 5 s.
pub const LATENCY_BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
];

type ScrapeHook = Box<dyn Fn() + Send + Sync>;

pub struct Metrics {
    registry: Registry,
    /// HTTP requests by route pattern, method and status.
    http_requests: IntCounterVec,
    /// HTTP request latency by route pattern and method.
    http_duration: HistogramVec,
    /// Connections of each pool by state (in_use, idle, waiting).
    pool_connections: IntGaugeVec,
    hooks: Mutex<Vec<ScrapeHook>>,
}

impl Metrics {
    pub fn new(service: &str) -> anyhow::Result<Arc<Self>> {
        let labels = [("service".to_owned(), service.to_owned())].into();
        let registry = Registry::new_custom(Some("railrush".into()), Some(labels))?;
        let http_requests = IntCounterVec::new(
            Opts::new(
                "http_requests_total",
                "HTTP requests by route pattern, method and status",
            ),
            &["route", "method", "status"],
        )?;
        let http_duration = HistogramVec::new(
            HistogramOpts::new(
                "http_request_duration_seconds",
                "HTTP request latency by route pattern and method",
            )
            .buckets(LATENCY_BUCKETS.to_vec()),
            &["route", "method"],
        )?;
        let pool_connections = IntGaugeVec::new(
            Opts::new(
                "pool_connections",
                "Connections of each pool by state (in_use, idle, waiting)",
            ),
            &["pool", "state"],
        )?;
        registry.register(Box::new(http_requests.clone()))?;
        registry.register(Box::new(http_duration.clone()))?;
        registry.register(Box::new(pool_connections.clone()))?;
        Ok(Arc::new(Self {
            registry,
            http_requests,
            http_duration,
            pool_connections,
            hooks: Mutex::new(Vec::new()),
        }))
    }

    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    /// Runs `hook` before every scrape (to refresh gauges).
    pub fn on_scrape(&self, hook: impl Fn() + Send + Sync + 'static) {
        if let Ok(mut hooks) = self.hooks.lock() {
            hooks.push(Box::new(hook));
        }
    }

    pub fn watch_pg_pool(self: &Arc<Self>, pool: PgPool) {
        let gauge = self.pool_connections.clone();
        self.on_scrape(move || {
            let s = pool.status();
            set_pool(&gauge, "postgres", s.size, s.available, s.waiting);
        });
    }

    pub fn watch_redis_pool(self: &Arc<Self>, pool: RedisPool) {
        let gauge = self.pool_connections.clone();
        self.on_scrape(move || {
            let s = pool.status();
            set_pool(&gauge, "redis", s.size, s.available, s.waiting);
        });
    }

    /// The text exposition of this service's registry.
    pub fn render(&self) -> String {
        if let Ok(hooks) = self.hooks.lock() {
            hooks.iter().for_each(|hook| hook());
        }
        let mut out = Vec::new();
        if let Err(error) = prometheus::TextEncoder::new().encode(&self.registry.gather(), &mut out)
        {
            tracing::error!(%error, "encoding metrics");
        }
        String::from_utf8(out).unwrap_or_default()
    }
}

fn set_pool(gauge: &IntGaugeVec, pool: &str, size: usize, available: usize, waiting: usize) {
    let as_i64 = |n: usize| i64::try_from(n).unwrap_or(i64::MAX);
    gauge
        .with_label_values(&[pool, "in_use"])
        .set(as_i64(size.saturating_sub(available)));
    gauge
        .with_label_values(&[pool, "idle"])
        .set(as_i64(available));
    gauge
        .with_label_values(&[pool, "waiting"])
        .set(as_i64(waiting));
}

/// `GET /metrics`.
pub async fn scrape(metrics: web::Data<Metrics>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4")
        .body(metrics.render())
}

/// Middleware: counts and times every request by its route pattern.
pub async fn track(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let metrics = req.app_data::<web::Data<Metrics>>().cloned();
    let method = req.method().clone();
    let start = Instant::now();
    let res = next.call(req).await?;
    if let Some(m) = metrics {
        let route = res
            .request()
            .match_pattern()
            .unwrap_or_else(|| "unmatched".to_owned());
        m.http_requests
            .with_label_values(&[route.as_str(), method.as_str(), res.status().as_str()])
            .inc();
        m.http_duration
            .with_label_values(&[route.as_str(), method.as_str()])
            .observe(start.elapsed().as_secs_f64());
    }
    Ok(res)
}
