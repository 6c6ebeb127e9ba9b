//! Private servers for tests that need a store the shared ones are not: a throwaway CA with
//! a server certificate for 127.0.0.1 and localhost; PostgreSQL and Redis that speak only
//! TLS; a Redis Cluster. Each runs on its own free ports and in its own temporary directory
//! and is stopped and removed on drop. The shared servers are never touched.

use anyhow::{Context, bail};
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};
use std::net::TcpStream;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use tempfile::TempDir;

/// A CA and one server certificate it signed, as PEM files.
pub struct TestCa {
    /// The CA certificate: what a client trusts.
    pub ca_file: PathBuf,
    /// The server's certificate (for `127.0.0.1` and `localhost`) and its key.
    pub cert_file: PathBuf,
    pub key_file: PathBuf,
    _dir: TempDir,
}

impl TestCa {
    pub fn new() -> anyhow::Result<Self> {
        let dir = tempfile::Builder::new().prefix("railrush-ca-").tempdir()?;
        let mut params = CertificateParams::new(Vec::<String>::new())?;
        params
            .distinguished_name
            .push(DnType::CommonName, "RailRush test CA");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let ca_key = KeyPair::generate()?;
        let ca_cert = params.self_signed(&ca_key)?;
        let ca = Issuer::new(params, ca_key);
        let ca_file = dir.path().join("ca.pem");
        std::fs::write(&ca_file, ca_cert.pem())?;
        let (cert_file, key_file) = Self::sign(&ca, dir.path(), "server")?;
        Ok(Self {
            ca_file,
            cert_file,
            key_file,
            _dir: dir,
        })
    }

    fn sign(
        ca: &Issuer<'_, KeyPair>,
        dir: &Path,
        name: &str,
    ) -> anyhow::Result<(PathBuf, PathBuf)> {
        let mut params = CertificateParams::new(vec!["127.0.0.1".into(), "localhost".into()])?;
        params.distinguished_name.push(DnType::CommonName, name);
        let key = KeyPair::generate()?;
        let cert = params.signed_by(&key, ca)?;
        let cert_file = dir.join(format!("{name}.pem"));
        let key_file = dir.join(format!("{name}.key"));
        std::fs::write(&cert_file, cert.pem())?;
        std::fs::write(&key_file, key.serialize_pem())?;
        std::fs::set_permissions(&key_file, std::fs::Permissions::from_mode(0o600))?;
        Ok((cert_file, key_file))
    }
}

/// A port nobody listens on right now on 127.0.0.1, for a server a test starts a moment
/// later. Picked at random below the kernel's ephemeral range (32768 and up here), not by
/// binding port 0: that range is where outgoing connections and every other port-0 pick take
/// theirs, so such a port could be taken before the server binds it. Seen once in a full
/// test run: a Redis Cluster node exited before it listened, as a server does whose port
/// is taken.
pub fn free_port() -> anyhow::Result<u16> {
    use rand::Rng;
    let mut rng = rand::rng();
    for _ in 0..1_000 {
        let port = rng.random_range(20_000..32_000);
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return Ok(port);
        }
    }
    anyhow::bail!("no free port between 20000 and 32000 on 127.0.0.1")
}

/// A child process stopped with `signal` (then killed) on drop.
pub(super) struct Server {
    pub(super) child: Child,
    pub(super) signal: &'static str,
}

