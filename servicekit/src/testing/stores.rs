//! Private stores that a chaos run breaks on purpose: plain PostgreSQL, Redis and RabbitMQ,
//! each on free ports of 127.0.0.1 and in a temporary directory of its own, each able to be
//! restarted in place (same port, same data; Redis comes back empty). Stopped and removed
//! on drop. The shared servers are never touched.

use super::servers::{Cluster, Server, free_port, wait_for_port};
use anyhow::{Context, bail};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use tempfile::TempDir;

/// PostgreSQL with the `postgres` superuser and trust authentication on 127.0.0.1.
pub struct Postgres {
    pub port: u16,
    cluster: Cluster,
    server: Option<Server>,
}

impl Postgres {
    pub fn start() -> anyhow::Result<Self> {
        let mut pg = Self {
            port: free_port()?,
            cluster: Cluster::init()?,
            server: None,
        };
        pg.run()?;
        Ok(pg)
    }

    fn run(&mut self) -> anyhow::Result<()> {
        self.server = Some(self.cluster.serve(self.port, &["max_connections=200"])?);
        Ok(())
    }

    /// Stops the server at once (connections cut, no checkpoint) and starts it again.
    pub fn restart(&mut self) -> anyhow::Result<()> {
        self.server = None;
        self.run()
    }

    pub fn url(&self, database: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{database}", self.port)
    }
}

/// Redis keeping nothing on disk: a restart brings it back empty.
pub struct Redis {
    pub port: u16,
    dir: TempDir,
    server: Option<Server>,
}

impl Redis {
    pub fn start() -> anyhow::Result<Self> {
        let mut redis = Self {
            port: free_port()?,
            dir: tempfile::Builder::new()
                .prefix("railrush-redis-")
                .tempdir()?,
            server: None,
        };
        redis.run()?;
        Ok(redis)
    }

    fn run(&mut self) -> anyhow::Result<()> {
        let mut child = Command::new("redis-server")
            .args(["--port", &self.port.to_string()])
            .args(["--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
            .arg("--dir")
            .arg(self.dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .context("starting redis-server (Debian package redis-server)")?;
        wait_for_port(self.port, &mut child, "redis-server")?;
        self.server = Some(Server {
            child,
            signal: "-KILL",
        });
        Ok(())
    }

    /// Kills the server and starts an empty one on the same port.
    pub fn restart(&mut self) -> anyhow::Result<()> {
        self.server = None;
        self.run()
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }
}

/// A RabbitMQ node of its own (`rabbitmq-server` with a unique node name, its own AMQP and
/// distribution ports, data and logs under a temporary directory, no plugins), reached as
/// guest/guest. Its Erlang cookie lives in the directory too (`HOME`), so `rabbitmqctl`
/// reaches it whoever else runs a node on this machine.
pub struct RabbitMq {
    pub port: u16,
    pub node: String,
    dist_port: u16,
    dir: TempDir,
    server: Option<Server>,
}

const RABBITMQ_BIN: &str = "/usr/lib/rabbitmq/bin";

impl RabbitMq {
    pub fn start() -> anyhow::Result<Self> {
        let dir = tempfile::Builder::new()
            .prefix("railrush-rabbitmq-")
            .tempdir()?;
        let port = free_port()?;
        std::fs::write(dir.path().join("enabled_plugins"), "[].\n")?;
        std::fs::write(
            dir.path().join("rabbitmq.conf"),
            format!("listeners.tcp.default = 127.0.0.1:{port}\nloopback_users = none\n"),
        )?;
        let mut rabbit = Self {
            port,
            node: format!("railrush-chaos-{}-{port}@localhost", std::process::id()),
            dist_port: free_port()?,
            dir,
            server: None,
        };
        rabbit.run()?;
        Ok(rabbit)
    }

    fn command(&self, program: &str) -> Command {
        let dir = self.dir.path();
        let mut cmd = Command::new(PathBuf::from(RABBITMQ_BIN).join(program));
        cmd.current_dir(dir)
            .env("HOME", dir)
            .env("RABBITMQ_NODENAME", &self.node)
            .env("RABBITMQ_DIST_PORT", self.dist_port.to_string())
            .env("RABBITMQ_MNESIA_BASE", dir.join("mnesia"))
            .env("RABBITMQ_LOG_BASE", dir.join("log"))
            .env("RABBITMQ_CONFIG_FILE", dir.join("rabbitmq"))
            .env("RABBITMQ_ENABLED_PLUGINS_FILE", dir.join("enabled_plugins"))
            .env("RABBITMQ_PID_FILE", dir.join("rabbitmq.pid"));
        cmd
    }

    fn run(&mut self) -> anyhow::Result<()> {
        let mut child = self
            .command("rabbitmq-server")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .context("starting rabbitmq-server (Debian package rabbitmq-server)")?;
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            if let Some(status) = child.try_wait()? {
                bail!(
                    "rabbitmq-server exited before listening: {status} (logs in {})",
                    self.dir.path().join("log").display()
                );
            }
            if std::net::TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
                break;
            }
            if Instant::now() > deadline {
                bail!(
                    "rabbitmq-server did not listen on {} within 120 s",
                    self.port
                );
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        self.server = Some(Server {
            child,
            signal: "-TERM",
        });
        Ok(())
    }

    /// `rabbitmqctl -n <node> <args>`: its standard output, or an error with its output.
    pub fn ctl(&self, args: &[&str]) -> anyhow::Result<String> {
        let out = self
            .command("rabbitmqctl")
            .args(["-q", "-n", &self.node])
            .args(args)
            .output()
            .context("running rabbitmqctl")?;
        anyhow::ensure!(
            out.status.success(),
            "rabbitmqctl {args:?} failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// Stops the node (`rabbitmqctl stop`: connections closed, queues kept on disk) and
    /// starts it again. (`stop_app` then `start_app` would be lighter, but RabbitMQ 3.10's
    /// `start_app` fails on this machine: the listener's port is still held, eaddrinuse.)
    pub fn restart(&mut self) -> anyhow::Result<()> {
        self.stop();
        self.run()
    }

    fn stop(&mut self) {
        if self.server.is_some() {
            let _ = self.ctl(&["stop"]);
        }
        self.server = None;
    }

    /// Messages waiting in each queue, by name.
    pub fn queue_depths(&self) -> anyhow::Result<Vec<(String, u64)>> {
        let out = self.ctl(&["list_queues", "--no-table-headers", "name", "messages"])?;
        Ok(out
            .lines()
            .filter_map(|line| {
                let (name, n) = line.rsplit_once(char::is_whitespace)?;
                Some((name.trim().to_owned(), n.trim().parse().ok()?))
            })
            .collect())
    }

    pub fn url(&self) -> String {
        format!("amqp://guest:guest@127.0.0.1:{}/%2f", self.port)
    }
}

impl Drop for RabbitMq {
    fn drop(&mut self) {
        self.stop();
    }
}
