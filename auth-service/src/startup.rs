//! Assembles auth-service on the service kernel: `main` and the tests both start it
//! through [`build`].

use crate::metrics::AuthMetrics;
use crate::nid::{self, NidKey};
use crate::otp::OtpStore;
use crate::password::Hasher;
use crate::settings::Settings;
use crate::state::AuthState;
use crate::throttle::LoginThrottle;
use actix_web::web;
use servicekit::auth::{JwtIssuer, Revocations};
use servicekit::cache::Keys;
pub use servicekit::service::Application;
use servicekit::service::Kernel;
use std::time::Duration;

servicekit::migrations!("migrations");

pub async fn build(settings: Settings) -> anyhow::Result<Application> {
    let mut kernel = Kernel::new("auth-service", &settings.http)?;
    let pg = kernel.postgres(&settings.database, migrations()).await?;
    kernel.retention(&pg, &settings.retention).await?;
    let redis = kernel.redis(&settings.redis)?;
    let broker = kernel.broker(&settings.amqp);
    // Registration goes through the outbox; only OTP requests need the broker.
    kernel.degradable(&["rabbitmq"]);
    kernel.verify_tokens(&settings.jwt)?;
    kernel.idempotency(&pg);
    let metrics = AuthMetrics::register(kernel.metrics().registry())?;
    let keys = Keys::new(settings.redis.key_prefix.clone());
    let login = &settings.login;
    let hash_wait = Duration::from_millis(login.hash_wait_ms);
    let state = web::Data::new(AuthState {
        db: pg.clone(),
        hasher: Hasher::new(login.max_concurrent_hashes, hash_wait, metrics.clone())?,
        issuer: JwtIssuer::from_settings(&settings.jwt)?,
        revocations: Revocations::from_settings(redis.clone(), &settings.jwt, &settings.redis),
        otp: OtpStore::new(redis.clone(), keys.clone(), settings.otp.clone())?,
        throttle: LoginThrottle::new(redis, keys, login.clone()),
        nid_verifier: nid::verifier_from_settings(&settings.nid)?,
        nid_key: NidKey::from_settings(&settings.nid)?,
        broker,
        outbox: kernel.outbox(&pg)?,
        otp_dev_echo: settings.otp.dev_echo,
        refresh_ttl_days: settings.refresh_ttl_days,
        metrics,
    });
    kernel.api(crate::routes::api());
    kernel.serve(move |cfg| {
        cfg.app_data(state.clone());
    })
}
