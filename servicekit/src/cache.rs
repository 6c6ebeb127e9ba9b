//! Redis: one handle for a single server or a Redis Cluster, and the service's key
//! namespace.
//!
//! A single server (`cluster = false`) gets a deadpool pool for commands and
//! self-reconnecting multiplexed connections for hot paths (one per actix worker thread,
//! one shared by the rest; [`RedisPool::multiplexed`]). A cluster (`cluster = true`, the
//! URL naming any node or the configuration endpoint) gets one multiplexed cluster
//! connection, which routes each command by its key's slot, follows MOVED and ASK and
//! reconnects by itself; a pool of them would add nothing. Commands that touch several keys
//! (scripts, MGET, pipelines) must keep them in one slot with a `{hash tag}`.
//!
//! When a cluster primary dies, its replica is promoted (docs/architecture.md, "When Redis
//! goes away"): the cluster connection retries a failed command after a short wait
//! ([`RETRY_WAIT_MIN_MS`]..[`RETRY_WAIT_MAX_MS`]), refreshing its slot map, until
//! `timeout_ms` has passed in all; so a command sent during the switch either lands on the
//! promoted replica or fails within `timeout_ms` (503), never hangs. [`RedisPool::health`]
//! tells a cluster missing a primary ([`RedisHealth::Partial`]) from one that is gone.
//!
//! Stores over Redis return [`CacheError`]; [`within`] bounds a call by a deadline.

use crate::config::RedisSettings;
use anyhow::Context;
use deadpool_redis::{Manager, Pool, PoolConfig, Runtime, Timeouts};
use redis::aio::{ConnectionLike, ConnectionManager, ConnectionManagerConfig};
use redis::cluster::ClusterClient;
use redis::cluster_routing::{MultipleNodeRoutingInfo, ResponsePolicy, RoutingInfo};
use redis::{
    Cmd, ConnectionAddr, ConnectionInfo, ErrorKind, IntoConnectionInfo, Pipeline, RedisError,
    RedisFuture, RedisResult, TlsCertificates, Value,
};
use secrecy::ExposeSecret;
use std::cell::RefCell;
use std::sync::{Arc, Weak};
use std::time::Duration;
use tokio::sync::OnceCell;

mod cluster;
mod error;

use cluster::SharedCluster;
pub use cluster::WatchedCluster;
pub use error::{CacheError, within};

/// The address of `settings.url` and, for `rediss://`, the CAs to trust. A `rediss://` URL
/// makes every connection TLS, with the server's certificate verified against `ca_file` or
/// the system's roots. The redis crate's `#insecure` (no verification) is refused.
fn target(settings: &RedisSettings) -> anyhow::Result<(ConnectionInfo, Option<TlsCertificates>)> {
    let info = settings
        .url
        .expose_secret()
        .into_connection_info()
        .context("the redis url is not valid")?;
    match info.addr() {
        ConnectionAddr::TcpTls { insecure: true, .. } => {
            anyhow::bail!("redis url: #insecure (TLS without verification) is not allowed")
        }
        ConnectionAddr::TcpTls { .. } => {
            crate::tls::install_provider();
            let root_cert = settings
                .ca_file
                .as_deref()
                .map(|path| {
                    crate::tls::read_pem_certs(path)?;
                    std::fs::read(path).with_context(|| format!("reading {}", path.display()))
                })
                .transpose()?;
            let certs = TlsCertificates {
                client_tls: None,
                root_cert,
            };
            Ok((info, Some(certs)))
        }
        _ => {
            if settings.ca_file.is_some() {
                tracing::warn!("redis.ca_file is set but the url is not rediss://: no TLS");
            }
            Ok((info, None))
        }
    }
}

/// A self-reconnecting multiplexed connection to `client`'s server.
async fn connect(client: &redis::Client, timeout: Duration) -> RedisResult<ConnectionManager> {
    let config = ConnectionManagerConfig::new()
        .set_connection_timeout(Some(timeout))
        .set_response_timeout(Some(timeout))
        .set_number_of_retries(1);
    let manager = ConnectionManager::new_with_config(client.clone(), config);
    tokio::time::timeout(timeout, manager)
        .await
        .map_err(|_| no_answer("connecting to redis", timeout))?
}

