//! A service started in-process for one test, the way `main` starts it, and what a test
//! does with it.
//!
//! Every service's tests and the end-to-end tests start services the same way: make the
//! settings from a [`TestEnv`], then
//! `TestApp::spawn(env, startup::build(settings))`. A service's own extras (a fake
//! gateway, a recording channel, seeded data) stay in its `tests/api/helpers.rs`, usually
//! as a struct that derefs to the [`TestApp`].

use super::broker::{self, Listener};
use super::env::TestEnv;
use super::http::{scrape, wait_ready};
use super::metrics;
use crate::amqp::Envelope;
use crate::service::{Application, StopHandle, Tasks};
use reqwest::{Method, RequestBuilder, Response, StatusCode};
use serde::Serialize;
use serde_json::Value;
use std::future::Future;
use std::sync::{Arc, Mutex};
use tokio::task::JoinHandle;

/// A running service: its [`Application`] served on a free port until the test ends or
/// [`TestApp::stop`], the stores it runs on and a client.
pub struct TestApp {
    /// `http://127.0.0.1:<port>`.
    pub address: String,
    pub client: reqwest::Client,
    /// The test's stores; shared by replicas started on the same env.
    pub env: Arc<TestEnv>,
    stop: StopHandle,
    tasks: Tasks,
    /// The task serving the application; taken by [`TestApp::stop`].
    running: Mutex<Option<JoinHandle<std::io::Result<()>>>>,
}

/// A test's service goes away with its test: its tasks are told to stop before its env
/// (when this holds the last reference) deletes the test's queues. A consumer still running
/// on a multi-threaded test runtime would otherwise see its queue deleted, subscribe again
/// and declare it anew, and the broker would keep it after the test.
impl Drop for TestApp {
    fn drop(&mut self) {
        self.tasks.cancel();
    }
}

impl TestApp {
    /// Starts the application `app` builds (a service's `startup::build` on settings made
    /// from `env`) and returns once its `/health/ready` says every dependency answers and
    /// every consumer queue the env tracks has its consumer (so events published next reach
    /// it).
    pub async fn spawn(
        env: impl Into<Arc<TestEnv>>,
        app: impl Future<Output = anyhow::Result<Application>>,
    ) -> Self {
        let app = Self::spawn_unready(env, app).await;
        wait_ready(&app.client, &app.address).await;
        app.wait_for_consumers().await;
        app
    }

    /// Like [`TestApp::spawn`] without waiting for the dependencies (tests of broken ones).
    pub async fn spawn_unready(
        env: impl Into<Arc<TestEnv>>,
        app: impl Future<Output = anyhow::Result<Application>>,
    ) -> Self {
        let app = match app.await {
            Ok(app) => app,
            Err(e) => panic!("the application does not build: {e:#}"),
        };
        let address = format!("http://127.0.0.1:{}", app.port());
        let (stop, tasks) = (app.stop_handle(), app.tasks());
        Self {
            address,
            client: reqwest::Client::new(),
            env: env.into(),
            stop,
            tasks,
            running: Mutex::new(Some(tokio::spawn(app.run_until_stopped()))),
        }
    }

    /// Stops the service as SIGTERM would (in-flight requests finish, then every background
    /// task) and waits until it has; what `run_until_stopped` returned. Afterwards
    /// [`TestApp::tasks`] has none running.
    pub async fn stop(&self) -> std::io::Result<()> {
        let running = self.running.lock().ok().and_then(|mut r| r.take());
        let Some(running) = running else {
            return Ok(());
        };
        self.stop.stop().await;
        match running.await {
            Ok(served) => served,
            Err(e) => panic!("the service's task failed: {e}"),
        }
    }

    /// The service's background tasks.
    pub fn tasks(&self) -> &Tasks {
        &self.tasks
    }

