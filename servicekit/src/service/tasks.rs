//! The background tasks of one service, stopped together.
//!
//! Every task a service runs besides its HTTP server (consumers, the outbox relay, sweepers,
//! watchers, gauges) is spawned here, never with a bare `tokio::spawn`, so that stopping the
//! service is one call that waits for all of them. Stopping has two phases:
//!
//! 1. **work** ([`Tasks::spawn`]): consumers stop taking deliveries, finish and ack what they
//!    hold; periodic jobs finish their round;
//! 2. **flush** ([`Tasks::spawn_flusher`]): only then is the outbox relay told to stop, so the
//!    events committed by the last messages of phase 1 still go out before the process ends.
//!
//! Each task receives the [`CancellationToken`] of its phase and must return soon after it is
//! cancelled.

use std::future::Future;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

#[derive(Clone, Default)]
struct Phase {
    token: CancellationToken,
    tracker: TaskTracker,
}

impl Phase {
    fn spawn<F, Fut>(&self, name: &'static str, task: F)
    where
        F: FnOnce(CancellationToken) -> Fut,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let future = task(self.token.clone());
        self.tracker.spawn(async move {
            future.await;
            tracing::debug!(task = name, "task stopped");
        });
    }

    async fn stop(&self) {
        self.token.cancel();
        self.tracker.close();
        self.tracker.wait().await;
    }
}

/// The task set of one service. Cheap to clone: clones share the same tasks.
#[derive(Clone, Default)]
pub struct Tasks {
    work: Phase,
    flush: Phase,
}

impl Tasks {
    pub fn new() -> Self {
        Self::default()
    }

    /// Spawns a task of the first phase: `task` is given the token that says stop.
    pub fn spawn<F, Fut>(&self, name: &'static str, task: F)
    where
        F: FnOnce(CancellationToken) -> Fut,
        Fut: Future<Output = ()> + Send + 'static,
    {
        self.work.spawn(name, task);
    }

    /// Spawns a task that is stopped only after every first-phase task has ended (the
    /// outbox relay).
    pub fn spawn_flusher<F, Fut>(&self, name: &'static str, task: F)
    where
        F: FnOnce(CancellationToken) -> Fut,
        Fut: Future<Output = ()> + Send + 'static,
    {
        self.flush.spawn(name, task);
    }

    /// How many tasks are still running (both phases).
    pub fn running(&self) -> usize {
        self.work.tracker.len() + self.flush.tracker.len()
    }

    /// True once [`Tasks::shutdown`] has begun.
    pub fn is_stopping(&self) -> bool {
        self.work.token.is_cancelled()
    }

    /// Tells every task of both phases to stop, at once and without waiting for them: for
    /// an application that is going away without its graceful stop (a test's, dropped).
    pub fn cancel(&self) {
        self.work.token.cancel();
        self.flush.token.cancel();
    }

    /// Stops the first phase and waits for it, then the second. Idempotent.
    pub async fn shutdown(&self) {
        self.work.stop().await;
        self.flush.stop().await;
    }
}

/// Runs `round` until `stop` is cancelled: again at once while it reports more work
/// (`true`, e.g. a full batch), else after `period`. A round in progress always finishes.
pub async fn every<F, Fut>(period: std::time::Duration, stop: CancellationToken, mut round: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    while !stop.is_cancelled() {
        if round().await {
            continue;
        }
        tokio::select! {
            () = stop.cancelled() => return,
            () = tokio::time::sleep(period) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    #[tokio::test]
    async fn shutdown_waits_for_every_task_and_stops_flushers_last() {
        let tasks = Tasks::new();
        let order = Arc::new(std::sync::Mutex::new(Vec::new()));
        for i in 0..3 {
            let order = order.clone();
            tasks.spawn("worker", move |stop| async move {
                stop.cancelled().await;
                // Finishing in-flight work takes a while after the stop.
                tokio::time::sleep(Duration::from_millis(20 * (i + 1))).await;
                order.lock().map(|mut o| o.push("worker")).ok();
            });
        }
        let flushed = Arc::new(AtomicUsize::new(0));
        {
            let (order, flushed) = (order.clone(), flushed.clone());
            tasks.spawn_flusher("relay", move |stop| async move {
                stop.cancelled().await;
                flushed.fetch_add(1, Ordering::SeqCst);
                order.lock().map(|mut o| o.push("relay")).ok();
            });
        }
        assert_eq!(tasks.running(), 4);
        tasks.shutdown().await;
        assert_eq!(tasks.running(), 0);
        assert_eq!(flushed.load(Ordering::SeqCst), 1);
        let order = order.lock().map(|o| o.clone()).unwrap_or_default();
        assert_eq!(order, vec!["worker", "worker", "worker", "relay"]);
        assert!(tasks.is_stopping());
        // A second shutdown returns at once.
        tasks.shutdown().await;
    }

    #[tokio::test]
    async fn every_repeats_at_once_while_there_is_more_and_stops_between_rounds() {
        let stop = CancellationToken::new();
        let rounds = Arc::new(AtomicUsize::new(0));
        let job = {
            let (stop, rounds) = (stop.clone(), rounds.clone());
            tokio::spawn(every(Duration::from_secs(3600), stop, move || {
                let rounds = rounds.clone();
                // Three full batches, then idle.
                async move { rounds.fetch_add(1, Ordering::SeqCst) < 3 }
            }))
        };
        tokio::time::timeout(Duration::from_secs(5), async {
            while rounds.load(Ordering::SeqCst) < 4 {
                tokio::task::yield_now().await;
            }
        })
        .await
        .ok();
        assert_eq!(rounds.load(Ordering::SeqCst), 4);
        stop.cancel();
        let joined = tokio::time::timeout(Duration::from_secs(5), job).await;
        assert!(
            matches!(joined, Ok(Ok(()))),
            "the job ends when stopped while idle"
        );
        assert_eq!(rounds.load(Ordering::SeqCst), 4);
    }
}
