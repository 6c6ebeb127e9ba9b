//! `/health/live` (the process runs) and `/health/ready`: 200 when the service can serve,
//! 503 naming the failing dependencies when it cannot. A dependency listed in
//! [`Readiness::degradable`] is one the service keeps serving without (the outbox holds
//! events while RabbitMQ is away, search falls back to PostgreSQL without Redis): its loss
//! answers 200 `{"status": "degraded", "degraded": [...]}`, so an orchestrator does not take
//! every replica out of service for an outage the design absorbs.

use crate::amqp::Broker;
use crate::cache::RedisPool;
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

impl Readiness {
    /// The names of the dependencies that do not answer now.
    pub async fn failing(&self) -> Vec<&'static str> {
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
                    Some(pool) => {
                        bounded(async {
                            let mut conn = pool.get().await.ok()?;
                            redis::cmd("PING")
                                .query_async::<String>(&mut conn)
                                .await
                                .ok()
                                .map(|_| ())
                        })
                        .await
                    }
                    None => true,
                }
            },
        );
        let broker = self.broker.as_ref().is_none_or(Broker::is_connected);
        [("postgres", pg), ("redis", redis), ("rabbitmq", broker)]
            .into_iter()
            .filter_map(|(name, ok)| (!ok).then_some(name))
            .collect()
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
    let failing = readiness.failing().await;
    if failing.is_empty() {
        return HttpResponse::Ok().json(json!({ "status": "ready" }));
    }
    if failing.iter().all(|d| readiness.degradable.contains(d)) {
        return HttpResponse::Ok().json(json!({ "status": "degraded", "degraded": failing }));
    }
    ApiError::new(
        Code::Unavailable,
        format!("not ready: {} unreachable", failing.join(", ")),
    )
    .with_details(json!({ "failing": failing }))
    .error_response()
}
