use auth_service::settings::Settings;
use auth_service::startup;
use reqwest::StatusCode;
use serde_json::{Value, json};
use servicekit::testing::{self, TestEnv};

pub use servicekit::testing::{TestApp, assert_error};

/// Starts auth-service on a free port with its own database, key prefix and exchange;
/// returns once it is ready.
pub async fn spawn_app() -> TestApp {
    spawn_app_with(|_| {}).await
}

/// Like [`spawn_app`] with changed settings.
pub async fn spawn_app_with(configure: impl FnOnce(&mut Settings)) -> TestApp {
    let (env, settings) = test_settings(configure).await;
    TestApp::spawn(env, startup::build(settings)).await
}

/// Starts the app without waiting for its dependencies (for tests of broken ones).
pub async fn spawn_unready_app_with(configure: impl FnOnce(&mut Settings)) -> TestApp {
    let (env, settings) = test_settings(configure).await;
    TestApp::spawn_unready(env, startup::build(settings)).await
}

async fn test_settings(configure: impl FnOnce(&mut Settings)) -> (TestEnv, Settings) {
    let env = TestEnv::new("auth").await.expect("test environment");
    // notification-service's queue for codes: otp.requested is published `mandatory` while
    // the request waits, and a code nobody would deliver is refused (503).
    env.stand_in_queue("notification.otp", &[servicekit::events::OTP_REQUESTED])
        .await
        .expect("the stand-in otp queue");
    let mut settings = Settings {
        database: env.database.clone(),
        redis: env.redis.clone(),
        amqp: env.amqp.clone(),
        jwt: testing::jwt_settings(true).expect("test keys"),
        ..Settings::default()
    };
    settings.http.port = 0;
    settings.http.workers = Some(2);
    settings.otp.dev_echo = true;
    configure(&mut settings);
    (env, settings)
}

pub fn unique_phone() -> String {
    let n = uuid::Uuid::new_v4().as_u128() % 100_000_000;
    format!("+88017{n:08}")
}

pub fn unique_email() -> String {
    format!("{}@example.com", uuid::Uuid::new_v4().simple())
}

pub struct Registered {
    pub email: String,
    pub phone: String,
    pub password: String,
    pub id: String,
}

/// auth-service's own steps.
pub trait Accounts {
    /// Registers a new user, asserting 201.
    async fn register(&self) -> Registered;
    /// Logs in, asserting 200; the `Tokens` body.
    async fn login(&self, login: &str, password: &str) -> Value;
}

impl Accounts for TestApp {
    async fn register(&self) -> Registered {
        let (email, phone) = (unique_email(), unique_phone());
        let password = "correct horse battery".to_owned();
        let res = self
            .post_json(
                "/api/auth/register",
                &json!({"name": "Rahim Uddin", "email": email, "phone": phone, "password": password}),
            )
            .await;
        assert_eq!(res.status(), StatusCode::CREATED);
        let body: Value = res.json().await.expect("json");
        Registered {
            id: body["user"]["id"].as_str().expect("id").to_owned(),
            email,
            phone,
            password,
        }
    }

    async fn login(&self, login: &str, password: &str) -> Value {
        let res = self
            .post_json(
                "/api/auth/login",
                &json!({"login": login, "password": password}),
            )
            .await;
        assert_eq!(res.status(), StatusCode::OK);
        res.json().await.expect("json")
    }
}

/// The claims of an access token (its signature is the verifier's business).
pub fn claims(token: &str) -> Value {
    use base64::Engine;
    let payload = token.split('.').nth(1).expect("a JWT");
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .expect("base64url");
    serde_json::from_slice(&bytes).expect("json claims")
}

/// The roles an access token grants, as every service reads them.
pub fn token_roles(token: &str) -> servicekit::auth::Roles {
    let settings = testing::jwt_settings(false).expect("test keys");
    let verifier = servicekit::auth::JwtVerifier::from_settings(&settings).expect("verifier");
    verifier.authenticate(token).expect("a valid token").roles
}

/// A pool on the app's database, for the library functions of the commands.
pub fn pool(app: &TestApp) -> servicekit::db::PgPool {
    servicekit::db::pool(&app.env.database).expect("a pool")
}
