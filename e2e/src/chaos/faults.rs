//! The faults a chaos run injects, each undone by the harness before the next: a service
//! killed (SIGKILL, then started again), a service paused past a hold's lifetime (SIGSTOP,
//! then SIGCONT), PostgreSQL restarted (immediate shutdown), Redis restarted empty, RabbitMQ
//! restarted, one service's broker link cut (its proxy), every database backend terminated.

use super::platform::{Platform, SERVICES};
use rand::Rng;
use rand::rngs::StdRng;
use rand::seq::IndexedRandom;
use std::time::Duration;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    KillService,
    PauseService,
    RestartPostgres,
    RestartRedis,
    RestartRabbitMq,
    CutBrokerLink,
    TerminateBackends,
}

impl Kind {
    pub const ALL: [Kind; 7] = [
        Kind::KillService,
        Kind::PauseService,
        Kind::RestartPostgres,
        Kind::RestartRedis,
        Kind::RestartRabbitMq,
        Kind::CutBrokerLink,
        Kind::TerminateBackends,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Kind::KillService => "kill a service (SIGKILL, restart)",
            Kind::PauseService => "pause a service past a hold (SIGSTOP, SIGCONT)",
            Kind::RestartPostgres => "restart PostgreSQL (immediate)",
            Kind::RestartRedis => "restart Redis empty",
            Kind::RestartRabbitMq => "restart RabbitMQ",
            Kind::CutBrokerLink => "cut a service's broker link",
            Kind::TerminateBackends => "terminate every database backend",
        }
    }
}

/// A fault chosen for a moment: its kind and, for those aimed at one, the service.
#[derive(Clone, Debug)]
pub struct Fault {
    pub kind: Kind,
    pub service: Option<&'static str>,
}

impl Fault {
    pub fn pick(kind: Kind, rng: &mut StdRng) -> Self {
        let service = matches!(
            kind,
            Kind::KillService | Kind::PauseService | Kind::CutBrokerLink
        )
        .then(|| SERVICES.choose(rng).map(|s| s.name))
        .flatten();
        Self { kind, service }
    }

    pub fn describe(&self) -> String {
        match self.service {
            Some(s) => format!("{} [{s}]", self.kind.name()),
            None => self.kind.name().to_owned(),
        }
    }

    /// Injects the fault and undoes it; returns when the platform is whole again.
    pub async fn inject(&self, platform: &mut Platform, rng: &mut StdRng) -> anyhow::Result<()> {
        let service = self.service.unwrap_or("booking-service");
        match self.kind {
            Kind::KillService => {
                let client = platform.client.clone();
                let process = platform.service(service)?;
                process.kill()?;
                tokio::time::sleep(Duration::from_millis(rng.random_range(200..2000))).await;
                process.restart(&client).await?;
            }
            Kind::PauseService => {
                let hold = platform.timings.hold_ttl + Duration::from_secs(2);
                let process = platform.service(service)?;
                process.pause()?;
                tokio::time::sleep(hold).await;
                process.resume()?;
            }
            Kind::RestartPostgres => {
                tokio::task::block_in_place(|| platform.postgres.restart())?;
            }
            Kind::RestartRedis => {
                tokio::task::block_in_place(|| platform.redis.restart())?;
            }
            Kind::RestartRabbitMq => {
                tokio::task::block_in_place(|| platform.rabbitmq.restart())?;
            }
            Kind::CutBrokerLink => {
                let process = platform.service(service)?;
                process.broker_link.cut();
                tokio::time::sleep(Duration::from_millis(rng.random_range(2000..6000))).await;
                process.broker_link.restore();
            }
            Kind::TerminateBackends => {
                let admin = servicekit::db::connect(&super::platform::db_settings(
                    &platform.postgres.url("postgres"),
                ))
                .await?;
                admin
                    .execute(
                        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
                         WHERE pid <> pg_backend_pid() AND backend_type = 'client backend'",
                        &[],
                    )
                    .await?;
            }
        }
        Ok(())
    }
}
