//! A TCP proxy for fault tests: services connect to the proxy instead of a store, and the
//! test makes the store unreachable ([`Proxy::cut`]: open connections are dropped, new ones
//! are closed at once) and reachable again ([`Proxy::restore`]) without touching the shared
//! server, or makes it a black hole ([`Proxy::stall`]: open connections are dropped, new ones
//! are accepted and never answered, like a half-open link, for as long as the proxy lives).

use std::net::SocketAddr;
use std::sync::Arc;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

pub struct Proxy {
    port: u16,
    mode: watch::Sender<Mode>,
    task: tokio::task::JoinHandle<()>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    Open,
    Cut,
    Stalled,
}

impl Proxy {
    /// Listens on a free local port and forwards every connection to `target`.
    pub async fn start(target: SocketAddr) -> std::io::Result<Self> {
        let listener = TcpListener::bind(("127.0.0.1", 0)).await?;
        let port = listener.local_addr()?.port();
        let (mode, watch) = watch::channel(Mode::Open);
        let watch = Arc::new(watch);
        let task = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let mut changes = (*watch).clone();
                let now = *changes.borrow_and_update();
                match now {
                    Mode::Cut => drop(client),
                    // Held open, never read nor answered, until the proxy goes away.
                    Mode::Stalled => {
                        tokio::spawn(async move {
                            while changes.changed().await.is_ok() {}
                            drop(client);
                        });
                    }
                    Mode::Open => {
                        tokio::spawn(async move {
                            let Ok(mut upstream) = TcpStream::connect(target).await else {
                                return;
                            };
                            let mut client = client;
                            tokio::select! {
                                _ = tokio::io::copy_bidirectional(&mut client, &mut upstream) => {}
                                _ = changes.wait_for(|m| *m != Mode::Open) => {}
                            }
                        });
                    }
                }
            }
        });
        Ok(Self { port, mode, task })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// Drops every open connection and refuses new ones until [`Proxy::restore`].
    pub fn cut(&self) {
        let _ = self.mode.send(Mode::Cut);
    }

    /// Drops every open connection; new ones are accepted and never answered (they stay open,
    /// unanswered, even after [`Proxy::restore`], until the proxy is dropped).
    pub fn stall(&self) {
        let _ = self.mode.send(Mode::Stalled);
    }

    pub fn restore(&self) {
        let _ = self.mode.send(Mode::Open);
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.cut();
        self.task.abort();
    }
}