    /// Stops the service and asserts what a stop promises: it ended cleanly, every
    /// background task was joined, and the port is closed.
    pub async fn assert_stops_gracefully(&self) {
        if let Err(e) = self.stop().await {
            panic!("the service did not stop cleanly: {e}");
        }
        assert_eq!(self.tasks.running(), 0, "background tasks left running");
        let live = self.client.get(self.url("/health/live")).send().await;
        assert!(live.is_err(), "the port still answers: {live:?}");
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.address)
    }

    /// A request to `path`, to add headers or a body to.
    pub fn request(&self, method: Method, path: &str) -> RequestBuilder {
        self.client.request(method, self.url(path))
    }

    pub async fn get(&self, path: &str) -> Response {
        self.requests(None).get(path).await
    }

    /// `GET path`, asserting 200; the JSON body.
    pub async fn get_json(&self, path: &str) -> Value {
        self.requests(None).get_json(path).await
    }

    pub async fn post_json(&self, path: &str, body: &impl Serialize) -> Response {
        self.requests(None).post_json(path, body).await
    }

    pub async fn delete(&self, path: &str) -> Response {
        self.requests(None).delete(path).await
    }

    /// The same requests with `Authorization: Bearer <token>`.
    pub fn with_token<'a>(&'a self, token: &'a str) -> Requests<'a> {
        self.requests(Some(token))
    }

    fn requests<'a>(&'a self, token: Option<&'a str>) -> Requests<'a> {
        Requests { app: self, token }
    }

    /// A connection to the service's database.
    pub async fn db(&self) -> tokio_postgres::Client {
        match crate::db::connect(&self.env.database).await {
            Ok(client) => client,
            Err(e) => panic!("connecting to the test database: {e:#}"),
        }
    }

    /// A connection to the test's Redis (the service's keys are under
    /// `env.redis.key_prefix`).
    pub async fn redis(&self) -> redis::aio::MultiplexedConnection {
        use secrecy::ExposeSecret;
        let connection = match redis::Client::open(self.env.redis.url.expose_secret()) {
            Ok(client) => client.get_multiplexed_async_connection().await,
            Err(e) => Err(e),
        };
        match connection {
            Ok(connection) => connection,
            Err(e) => panic!("connecting to the test Redis: {e}"),
        }
    }

    /// Publishes an event of type `kind` to the test's exchange, as another service would.
    pub async fn publish(&self, kind: &str, payload: &impl Serialize) -> Envelope {
        let event = match Envelope::new(kind, payload) {
            Ok(event) => event,
            Err(e) => panic!("{kind} payload: {e}"),
        };
        self.publish_envelope(&event).await;
        event
    }

    /// Publishes `event` (again: a duplicate delivery).
    pub async fn publish_envelope(&self, event: &Envelope) {
        if let Err(e) = broker::publish(&self.env.amqp.exchange, event).await {
            panic!("publishing {}: {e:#}", event.kind);
        }
    }

    /// Publishes `body` as it is (not an event envelope) under `routing_key`.
    pub async fn publish_raw(&self, routing_key: &str, body: &[u8]) {
        if let Err(e) = broker::publish_raw(&self.env.amqp.exchange, routing_key, body).await {
            panic!("publishing to {routing_key}: {e:#}");
        }
    }

    /// A queue of the test's own bound to the test's exchange for `routing_key`.
    pub async fn listen(&self, routing_key: &str) -> Listener {
        match Listener::bind(&self.env.amqp.exchange, routing_key).await {
            Ok(listener) => listener,
            Err(e) => panic!("listening to {routing_key}: {e:#}"),
        }
    }

    /// The full name of the service's queue `name`.
    pub fn queue(&self, name: &str) -> String {
        self.env.queue(name)
    }

    /// Messages waiting in `queue` (a full name; 0 when it does not exist).
    pub async fn queue_depth(&self, queue: &str) -> u32 {
        match broker::queue_depth(queue).await {
            Ok(depth) => depth,
            Err(e) => panic!("the depth of {queue}: {e:#}"),
        }
    }

    /// Waits until the service's consumers have declared their queues (those its env
    /// tracks, [`TestEnv::track_consumer_queues`]), so that events published from now on
    /// reach them.
    pub async fn wait_for_consumers(&self) {
        for queue in self.env.consumer_queues() {
            if let Err(e) = broker::wait_for_queue(&queue).await {
                panic!("{e:#}");
            }
        }
    }

    /// The service's `/metrics` text.
    pub async fn metrics(&self) -> String {
        scrape(&self.client, &self.address).await
    }

    /// The current value of the series `name` (as `/metrics` names it, `railrush_…`) with
    /// exactly the labels `labels` besides `service`; 0 when the series is absent.
    pub async fn metric(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        metrics::value(&self.metrics().await, name, labels)
    }
}

/// Requests to a [`TestApp`], with a bearer token when [`TestApp::with_token`] made them.
pub struct Requests<'a> {
    app: &'a TestApp,
    token: Option<&'a str>,
}

impl Requests<'_> {
    /// A request to `path`, to add headers or a body to.
    pub fn request(&self, method: Method, path: &str) -> RequestBuilder {
        let request = self.app.request(method, path);
        match self.token {
            Some(token) => request.bearer_auth(token),
            None => request,
        }
    }

    pub async fn get(&self, path: &str) -> Response {
        send(self.request(Method::GET, path)).await
    }

    /// `GET path`, asserting 200; the JSON body.
    pub async fn get_json(&self, path: &str) -> Value {
        let res = self.get(path).await;
        let status = res.status();
        let body = res.text().await.unwrap_or_default();
        assert_eq!(status, StatusCode::OK, "GET {path}: {body}");
        match serde_json::from_str(&body) {
            Ok(json) => json,
            Err(e) => panic!("GET {path}: not JSON ({e}): {body}"),
        }
    }

    pub async fn post_json(&self, path: &str, body: &impl Serialize) -> Response {
        send(self.request(Method::POST, path).json(body)).await
    }

    pub async fn delete(&self, path: &str) -> Response {
        send(self.request(Method::DELETE, path)).await
    }
}

async fn send(request: RequestBuilder) -> Response {
    match request.send().await {
        Ok(res) => res,
        Err(e) => panic!("request failed: {e}"),
    }
}
