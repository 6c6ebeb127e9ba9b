//! The one shared Redis Cluster connection, and its watchdog.
//!
//! redis-rs 1.8's cluster connection drives every request, reconnection and topology
//! refresh from one task. Under concurrent load while a primary is down (a refresh after
//! every failed request) a refresh begins and never ends (its log line "slot refresh
//! complete" never comes), and from then on every command of the connection times out, on
//! every shard, even after the replica's promotion. The likeliest cause, from the code: the
//! refresh waits for the connection map's lock inside that task without polling the
//! requests, and a request already granted the lock is not polled again to release it.
//! docs/architecture.md, "When Redis goes away", has the measurement. So the connection is
//! watched: a command with no answer after half the timeout, while no command has been
//! answered since it began, marks the connection wedged at once, and the next caller
//! connects afresh (a new connection learns the topology anew). A shard that is merely down
//! does not trigger it while the other shards answer; when every command stalls because
//! the whole cluster is unreachable, reconnecting fails fast and costs nothing.

use super::no_answer;
use redis::aio::ConnectionLike;
use redis::cluster::ClusterClient;
use redis::cluster_async::ClusterConnection;
use redis::cluster_routing::{RoutingInfo, SingleNodeRoutingInfo};
use redis::{Cmd, Pipeline, RedisFuture, RedisResult, Value};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

pub(super) struct SharedCluster {
    client: ClusterClient,
    timeout: Duration,
    current: Mutex<Option<(ClusterConnection, u64)>>,
    connecting: tokio::sync::Mutex<()>,
    generations: AtomicU64,
    epoch: Instant,
    /// When a command of any generation last got an answer, in ms since `epoch`.
    last_answer_ms: AtomicU64,
}

impl SharedCluster {
    pub(super) fn new(client: ClusterClient, timeout: Duration) -> Self {
        Self {
            client,
            timeout,
            current: Mutex::new(None),
            connecting: tokio::sync::Mutex::new(()),
            generations: AtomicU64::new(0),
            epoch: Instant::now(),
            last_answer_ms: AtomicU64::new(0),
        }
    }

    fn current(&self) -> Option<(ClusterConnection, u64)> {
        self.current
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    pub(super) fn is_open(&self) -> bool {
        self.current().is_some()
    }

    /// The current connection, connecting (one caller at a time) when there is none.
    pub(super) async fn connection(self: &Arc<Self>) -> RedisResult<WatchedCluster> {
        loop {
            if let Some((conn, generation)) = self.current() {
                return Ok(WatchedCluster {
                    conn,
                    shared: self.clone(),
                    generation,
                });
            }
            let _one = self.connecting.lock().await;
            if self.current().is_some() {
                continue;
            }
            let conn = tokio::time::timeout(self.timeout, self.client.get_async_connection())
                .await
                .map_err(|_| no_answer("connecting to the redis cluster", self.timeout))??;
            let generation = self.generations.fetch_add(1, Ordering::Relaxed) + 1;
            *self.current.lock().unwrap_or_else(PoisonError::into_inner) = Some((conn, generation));
        }
    }

    fn now_ms(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    fn stall_ms(&self) -> u64 {
        u64::try_from(self.timeout.as_millis() / 2).unwrap_or(u64::MAX)
    }

    fn answered(&self) {
        self.last_answer_ms
            .fetch_max(self.now_ms(), Ordering::Relaxed);
    }

    /// A command of `generation` begun at `started_ms` got no answer for a stall's length.
    fn stalled(&self, generation: u64, started_ms: u64) {
        if self.last_answer_ms.load(Ordering::Relaxed) >= started_ms {
            return; // others were answered meanwhile: a shard is down, not the connection
        }
        let mut current = self.current.lock().unwrap_or_else(PoisonError::into_inner);
        if current.as_ref().is_some_and(|(_, g)| *g == generation) {
            *current = None;
            tracing::warn!(
                generation,
                "the redis cluster connection answers nothing; connecting afresh"
            );
        }
    }
}

/// The shared cluster connection, watched (module docs). Use it like any connection; the
/// cluster's own routing is there too.
#[derive(Clone)]
pub struct WatchedCluster {
    conn: ClusterConnection,
    shared: Arc<SharedCluster>,
    generation: u64,
}

/// Runs `command`; if it has no answer after a stall's length, tells `shared` (which renews
/// the connection when nothing else was answered meanwhile) and goes on waiting.
async fn observe<T>(
    shared: Arc<SharedCluster>,
    generation: u64,
    command: impl Future<Output = RedisResult<T>>,
) -> RedisResult<T> {
    let started_ms = shared.now_ms();
    let mut command = std::pin::pin!(command);
    let stall = Duration::from_millis(shared.stall_ms());
    let result = match tokio::time::timeout(stall, &mut command).await {
        Ok(result) => result,
        Err(_) => {
            shared.stalled(generation, started_ms);
            command.await
        }
    };
    // Any answer but a timeout or a broken connection shows the connection alive.
    let answered = match &result {
        Ok(_) => true,
        Err(e) => !(e.is_timeout() || e.is_io_error() || e.is_connection_dropped()),
    };
    if answered {
        shared.answered();
    }
    result
}

impl WatchedCluster {
    /// [`ClusterConnection::route_command`], watched.
    pub async fn route_command(&mut self, cmd: Cmd, routing: RoutingInfo) -> RedisResult<Value> {
        let (shared, generation) = (self.shared.clone(), self.generation);
        observe(shared, generation, self.conn.route_command(cmd, routing)).await
    }

    /// [`ClusterConnection::route_pipeline`], watched.
    pub async fn route_pipeline(
        &mut self,
        pipeline: Pipeline,
        offset: usize,
        count: usize,
        route: SingleNodeRoutingInfo,
    ) -> RedisResult<Vec<Value>> {
        let (shared, generation) = (self.shared.clone(), self.generation);
        let command = self.conn.route_pipeline(pipeline, offset, count, route);
        observe(shared, generation, command).await
    }
}

impl ConnectionLike for WatchedCluster {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        let (shared, generation) = (self.shared.clone(), self.generation);
        Box::pin(observe(
            shared,
            generation,
            self.conn.req_packed_command(cmd),
        ))
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        cmd: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        let (shared, generation) = (self.shared.clone(), self.generation);
        let command = self.conn.req_packed_commands(cmd, offset, count);
        Box::pin(observe(shared, generation, command))
    }

    fn get_db(&self) -> i64 {
        self.conn.get_db()
    }
}