/// A thread's multiplexed connection of one [`RedisPool`] (see [`RedisPool::multiplexed`]).
struct ThreadConnection {
    /// The pool's: gone when every clone of the pool is dropped.
    handle: Weak<OnceCell<ConnectionManager>>,
    /// Gone when the runtime that drives `conn` has ended.
    runtime: Weak<()>,
    conn: ConnectionManager,
}

thread_local! {
    static THREAD_CONNECTIONS: RefCell<Vec<ThreadConnection>> = const { RefCell::new(Vec::new()) };
}

/// Redis for one service: cheap to clone, connections open lazily, and every wait is
/// bounded by `timeout_ms`.
#[derive(Clone)]
pub struct RedisPool {
    inner: Inner,
    timeout: Duration,
}

#[derive(Clone)]
enum Inner {
    Single {
        pool: Pool,
        client: Box<redis::Client>,
        shared: Arc<OnceCell<ConnectionManager>>,
    },
    Cluster(Arc<SharedCluster>),
}

impl std::fmt::Debug for RedisPool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisPool")
            .field("cluster", &self.is_cluster())
            .field("status", &self.status())
            .finish_non_exhaustive()
    }
}

/// How many connections the handle has open and how many wait (for `/metrics`).
#[derive(Clone, Copy, Debug)]
pub struct PoolStatus {
    pub size: usize,
    pub available: usize,
    pub waiting: usize,
}

fn unavailable(what: &'static str, detail: String) -> RedisError {
    RedisError::from((ErrorKind::Io, what, detail))
}

fn no_answer(what: &'static str, timeout: Duration) -> RedisError {
    unavailable(what, format!("no answer within {} ms", timeout.as_millis()))
}

/// The cluster connection's wait before retrying a command that failed for a reason that
/// may pass (a node gone, `CLUSTERDOWN`, `TRYAGAIN`): random between these, growing with
/// each retry (10 ms × 2^retry), within `timeout_ms` in all. The redis crate's default
/// (1,280 ms at least) would outlast a 1 s deadline, so a command sent during a failover
/// would never see the promoted replica.
pub const RETRY_WAIT_MIN_MS: u64 = 10;
pub const RETRY_WAIT_MAX_MS: u64 = 250;

/// Builds the handle for `settings` (see the module docs).
pub fn pool(settings: &RedisSettings) -> anyhow::Result<RedisPool> {
    let (info, certs) = target(settings)?;
    let timeout = settings.timeout();
    let inner = if settings.cluster {
        let mut builder = ClusterClient::builder([info])
            .connection_timeout(timeout)
            .response_timeout(timeout)
            .min_retry_wait(RETRY_WAIT_MIN_MS)
            .max_retry_wait(RETRY_WAIT_MAX_MS)
            .retry_wait_formula(10, 2);
        if let Some(certs) = certs {
            builder = builder.certs(certs);
        }
        let client = builder
            .build()
            .context("building the redis cluster client")?;
        Inner::Cluster(Arc::new(SharedCluster::new(client, timeout)))
    } else {
        let client = match certs {
            Some(certs) => redis::Client::build_with_tls(info, certs),
            None => redis::Client::open(info),
        }
        .context("building the redis client")?;
        let manager = Manager::new(client.get_connection_info().clone())
            .context("building the redis client")?;
        let pool = Pool::builder(manager)
            .config(PoolConfig {
                max_size: settings.max_size,
                timeouts: Timeouts {
                    wait: Some(timeout),
                    create: Some(timeout),
                    recycle: Some(timeout),
                },
                ..PoolConfig::default()
            })
            .runtime(Runtime::Tokio1)
            .build()
            .context("building the redis pool")?;
        Inner::Single {
            pool,
            client: Box::new(client),
            shared: Arc::new(OnceCell::new()),
        }
    };
    Ok(RedisPool { inner, timeout })
}

impl RedisPool {
    /// A connection for a few commands: from the pool (single server) or the shared
    /// cluster connection.
    pub async fn get(&self) -> RedisResult<RedisConnection> {
        match &self.inner {
            Inner::Single { pool, .. } => pool
                .get()
                .await
                .map(RedisConnection::Pooled)
                .map_err(|e| unavailable("no redis connection", e.to_string())),
            Inner::Cluster(_) => self.multiplexed().await,
        }
    }

