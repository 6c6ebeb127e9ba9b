//! `/health/live` (the process runs) and `/health/ready`: 200 when the service can serve,
//! 503 naming the failing dependencies when it cannot. A dependency listed in
//! [`Readiness::degradable`] is one the service keeps serving without (the outbox holds
//! events while RabbitMQ is away, search falls back to PostgreSQL without Redis): its loss
//! answers 200 `{"status": "degraded", "degraded": [...]}`, so an orchestrator does not take
//! every replica out of service for an outage the design absorbs. A Redis Cluster with one
//! shard failing over ([`RedisHealth::Partial`]) is `degraded` for every service: the
//! other shards serve, the shard returns when its replica is promoted, and every replica of
//! the service shares the same cluster, so taking them out of service would turn a few
//! seconds of refusal on some keys into an outage of all of them.

use crate::amqp::Broker;
use crate::cache::{RedisHealth, RedisPool};
use crate::db::PgPool;
use crate::error::{ApiError, Code};
use actix_web::{HttpResponse, ResponseError, web};
use serde_json::json;
use std::time::Duration;

const CHECK_TIMEOUT: Duration = Duration::from_secs(1);

/// The dependencies a service needs to serve traffic.
#[derive(Clone, Default)]
pub struct Readiness {
    pub postgres: Option<PgPool>,
    pub redis: Option<RedisPool>,
    pub broker: Option<Broker>,
    /// Dependencies (`postgres`, `redis`, `rabbitmq`) whose loss degrades the service
    /// without making it unready.
    pub degradable: Vec<&'static str>,
}

/// What [`Readiness::check`] found.
#[derive(Debug, Default)]
pub struct Checked {
    /// Dependencies that do not answer.
    pub failing: Vec<&'static str>,
    /// Dependencies that answer in part (a Redis Cluster shard failing over).
    pub partial: Vec<&'static str>,
}

impl Readiness {
    /// Which dependencies do not answer now, and which answer only in part.
    pub async fn check(&self) -> Checked {
        let (pg, redis) = tokio::join!(
            async {
                match &self.postgres {
                    Some(pool) => {
                        bounded(async {
                            let client = pool.get().await.ok()?;
                            client.simple_query("SELECT 1").await.ok().map(|_| ())
                        })
                        .await
                    }
                    None => true,
                }
            },
            async {
                match &self.redis {
                    Some(pool) => pool.health(CHECK_TIMEOUT).await,
                    None => RedisHealth::Up,
                }
            },
        );
        let broker = self.broker.as_ref().is_none_or(Broker::is_connected);
        let redis_up = redis != RedisHealth::Down;
        Checked {
            failing: [("postgres", pg), ("redis", redis_up), ("rabbitmq", broker)]
                .into_iter()
                .filter_map(|(name, ok)| (!ok).then_some(name))
                .collect(),
            partial: (redis == RedisHealth::Partial)
                .then_some("redis")
                .into_iter()
                .collect(),
        }
    }
}

async fn bounded(check: impl Future<Output = Option<()>>) -> bool {
    matches!(
        tokio::time::timeout(CHECK_TIMEOUT, check).await,
        Ok(Some(()))
    )
}

pub async fn live() -> HttpResponse {
    HttpResponse::Ok().json(json!({ "status": "live" }))
}

pub async fn ready(readiness: web::Data<Readiness>) -> HttpResponse {
    let Checked { failing, partial } = readiness.check().await;
    if failing.is_empty() && partial.is_empty() {
        return HttpResponse::Ok().json(json!({ "status": "ok" }));
    }
    if failing.iter().all(|d| readiness.degradable.contains(d)) {
        let degraded: Vec<_> = failing.iter().chain(&partial).collect();
        return HttpResponse::Ok().json(json!({ "status": "degraded", "degraded": degraded }));
    }
    ApiError::new(
        Code::Unavailable,
        format!("not ready: {} unreachable", failing.join(", ")),
    )
    .with_details(json!({ "failing": failing }))
    .error_response()
}
