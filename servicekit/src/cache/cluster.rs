//! The one shared Redis Cluster connection, and its watchdog.
//!
//! redis-rs 1.8's cluster connection drives every request, reconnection and topology
//! refresh from one task, and a refresh waits for its lock there without polling the
//! requests: a request that was granted the lock but not yet polled again holds it for ever.
//! Under concurrent load while a primary is down (a refresh after every failed request)
//! this happens within a second, and from then on every command of the connection times
//! out, on every shard, even after the replica's promotion (docs/architecture.md, "When
//! Redis goes away", has the measurement). So the connection is watched: a command that
//! gets no answer for half the timeout while no command of the connection has been answered
//! since it began marks the connection wedged, and the next caller connects afresh (a new
//! connection learns the topology anew). A shard that is merely down does not trigger it
//! while the other shards answer; when every command stalls because the whole cluster is
//! unreachable, reconnecting fails fast and costs nothing.

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

/// A command in flight: on drop, a stall if it got no answer for a stall's length.
struct InFlight {
    shared: Arc<SharedCluster>,
    generation: u64,
    started_ms: u64,
    answered: bool,
}

impl Drop for InFlight {
    fn drop(&mut self) {
        let waited = self.shared.now_ms().saturating_sub(self.started_ms);
        if !self.answered && waited >= self.shared.stall_ms() {
            self.shared.stalled(self.generation, self.started_ms);
        }
    }
}

async fn observe<T>(
    shared: Arc<SharedCluster>,
    generation: u64,
    command: impl Future<Output = RedisResult<T>>,
) -> RedisResult<T> {
    let mut in_flight = InFlight {
        started_ms: shared.now_ms(),
        shared,
        generation,
        answered: false,
    };
    let result = command.await;
    // Any answer but a timeout or a broken connection shows the connection alive.
    in_flight.answered = match &result {
        Ok(_) => true,
        Err(e) => !(e.is_timeout() || e.is_io_error() || e.is_connection_dropped()),
    };
    if in_flight.answered {
        in_flight.shared.answered();
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
