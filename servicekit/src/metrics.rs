//! Prometheus metrics: one registry per service (never the process-global default), HTTP
//! requests counted and timed by route pattern, pool gauges refreshed at scrape time.
//!
//! Services register their own metrics on [`Metrics::registry`] and add scrape-time refreshes
//! with [`Metrics::on_scrape`].

use crate::cache::RedisPool;
use crate::db::PgPool;
use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::Method;
use actix_web::middleware::Next;
use actix_web::{HttpResponse, web};
use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounterVec, IntGaugeVec, Opts, Registry,
};
use std::fmt;
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
    consumers: ConsumerMetrics,
    hooks: Mutex<Vec<ScrapeHook>>,
}

/// What every event consumer of a service reports, labelled by queue. Registered by
/// [`Metrics::new`]; a consumer's label values appear (at zero) when it starts.
#[derive(Clone)]
pub struct ConsumerMetrics {
    /// Messages by queue and outcome: received, acked, retried, rejected, redelivered, parked.
    pub messages: IntCounterVec,
    /// Handling time of one message, from delivery to settlement.
    pub processing_seconds: HistogramVec,
    /// Messages ready in the queue (refreshed from the broker every few seconds).
    pub queue_depth: IntGaugeVec,
    /// Messages waiting in the queue's parking queue `<queue>.parked`.
    pub parked: IntGaugeVec,
    /// Events handled together, for batched subscriptions.
    pub batch_size: HistogramVec,
}

/// The outcomes of [`ConsumerMetrics::messages`].
pub const CONSUMER_OUTCOMES: &[&str] = &[
    "received",
    "acked",
    "retried",
    "rejected",
    "redelivered",
    "parked",
];

impl fmt::Debug for ConsumerMetrics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ConsumerMetrics")
    }
}

impl ConsumerMetrics {
    fn register(registry: &Registry) -> prometheus::Result<Self> {
        let messages = IntCounterVec::new(
            Opts::new(
                "consumer_messages_total",
                "Consumed messages by queue and outcome (received, acked, retried, rejected, \
                 redelivered, parked)",
            ),
            &["queue", "outcome"],
        )?;
        let processing_seconds = HistogramVec::new(
            HistogramOpts::new(
                "consumer_processing_seconds",
                "Time from a message's delivery to its ack or nack, by queue",
            )
            .buckets(LATENCY_BUCKETS.to_vec()),
            &["queue"],
        )?;
        let queue_depth = IntGaugeVec::new(
            Opts::new(
                "consumer_queue_depth",
                "Messages ready in each consumed queue (refreshed from the broker)",
            ),
            &["queue"],
        )?;
        let parked = IntGaugeVec::new(
            Opts::new(
                "consumer_parked_messages",
                "Messages waiting in each consumed queue's parking queue (<queue>.parked)",
            ),
            &["queue"],
        )?;
        let batch_size = HistogramVec::new(
            HistogramOpts::new(
                "consumer_batch_size",
                "Events handled together by a batched consumer, by queue",
            )
            .buckets(vec![1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0]),
            &["queue"],
        )?;
        registry.register(Box::new(messages.clone()))?;
        registry.register(Box::new(processing_seconds.clone()))?;
        registry.register(Box::new(queue_depth.clone()))?;
        registry.register(Box::new(parked.clone()))?;
        registry.register(Box::new(batch_size.clone()))?;
        Ok(Self {
            messages,
            processing_seconds,
            queue_depth,
            parked,
            batch_size,
        })
    }

    /// Makes every series of `queue` appear at zero.
    pub fn init_queue(&self, queue: &str) {
        for outcome in CONSUMER_OUTCOMES {
            self.messages.with_label_values(&[queue, outcome]);
        }
        self.processing_seconds.with_label_values(&[queue]);
        self.queue_depth.with_label_values(&[queue]);
        self.parked.with_label_values(&[queue]);
    }

    pub fn count(&self, queue: &str, outcome: &str) {
        self.messages.with_label_values(&[queue, outcome]).inc();
    }
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
        let consumers = ConsumerMetrics::register(&registry)?;
        Ok(Arc::new(Self {
            registry,
            http_requests,
            http_duration,
            pool_connections,
            consumers,
            hooks: Mutex::new(Vec::new()),
        }))
    }

    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    /// The consumer metrics, for [`crate::consumer::QueueSpec::observed_by`].
    pub fn consumers(&self) -> ConsumerMetrics {
        self.consumers.clone()
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

/// The `method` label: a standard method, or `other`, so that a caller inventing methods
/// cannot make new series.
fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::HEAD => "HEAD",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::OPTIONS => "OPTIONS",
        _ => "other",
    }
}

/// Middleware: counts and times every request by its route pattern.
pub async fn track(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let metrics = req.app_data::<web::Data<Metrics>>().cloned();
    let method = method_label(req.method());
    let start = Instant::now();
    let res = next.call(req).await?;
    if let Some(m) = metrics {
        let route = res
            .request()
            .match_pattern()
            .unwrap_or_else(|| "unmatched".to_owned());
        m.http_requests
            .with_label_values(&[route.as_str(), method, res.status().as_str()])
            .inc();
        m.http_duration
            .with_label_values(&[route.as_str(), method])
            .observe(start.elapsed().as_secs_f64());
    }
    Ok(res)
}
