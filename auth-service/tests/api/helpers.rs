use auth_service::settings::Settings;
use auth_service::startup;
use reqwest::{Response, StatusCode};
use serde_json::{Value, json};
use servicekit::testing::{self, Listener, TestEnv};

pub struct TestApp {
    pub address: String,
    pub client: reqwest::Client,
    pub env: TestEnv,
    pub settings: Settings,
}

/// Starts auth-service on a free port with its own database, key prefix and exchange.
pub async fn spawn_app() -> TestApp {
    spawn_app_with(|_| {}).await
}

/// Like [`spawn_app`] with changed settings; returns once `/health/ready` answers 200.
pub async fn spawn_app_with(configure: impl FnOnce(&mut Settings)) -> TestApp {
    let app = spawn_unready_app_with(configure).await;
    testing::wait_ready(&app.client, &app.address).await;
    app
}

/// Starts the app without waiting for its dependencies (for tests of broken ones).
pub async fn spawn_unready_app_with(configure: impl FnOnce(&mut Settings)) -> TestApp {
    let env = TestEnv::new("auth").await.expect("test environment");
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
    let app = startup::build(settings.clone())
        .await
        .expect("application builds");
    let address = format!("http://127.0.0.1:{}", app.port());
    tokio::spawn(app.run_until_stopped());
    TestApp {
        address,
        client: reqwest::Client::new(),
        env,
        settings,
    }
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

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.address, path)
    }

    pub async fn post(&self, path: &str, body: &Value) -> Response {
        self.client
            .post(self.url(path))
            .json(body)
            .send()
            .await
            .expect("request")
    }

    pub async fn get_with_token(&self, path: &str, token: &str) -> Response {
        self.client
            .get(self.url(path))
            .bearer_auth(token)
            .send()
            .await
            .expect("request")
    }

    pub async fn register(&self) -> Registered {
        let (email, phone) = (unique_email(), unique_phone());
        let password = "correct horse battery".to_owned();
        let res = self
            .post(
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

    /// Logs in and returns the `Tokens` body.
    pub async fn login(&self, login: &str, password: &str) -> Value {
        let res = self
            .post(
                "/api/auth/login",
                &json!({"login": login, "password": password}),
            )
            .await;
        assert_eq!(res.status(), StatusCode::OK);
        res.json().await.expect("json")
    }

    pub async fn db(&self) -> tokio_postgres::Client {
        use secrecy::ExposeSecret;
        let (client, conn) = tokio_postgres::connect(
            self.settings.database.url.expose_secret(),
            tokio_postgres::NoTls,
        )
        .await
        .expect("connect to the test database");
        tokio::spawn(conn);
        client
    }

    /// A queue bound to this test's exchange for `routing_key`, consumed from here.
    pub async fn listen(&self, routing_key: &str) -> Listener {
        Listener::bind(&self.env.amqp.exchange, routing_key)
            .await
            .unwrap()
    }
}

pub use servicekit::testing::assert_error;
