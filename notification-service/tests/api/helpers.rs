use notification_service::consumers;
use notification_service::settings::Settings;
use notification_service::startup;
use reqwest::StatusCode;
use serde_json::Value;
use servicekit::events::UserRegistered;
use servicekit::service::Application;
use servicekit::testing::{self, TestApp, TestEnv};
use std::future::Future;
use std::ops::Deref;
use std::sync::Arc;
use uuid::Uuid;

pub use crate::fixtures::*;
pub use crate::test_channel::TestChannel;
pub use servicekit::testing::{assert_error, eventually};

/// A running notification-service and the channel it delivers through.
pub struct NotificationApp {
    app: TestApp,
    pub settings: Settings,
    pub channel: Arc<TestChannel>,
}

impl Deref for NotificationApp {
    type Target = TestApp;

    fn deref(&self) -> &TestApp {
        &self.app
    }
}

pub async fn spawn_app() -> NotificationApp {
    spawn_app_with(TestChannel::reliable(), |_| {}).await
}

pub async fn spawn_app_with(
    channel: Arc<TestChannel>,
    configure: impl FnOnce(&mut Settings),
) -> NotificationApp {
    let (env, settings) = test_settings(configure).await;
    let app = startup::build_with_channel(settings.clone(), channel.clone());
    start(env, app, settings, channel).await
}

/// Starts the app as `main` does (configured channels), e.g. with an SMTP server.
pub async fn spawn_configured_app(configure: impl FnOnce(&mut Settings)) -> NotificationApp {
    let (env, settings) = test_settings(configure).await;
    let app = startup::build(settings.clone());
    start(env, app, settings, TestChannel::reliable()).await
}

async fn test_settings(configure: impl FnOnce(&mut Settings)) -> (TestEnv, Settings) {
    let env = TestEnv::new("notification")
        .await
        .expect("test environment");
    let mut settings = Settings {
        database: env.database.clone(),
        amqp: env.amqp.clone(),
        jwt: testing::jwt_settings(false).expect("test keys"),
        ..Settings::default()
    };
    settings.http.port = 0;
    settings.http.workers = Some(2);
    settings.delivery.parked_refresh_ms = 200;
    configure(&mut settings);
    env.track_consumer_queues(&consumers::QUEUES.map(|(name, _)| name));
    (env, settings)
}

async fn start(
    env: TestEnv,
    app: impl Future<Output = anyhow::Result<Application>>,
    settings: Settings,
    channel: Arc<TestChannel>,
) -> NotificationApp {
    let app = TestApp::spawn(env, app).await;
    // Events published before the consumers bound their queues would be lost.
    app.wait_for_consumers().await;
    NotificationApp {
        app,
        settings,
        channel,
    }
}

pub fn token_for(user: Uuid) -> String {
    testing::user_token(user).unwrap()
}

impl NotificationApp {
    /// `user`'s inbox (`GET /api/notifications`), asserting 200.
    pub async fn inbox(&self, user: Uuid) -> Vec<Value> {
        let res = self
            .with_token(&token_for(user))
            .get("/api/notifications")
            .await;
        assert_eq!(res.status(), StatusCode::OK);
        let body: Value = res.json().await.expect("json");
        body["notifications"]
            .as_array()
            .expect("notifications")
            .clone()
    }

    /// Waits until `user`'s inbox holds `n` entries and returns them.
    pub async fn wait_inbox(&self, user: Uuid, n: usize) -> Vec<Value> {
        eventually(&format!("{n} notifications"), || async {
            self.inbox(user).await.len() >= n
        })
        .await;
        let inbox = self.inbox(user).await;
        assert_eq!(inbox.len(), n, "{inbox:#?}");
        inbox
    }

    /// Events of the service's queue `queue` (its short name) handled with `outcome`.
    pub async fn events(&self, queue: &str, outcome: &str) -> f64 {
        let labels = [("queue", queue), ("outcome", outcome)];
        self.metric("railrush_notification_events_total", &labels)
            .await
    }

    pub async fn contact_known(&self, user: Uuid) -> bool {
        self.db()
            .await
            .query_opt("SELECT 1 FROM contacts WHERE user_id = $1", &[&user])
            .await
            .unwrap()
            .is_some()
    }
}

/// Publishes `user.registered` for a new user and waits until the contact is kept.
pub async fn registered_user(app: &NotificationApp) -> UserRegistered {
    let user = registered(Uuid::new_v4());
    app.publish(servicekit::events::USER_REGISTERED, &user)
        .await;
    eventually("the contact to be kept", || async {
        app.contact_known(user.user_id).await
    })
    .await;
    user
}