impl Drop for Server {
    fn drop(&mut self) {
        let pid = self.child.id().to_string();
        let _ = Command::new("kill").args([self.signal, &pid]).status();
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub(super) fn wait_for_port(port: u16, child: &mut Child, what: &str) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        if let Some(status) = child.try_wait()? {
            bail!("{what} exited before listening: {status}");
        }
        if TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    bail!("{what} did not listen on {port} within 30 s")
}

/// Waits until the PostgreSQL server on `port` accepts connections. Listening is not
/// enough: while it starts up it answers every connection with SQLSTATE 57P03 ("the
/// database system is starting up"). `pg_isready` reports that state apart (exit 1) from
/// accepting (0), whatever the authentication would say.
fn wait_accepting(bin: &Path, port: u16, child: &mut Child) -> anyhow::Result<()> {
    let tool = bin.join("pg_isready");
    let tool = if tool.exists() {
        tool
    } else {
        PathBuf::from("pg_isready")
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(status) = child.try_wait()? {
            bail!("postgres exited before accepting connections: {status}");
        }
        let ready = Command::new(&tool)
            .args(["-h", "127.0.0.1", "-p", &port.to_string()])
            .args(["-U", "postgres", "-d", "postgres", "-t", "2"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .with_context(|| format!("running {}", tool.display()))?;
        if ready.success() {
            return Ok(());
        }
        if Instant::now() > deadline {
            bail!("postgres on {port} did not accept connections within 30 s");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The uid and gid to run PostgreSQL as: the `postgres` user when we are root (PostgreSQL
/// refuses to run as root), else ourselves.
fn postgres_ids() -> anyhow::Result<(u32, u32)> {
    let id = |args: &[&str]| -> anyhow::Result<u32> {
        let out = Command::new("id").args(args).output()?;
        anyhow::ensure!(out.status.success(), "id {args:?} failed");
        Ok(String::from_utf8(out.stdout)?.trim().parse()?)
    };
    if id(&["-u"])? != 0 {
        return Ok((id(&["-u"])?, id(&["-g"])?));
    }
    Ok((id(&["-u", "postgres"])?, id(&["-g", "postgres"])?))
}

/// The newest installed PostgreSQL's binaries (Debian puts them off the PATH).
fn postgres_bin() -> anyhow::Result<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .context("PostgreSQL server binaries not found under /usr/lib/postgresql")?
        .filter_map(Result::ok)
        .map(|e| e.path().join("bin"))
        .filter(|p| p.join("postgres").exists())
        .collect();
    dirs.sort_by_key(|p| {
        p.parent()
            .and_then(|v| v.file_name())
            .and_then(|v| v.to_str())
            .and_then(|v| v.parse::<u32>().ok())
            .unwrap_or(0)
    });
    dirs.pop()
        .context("no PostgreSQL server under /usr/lib/postgresql")
}

/// A new PostgreSQL data directory (`initdb`, superuser `postgres`, trust) in a temporary
/// directory owned by the user PostgreSQL runs as.
pub(super) struct Cluster {
    pub(super) bin: PathBuf,
    pub(super) dir: TempDir,
    pub(super) data: PathBuf,
    pub(super) uid: u32,
    pub(super) gid: u32,
}

impl Cluster {
    pub(super) fn init() -> anyhow::Result<Self> {
        let bin = postgres_bin()?;
        let dir = tempfile::Builder::new().prefix("railrush-pg-").tempdir()?;
        let (uid, gid) = postgres_ids()?;
        let data = dir.path().join("data");
        std::os::unix::fs::chown(dir.path(), Some(uid), Some(gid))?;
        let out = Command::new(bin.join("initdb"))
            .args(["-D"])
            .arg(&data)
            .args(["-U", "postgres", "-A", "trust", "--no-sync", "-E", "UTF8"])
            .uid(uid)
            .gid(gid)
            .output()
            .context("running initdb")?;
        anyhow::ensure!(
            out.status.success(),
            "initdb failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        Ok(Self {
            bin,
            dir,
            data,
            uid,
            gid,
        })
    }

    /// Runs `postgres` on `port` of 127.0.0.1 with the settings `-c` `settings` (and
    /// `fsync=off`), and waits until it accepts connections. Stopped on drop with SIGQUIT
    /// (immediate shutdown: connections cut, crash recovery on the next start).
    pub(super) fn serve(&self, port: u16, settings: &[&str]) -> anyhow::Result<Server> {
        let child = Command::new(self.bin.join("postgres"))
            .arg("-D")
            .arg(&self.data)
            .args(["-p", &port.to_string()])
            .args(["-c", "listen_addresses=127.0.0.1", "-c", "fsync=off"])
            .arg("-c")
            .arg(format!(
                "unix_socket_directories={}",
                self.dir.path().display()
            ))
            .args(settings.iter().flat_map(|s| ["-c", s]))
            .uid(self.uid)
            .gid(self.gid)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .context("starting postgres")?;
        let mut server = Server {
            child,
            signal: "-QUIT",
        };
        wait_for_port(port, &mut server.child, "postgres")?;
        wait_accepting(&self.bin, port, &mut server.child)?;
        Ok(server)
    }
}

/// A PostgreSQL server of its own that accepts only TLS connections from 127.0.0.1
/// (`hostnossl` is rejected), with the `postgres` superuser and trust authentication.
pub struct TlsPostgres {
    pub port: u16,
    _server: Server,
    _dir: TempDir,
}

impl TlsPostgres {
    pub fn start(ca: &TestCa) -> anyhow::Result<Self> {
        let cluster = Cluster::init()?;
        let (data, uid, gid) = (&cluster.data, cluster.uid, cluster.gid);
        for (from, to) in [(&ca.cert_file, "server.crt"), (&ca.key_file, "server.key")] {
            let target = data.join(to);
            std::fs::copy(from, &target)?;
            std::os::unix::fs::chown(&target, Some(uid), Some(gid))?;
            std::fs::set_permissions(&target, std::fs::Permissions::from_mode(0o600))?;
        }
        std::fs::write(
            data.join("pg_hba.conf"),
            "local all all trust\n\
             hostssl all all 127.0.0.1/32 trust\n\
             hostnossl all all 127.0.0.1/32 reject\n",
        )?;
        let port = free_port()?;
        let server = cluster.serve(port, &["ssl=on", "max_connections=50"])?;
        Ok(Self {
            port,
            _server: server,
            _dir: cluster.dir,
        })
    }

    /// A URL for `database` on this server with `sslmode`.
    pub fn url(&self, database: &str, sslmode: &str) -> String {
        format!(
            "postgres://postgres@127.0.0.1:{}/{database}?sslmode={sslmode}",
            self.port
        )
    }
}

/// A Redis server of its own that listens only for TLS (`port 0`, `tls-port`), keeping
/// nothing on disk.
pub struct TlsRedis {
    pub port: u16,
    _server: Server,
    _dir: TempDir,
}

impl TlsRedis {
    pub fn start(ca: &TestCa) -> anyhow::Result<Self> {
        let dir = tempfile::Builder::new()
            .prefix("railrush-redis-")
            .tempdir()?;
        let port = free_port()?;
        let mut child = Command::new("redis-server")
            .args(["--port", "0", "--tls-port", &port.to_string()])
            .args(["--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
            .arg("--dir")
            .arg(dir.path())
            .arg("--tls-cert-file")
            .arg(&ca.cert_file)
            .arg("--tls-key-file")
            .arg(&ca.key_file)
            .arg("--tls-ca-cert-file")
            .arg(&ca.ca_file)
            .args(["--tls-auth-clients", "no"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .context("starting redis-server (Debian package redis-server)")?;
        wait_for_port(port, &mut child, "redis-server")?;
        Ok(Self {
            port,
            _server: Server {
                child,
                signal: "-TERM",
            },
            _dir: dir,
        })
    }

    pub fn url(&self) -> String {
        format!("rediss://127.0.0.1:{}", self.port)
    }
}

/// A Redis Cluster of its own: `shards` primaries, each with `replicas` replicas (none for
/// [`RedisCluster::start`]), all slots assigned, keeping nothing on disk. Nodes notice a
/// dead node after [`NODE_TIMEOUT_MS`]; a shard whose primary dies goes on serving once its
/// replica is promoted. `cluster-require-full-coverage no`: the other shards keep serving
/// meanwhile. A test kills a primary with [`RedisCluster::kill`].
pub struct RedisCluster {
    /// The client port of each node, the first `shards` the primaries at the start.
    pub ports: Vec<u16>,
    servers: Vec<Option<Server>>,
    _dir: TempDir,
}

/// `cluster-node-timeout` of [`RedisCluster`]'s nodes.
pub const NODE_TIMEOUT_MS: u64 = 1_000;

/// `redis-cli -p <port> <args>`: its standard output, or an error.
fn redis_cli(port: u16, args: &[&str]) -> anyhow::Result<String> {
    let out = Command::new("redis-cli")
        .args(["-p", &port.to_string()])
        .args(args)
        .output()
        .context("running redis-cli")?;
    anyhow::ensure!(out.status.success(), "redis-cli {args:?} failed");
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

impl RedisCluster {
    pub fn start(shards: usize) -> anyhow::Result<Self> {
        Self::with_replicas(shards, 0)
    }

    /// A cluster whose every shard has `replicas` replicas in sync before it returns.
    pub fn with_replicas(shards: usize, replicas: usize) -> anyhow::Result<Self> {
        let dir = tempfile::Builder::new()
            .prefix("railrush-cluster-")
            .tempdir()?;
        let mut ports = Vec::new();
        let mut servers = Vec::new();
        for _ in 0..shards * (1 + replicas) {
            let port = free_port()?;
            let mut bus = free_port()?;
            while bus == port {
                bus = free_port()?;
            }
            let mut child = Command::new("redis-server")
                .args([
                    "--port",
                    &port.to_string(),
                    "--cluster-port",
                    &bus.to_string(),
                ])
                .args(["--cluster-enabled", "yes"])
                .args(["--cluster-node-timeout", &NODE_TIMEOUT_MS.to_string()])
                .args(["--cluster-require-full-coverage", "no"])
                .arg("--cluster-config-file")
                .arg(dir.path().join(format!("nodes-{port}.conf")))
                .args(["--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
                // Replicas sync at once (the default waits 5 s for more of them).
                .args(["--repl-diskless-sync-delay", "0"])
                .arg("--dir")
                .arg(dir.path())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .context("starting redis-server (Debian package redis-server)")?;
            wait_for_port(port, &mut child, "redis-server")?;
            ports.push(port);
            servers.push(Some(Server {
                child,
                signal: "-TERM",
            }));
        }
        let out = Command::new("redis-cli")
            .arg("--cluster")
            .arg("create")
            .args(ports.iter().map(|p| format!("127.0.0.1:{p}")))
            .args(["--cluster-replicas", &replicas.to_string(), "--cluster-yes"])
            .output()
            .context("running redis-cli --cluster create")?;
        anyhow::ensure!(
            out.status.success(),
            "redis-cli --cluster create failed: {}",
            String::from_utf8_lossy(&out.stdout)
        );
        let cluster = Self {
            ports,
            servers,
            _dir: dir,
        };
        cluster.wait_ok()?;
        cluster.wait_replicas_in_sync()?;
        Ok(cluster)
    }

    /// The ports of the nodes still running.
    fn live(&self) -> impl Iterator<Item = u16> + '_ {
        self.ports
            .iter()
            .zip(&self.servers)
            .filter_map(|(&port, server)| server.as_ref().map(|_| port))
    }

    /// Waits until every live node says the cluster is up (all slots served, nodes agreed).
    fn wait_ok(&self) -> anyhow::Result<()> {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let ok = self.live().all(|port| {
                redis_cli(port, &["cluster", "info"])
                    .is_ok_and(|info| info.contains("cluster_state:ok"))
            });
            if ok {
                return Ok(());
            }
            if Instant::now() > deadline {
                bail!("the redis cluster did not reach cluster_state:ok within 30 s");
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Waits until every live replica has finished its sync with its primary: a replica
    /// that never synced is not eligible for promotion.
    fn wait_replicas_in_sync(&self) -> anyhow::Result<()> {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let synced = self.live().all(|port| {
                redis_cli(port, &["info", "replication"]).is_ok_and(|info| {
                    info.contains("role:master") || info.contains("master_link_status:up")
                })
            });
            if synced {
                return Ok(());
            }
            if Instant::now() > deadline {
                bail!("the redis cluster's replicas did not sync within 30 s");
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// The port of the live primary serving `key`'s slot as a live node sees it, if any.
    pub fn primary_of(&self, key: &str) -> anyhow::Result<Option<u16>> {
        let port = self.live().next().context("no redis node is running")?;
        let slot: u16 = redis_cli(port, &["cluster", "keyslot", key])?
            .trim()
            .parse()?;
        let nodes = redis_cli(port, &["cluster", "nodes"])?;
        Ok(nodes.lines().find_map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let flags: Vec<&str> = fields.get(2)?.split(',').collect();
            if !flags.contains(&"master") || flags.iter().any(|f| f.starts_with("fail")) {
                return None;
            }
            let serves = fields.iter().skip(8).any(|range| {
                let mut ends = range.splitn(2, '-').map(str::parse::<u16>);
                match (ends.next(), ends.next()) {
                    (Some(Ok(a)), Some(Ok(b))) => (a..=b).contains(&slot),
                    (Some(Ok(a)), None) => a == slot,
                    _ => false,
                }
            });
            let port = fields
                .get(1)?
                .split(['@', ','])
                .next()?
                .rsplit(':')
                .next()?;
            serves.then(|| port.parse().ok()).flatten()
        }))
    }

    /// Kills the node on `port` with SIGKILL (no goodbye to the cluster, as a crash).
    pub fn kill(&mut self, port: u16) -> anyhow::Result<()> {
        let i = self
            .ports
            .iter()
            .position(|&p| p == port)
            .context("no such node")?;
        if let Some(mut server) = self.servers[i].take() {
            server.signal = "-KILL";
        }
        Ok(())
    }

    /// Waits until a live primary other than `dead` serves `key` again: the promotion.
    pub fn wait_promoted(&self, key: &str, dead: u16, within: Duration) -> anyhow::Result<u16> {
        let deadline = Instant::now() + within;
        loop {
            if let Some(port) = self.primary_of(key)?.filter(|&p| p != dead) {
                return Ok(port);
            }
            if Instant::now() > deadline {
                bail!("no replica took over {key}'s slot within {within:?}");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// A URL naming the first node; a cluster client discovers the others from it.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.ports[0])
    }
}

/// A local HTTP server on a free port playing an outside party or another service's
/// endpoint in a test (an SMS provider, booking-service's internal summary): the routes
/// `configure` registers, one worker, stopped when dropped.
pub struct LocalHttp {
    pub base_url: String,
    handle: actix_web::dev::ServerHandle,
}

impl LocalHttp {
    /// Starts it on the current Tokio runtime.
    pub fn start(
        configure: impl Fn(&mut actix_web::web::ServiceConfig) + Clone + Send + 'static,
    ) -> anyhow::Result<Self> {
        let server =
            actix_web::HttpServer::new(move || actix_web::App::new().configure(configure.clone()))
                .workers(1)
                .disable_signals()
                .bind(("127.0.0.1", 0))?;
        let port = server
            .addrs()
            .first()
            .map(|a| a.port())
            .ok_or_else(|| anyhow::anyhow!("the local server has no address"))?;
        let server = server.run();
        let handle = server.handle();
        tokio::spawn(server);
        Ok(Self {
            base_url: format!("http://127.0.0.1:{port}"),
            handle,
        })
    }
}

impl Drop for LocalHttp {
    fn drop(&mut self) {
        drop(self.handle.stop(false));
    }
}
