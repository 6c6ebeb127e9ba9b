//! `/health/live` and `/health/ready` of a kernel-built service: ready when every store it
//! asked for answers, 503 naming each one that does not, 200 `degraded` when only
//! dependencies it declared degradable are missing; and `/metrics` with the pool gauges.

use crate::support::{self, Running, eventually, migrations};
use reqwest::StatusCode;
use serde_json::{Value, json};
use servicekit::config::{AmqpSettings, RedisSettings};
use servicekit::service::Kernel;
use servicekit::testing::{self, TestEnv, servers::free_port};

/// A service using the test's database, `redis` and `amqp`, with `degradable` declared.
async fn start(
    env: &TestEnv,
    redis: &RedisSettings,
    amqp: &AmqpSettings,
    degradable: &[&'static str],
) -> Running {
    let mut kernel = Kernel::new(support::SERVICE, &support::http()).unwrap();
    kernel.postgres(&env.database, migrations()).await.unwrap();
    kernel.redis(redis).unwrap();
    kernel.broker(amqp);
    kernel.degradable(degradable);
    Running::start(kernel.serve(|_| {}).unwrap())
}

fn unreachable_redis(env: &TestEnv) -> RedisSettings {
    RedisSettings {
        url: format!("redis://127.0.0.1:{}", free_port().unwrap()).into(),
        ..env.redis.clone()
    }
}

fn unreachable_broker(env: &TestEnv) -> AmqpSettings {
    AmqpSettings {
        url: format!("amqp://guest:guest@127.0.0.1:{}/%2f", free_port().unwrap()).into(),
        ..env.amqp.clone()
    }
}

impl Running {
    async fn readiness(&self) -> (StatusCode, Value) {
        let res = self.get("/health/ready").await;
        let status = res.status();
        (status, res.json().await.unwrap())
    }

    /// Waits until readiness reports exactly the `failing` dependencies (the broker
    /// connects in the background), then returns its answer.
    async fn readiness_failing(&self, failing: &[&str]) -> (StatusCode, Value) {
        let wanted = json!(failing);
        eventually(&format!("readiness to report {wanted}"), || async {
            let (_, body) = self.readiness().await;
            body["error"]["details"]["failing"] == wanted || body["degraded"] == wanted
        })
        .await;
        self.readiness().await
    }

    async fn assert_live(&self) {
        let res = self.get("/health/live").await;
        assert_eq!(res.status(), StatusCode::OK);
        assert_eq!(
            res.json::<Value>().await.unwrap(),
            json!({"status": "live"})
        );
    }
}

#[tokio::test]
async fn readiness_answers_200_ready_when_every_store_answers() {
    let env = TestEnv::new("kernel").await.unwrap();
    let app = start(&env, &env.redis, &env.amqp, &[]).await;
    app.assert_live().await;
    testing::wait_ready(&app.client, &app.address).await;
    assert_eq!(
        app.readiness().await,
        (StatusCode::OK, json!({"status": "ok"}))
    );
    app.stop().await;
}

#[tokio::test]
async fn readiness_answers_503_naming_the_store_that_does_not_answer() {
    let env = TestEnv::new("kernel").await.unwrap();
    let app = start(&env, &unreachable_redis(&env), &env.amqp, &[]).await;
    let (status, body) = app.readiness_failing(&["redis"]).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert_eq!(body["error"]["code"], "unavailable", "{body}");
    let message = body["error"]["message"].as_str().unwrap();
    assert!(message.contains("redis"), "{message}");
    app.assert_live().await;
    app.stop().await;
}

#[tokio::test]
async fn readiness_names_every_store_that_does_not_answer() {
    let env = TestEnv::new("kernel").await.unwrap();
    let app = start(
        &env,
        &unreachable_redis(&env),
        &unreachable_broker(&env),
        &[],
    )
    .await;
    let (status, body) = app.readiness_failing(&["redis", "rabbitmq"]).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    app.assert_live().await;
    app.stop().await;
}

#[tokio::test]
async fn a_database_that_goes_away_makes_the_service_unready() {
    let env = TestEnv::new("kernel").await.unwrap();
    let app = start(&env, &env.redis, &env.amqp, &[]).await;
    testing::wait_ready(&app.client, &app.address).await;
    env.drop_database().await.unwrap();
    let (status, body) = app.readiness_failing(&["postgres"]).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert_eq!(body["error"]["code"], "unavailable", "{body}");
    app.assert_live().await;
    app.stop().await;
}

#[tokio::test]
async fn a_degradable_store_that_does_not_answer_leaves_the_service_ready_but_degraded() {
    let env = TestEnv::new("kernel").await.unwrap();
    let app = start(&env, &unreachable_redis(&env), &env.amqp, &["redis"]).await;
    let (status, body) = app.readiness_failing(&["redis"]).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body, json!({"status": "degraded", "degraded": ["redis"]}));
    app.stop().await;
}

#[tokio::test]
async fn a_degradable_store_does_not_excuse_another_that_fails_with_it() {
    let env = TestEnv::new("kernel").await.unwrap();
    let app = start(
        &env,
        &unreachable_redis(&env),
        &unreachable_broker(&env),
        &["rabbitmq"],
    )
    .await;
    let (status, body) = app.readiness_failing(&["redis", "rabbitmq"]).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert_eq!(body["error"]["code"], "unavailable", "{body}");
    app.stop().await;
}

#[tokio::test]
async fn metrics_expose_the_pool_gauges_of_every_store() {
    let env = TestEnv::new("kernel").await.unwrap();
    let app = start(&env, &env.redis, &env.amqp, &[]).await;
    testing::wait_ready(&app.client, &app.address).await;
    let res = app.get("/metrics").await;
    assert_eq!(res.status(), StatusCode::OK);
    let text = res.text().await.unwrap();
    for pool in ["postgres", "redis"] {
        for state in ["in_use", "idle", "waiting"] {
            let series = format!("pool=\"{pool}\"");
            assert!(
                text.lines()
                    .any(|l| l.starts_with("railrush_pool_connections{")
                        && l.contains(&series)
                        && l.contains(&format!("state=\"{state}\""))),
                "no {pool} {state} gauge in\n{text}"
            );
        }
    }
    // Readiness just used a connection of each pool: it is idle now.
    assert!(
        support::metric_in(
            &text,
            "pool_connections",
            &[("pool", "postgres"), ("state", "idle")]
        ) >= 1.0
    );
    app.stop().await;
}