    /// A multiplexed connection for hot paths: concurrent callers pipeline over it with no
    /// checkout (a pooled connection costs a PING per checkout). On a thread that runs a
    /// runtime of its own (an actix-web worker), one connection per thread, driven on that
    /// thread, so a command and its answer do not cross to another thread and back (two
    /// wake-ups; BENCHMARKS.md, "Redis with no checkout and on the worker's own thread").
    /// Elsewhere (the multi-threaded runtime of the background tasks), one connection
    /// shared by every caller.
    pub async fn multiplexed(&self) -> RedisResult<RedisConnection> {
        match &self.inner {
            Inner::Single { client, shared, .. } => {
                let own_thread = tokio::runtime::Handle::try_current().is_ok_and(|runtime| {
                    runtime.runtime_flavor() == tokio::runtime::RuntimeFlavor::CurrentThread
                });
                if own_thread {
                    return self.thread_connection(client, shared).await;
                }
                let conn = shared
                    .get_or_try_init(|| connect(client, self.timeout))
                    .await?;
                Ok(RedisConnection::Shared(conn.clone()))
            }
            Inner::Cluster(shared) => Ok(RedisConnection::Cluster(shared.connection().await?)),
        }
    }

    /// This thread's connection of this handle, made on first use (see [`Self::multiplexed`]).
    async fn thread_connection(
        &self,
        client: &redis::Client,
        shared: &Arc<OnceCell<ConnectionManager>>,
    ) -> RedisResult<RedisConnection> {
        let handle = Arc::downgrade(shared);
        let found = THREAD_CONNECTIONS.with_borrow_mut(|conns| {
            // Forget the connections of handles dropped since, or of a runtime that ended.
            conns.retain(|c| c.handle.strong_count() > 0 && c.runtime.strong_count() > 0);
            conns
                .iter()
                .find(|c| Weak::ptr_eq(&c.handle, &handle))
                .map(|c| c.conn.clone())
        });
        if let Some(conn) = found {
            return Ok(RedisConnection::Shared(conn));
        }
        let conn = connect(client, self.timeout).await?;
        THREAD_CONNECTIONS.with_borrow_mut(|conns| {
            // Another task of this thread may have connected meanwhile: keep the first.
            match conns.iter().find(|c| Weak::ptr_eq(&c.handle, &handle)) {
                Some(first) => Ok(RedisConnection::Shared(first.conn.clone())),
                None => {
                    // Alive as long as this thread's runtime: its tasks are dropped when it ends.
                    let alive = Arc::new(());
                    let runtime = Arc::downgrade(&alive);
                    tokio::spawn(async move {
                        let _alive = alive;
                        std::future::pending::<()>().await
                    });
                    conns.push(ThreadConnection {
                        handle,
                        runtime,
                        conn: conn.clone(),
                    });
                    Ok(RedisConnection::Shared(conn))
                }
            }
        })
    }

    pub fn is_cluster(&self) -> bool {
        matches!(self.inner, Inner::Cluster(_))
    }

    /// Whether Redis serves now, answered within `deadline`. A single server: `PING`. A
    /// cluster: `CLUSTER NODES` from whichever node answers first: [`RedisHealth::Partial`]
    /// while a primary that holds slots is failing or suspected (its shard refuses until a
    /// replica takes over; the other shards serve), [`RedisHealth::Down`] when no node
    /// answers. The cluster's own view, not the client's slot map, which is refreshed only
    /// when a command fails.
    pub async fn health(&self, deadline: Duration) -> RedisHealth {
        let check = async {
            let mut conn = self.get().await.ok()?;
            let RedisConnection::Cluster(cluster) = &mut conn else {
                return redis::cmd("PING")
                    .query_async::<String>(&mut conn)
                    .await
                    .ok()
                    .map(|_| RedisHealth::Up);
            };
            let routing = RoutingInfo::MultiNode((
                MultipleNodeRoutingInfo::AllNodes,
                Some(ResponsePolicy::OneSucceeded),
            ));
            let nodes = cluster
                .route_command(redis::cmd("CLUSTER").arg("NODES").clone(), routing)
                .await
                .ok()?;
            let nodes: String = redis::from_redis_value(nodes).ok()?;
            Some(cluster_health(&nodes))
        };
        tokio::time::timeout(deadline, check)
            .await
            .ok()
            .flatten()
            .unwrap_or(RedisHealth::Down)
    }

    pub fn status(&self) -> PoolStatus {
        match &self.inner {
            Inner::Single { pool, .. } => {
                let s = pool.status();
                PoolStatus {
                    size: s.size,
                    available: s.available,
                    waiting: s.waiting,
                }
            }
            Inner::Cluster(shared) => {
                let open = usize::from(shared.is_open());
                PoolStatus {
                    size: open,
                    available: open,
                    waiting: 0,
                }
            }
        }
    }
}

