//! The app factory every service starts from: health, metrics, extractor error handlers, the
//! JSON 404, and the middleware stack (request context → metrics → error normalisation).

use crate::health::Readiness;
use crate::http::{self, normalize_errors};
use crate::metrics::{self, Metrics};
use crate::telemetry::request_context;
use actix_web::body::MessageBody;
use actix_web::dev::{ServiceFactory, ServiceRequest, ServiceResponse};
use actix_web::middleware::from_fn;
use actix_web::{App, Error, HttpServer, web};
use anyhow::Context;
use std::net::TcpListener;
use std::sync::Arc;

/// What every service's app shares.
#[derive(Clone)]
pub struct Common {
    pub metrics: Arc<Metrics>,
    pub readiness: Readiness,
}

/// An app with the common routes and middleware; the service adds its own routes.
pub fn base(
    common: Common,
) -> App<
    impl ServiceFactory<
        ServiceRequest,
        Config = (),
        Response = ServiceResponse<impl MessageBody>,
        Error = Error,
        InitError = (),
    >,
> {
    App::new()
        .app_data(web::Data::from(common.metrics))
        .app_data(web::Data::new(common.readiness))
        .configure(http::configure_extractors)
        .configure(|cfg| crate::openapi::common().configure(cfg))
        .default_service(web::to(http::not_found))
        .wrap(from_fn(normalize_errors))
        .wrap(from_fn(metrics::track))
        .wrap(from_fn(request_context))
}

/// Binds `settings`' port and serves `base(common)` plus what `configure` registers (app data
/// and routes) on every worker. Returns the bound port and the running server.
pub fn serve<F>(
    settings: &crate::config::HttpSettings,
    common: Common,
    configure: F,
) -> anyhow::Result<(u16, actix_web::dev::Server)>
where
    F: Fn(&mut web::ServiceConfig) + Clone + Send + 'static,
{
    let (listener, port) = bind(settings).context("binding the HTTP port")?;
    let mut server = HttpServer::new(move || base(common.clone()).configure(configure.clone()))
        .shutdown_timeout(settings.shutdown_timeout_secs)
        .listen(listener)?;
    if let Some(n) = settings.workers {
        server = server.workers(n);
    }
    Ok((port, server.run()))
}

/// Binds the listener for `settings` (port 0 picks a free port).
pub fn bind(settings: &crate::config::HttpSettings) -> std::io::Result<(TcpListener, u16)> {
    let listener = TcpListener::bind((settings.host.as_str(), settings.port))?;
    let port = listener.local_addr()?.port();
    Ok((listener, port))
}