/// What [`RedisPool::health`] found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RedisHealth {
    /// Every slot is served.
    Up,
    /// A cluster shard has no serving primary (failing over): its keys refuse, the rest
    /// serve.
    Partial,
    /// Nothing answers.
    Down,
}

/// A cluster's health from a node's `CLUSTER NODES`: a primary flagged `fail` or `fail?`
/// that still holds slots means its shard is not served (yet).
fn cluster_health(nodes: &str) -> RedisHealth {
    let unserved = nodes.lines().any(|line| {
        let fields: Vec<&str> = line.split_whitespace().collect();
        let flags: Vec<&str> = fields
            .get(2)
            .map(|f| f.split(',').collect())
            .unwrap_or_default();
        let failing = flags.iter().any(|f| *f == "fail" || *f == "fail?");
        flags.contains(&"master") && failing && fields.len() > 8
    });
    if unserved {
        RedisHealth::Partial
    } else {
        RedisHealth::Up
    }
}

/// A connection from [`RedisPool`]; use it like any redis connection.
pub enum RedisConnection {
    Pooled(deadpool_redis::Connection),
    Shared(ConnectionManager),
    Cluster(WatchedCluster),
}

impl ConnectionLike for RedisConnection {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        match self {
            Self::Pooled(c) => c.req_packed_command(cmd),
            Self::Shared(c) => c.req_packed_command(cmd),
            Self::Cluster(c) => c.req_packed_command(cmd),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        cmd: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        match self {
            Self::Pooled(c) => c.req_packed_commands(cmd, offset, count),
            Self::Shared(c) => c.req_packed_commands(cmd, offset, count),
            Self::Cluster(c) => c.req_packed_commands(cmd, offset, count),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            Self::Pooled(c) => c.get_db(),
            Self::Shared(c) => c.get_db(),
            Self::Cluster(c) => c.get_db(),
        }
    }
}

/// Every key a service writes goes through this, so tests (and tenants) never collide.
#[derive(Clone, Debug, Default)]
pub struct Keys {
    prefix: String,
}

impl Keys {
    pub fn new(prefix: impl Into<String>) -> Self {
        Self {
            prefix: prefix.into(),
        }
    }

    pub fn key(&self, name: &str) -> String {
        format!("{}{}", self.prefix, name)
    }

    pub fn prefix(&self) -> &str {
        &self.prefix
    }
}

#[cfg(test)]
mod tests {
    use super::{RedisHealth, cluster_health};

    const PRIMARY_A: &str = "a1 127.0.0.1:7001@17001 myself,master - 0 0 1 connected 0-5460";
    const PRIMARY_B: &str = "b1 127.0.0.1:7002@17002 master - 0 0 2 connected 5461-16383";
    const REPLICA_A: &str = "a2 127.0.0.1:7003@17003 slave a1 0 0 1 connected";

    #[test]
    fn every_slot_served_is_up() {
        let nodes = [PRIMARY_A, PRIMARY_B, REPLICA_A].join("\n");
        assert_eq!(cluster_health(&nodes), RedisHealth::Up);
        let no_failover = "b1 127.0.0.1:7002@17002 master,nofailover - 0 0 2 connected 5461-16383";
        let nodes = [PRIMARY_A, no_failover, REPLICA_A].join("\n");
        assert_eq!(cluster_health(&nodes), RedisHealth::Up);
    }

    #[test]
    fn a_failing_or_suspected_primary_with_slots_is_partial() {
        for flags in ["master,fail", "master,fail?", "master,nofailover,fail"] {
            let b = format!("b1 127.0.0.1:7002@17002 {flags} - 0 0 2 disconnected 5461-16383");
            let nodes = [PRIMARY_A, &b, REPLICA_A].join("\n");
            assert_eq!(cluster_health(&nodes), RedisHealth::Partial, "{flags}");
        }
    }

    #[test]
    fn a_failed_primary_whose_slots_moved_to_its_replica_is_up() {
        let old = "a1 127.0.0.1:7001@17001 master,fail - 0 0 1 disconnected";
        let new = "a2 127.0.0.1:7003@17003 myself,master - 0 0 3 connected 0-5460";
        let nodes = [old, new, PRIMARY_B].join("\n");
        assert_eq!(cluster_health(&nodes), RedisHealth::Up);
    }
}
