//! The `listen` role: one process holding a share of the event streams.
//!
//! Opens `--listeners` streams of `--url` (at most `--in-flight` connecting at once); a
//! stream counts as open once the service's opening comment arrived. Prints
//! `{"connected", "failed", "refusals"}` when every stream is open or refused, then reads
//! one line `{"holds": [[seat, answered_us], ...]}` from stdin, and prints what its listeners
//! saw of those holds: `received` (listener x hold pairs), `missed_any` (listeners that
//! missed one), `fewest_seen`, `dropped` (streams that ended early), `resyncs`, and
//! `delays` (a merged [`Histogram`] of read time minus answer time).

use crate::driver::now_us;
use anyhow::Context;
use clap::Args as ClapArgs;
use e2e::bench::Histogram;
use futures_util::StreamExt;
use serde_json::{Value, json};
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{Semaphore, mpsc, watch};

#[derive(ClapArgs)]
pub struct ListenArgs {
    /// The event stream's URL
    #[arg(long, value_name = "URL")]
    url: String,
    /// Streams this process opens
    #[arg(long, value_name = "N")]
    listeners: usize,
    /// Streams connecting at once
    #[arg(long, value_name = "N", default_value_t = 64)]
    in_flight: usize,
}

/// What one listener read: every `held` seat with the time it was read, and how it ended.
#[derive(Default)]
struct Seen {
    held: Vec<(i64, i64)>,
    resyncs: u64,
    dropped: bool,
}

pub async fn listen(args: ListenArgs) -> anyhow::Result<()> {
    let client = reqwest::Client::builder()
        .http1_only()
        .connect_timeout(Duration::from_secs(30))
        .build()?;
    let gate = Arc::new(Semaphore::new(args.in_flight.max(1)));
    let (stop_tx, stop) = watch::channel(false);
    let (opened_tx, mut opened) = mpsc::unbounded_channel::<Result<(), String>>();
    let tasks: Vec<_> = (0..args.listeners)
        .map(|_| {
            let (client, url, gate) = (client.clone(), args.url.clone(), gate.clone());
            let (opened, stop) = (opened_tx.clone(), stop.clone());
            tokio::spawn(async move { one(&client, &url, &gate, opened, stop).await })
        })
        .collect();
    drop(opened_tx);

    let (mut connected, mut failed) = (0u64, 0u64);
    let mut refusals: BTreeMap<String, u64> = BTreeMap::new();
    // One report from every listener (they keep their senders while their streams last).
    for _ in 0..args.listeners {
        let Some(result) = opened.recv().await else {
            break;
        };
        match result {
            Ok(()) => connected += 1,
            Err(why) => {
                failed += 1;
                *refusals.entry(why).or_insert(0) += 1;
            }
        }
    }
    println!(
        "{}",
        json!({ "connected": connected, "failed": failed, "refusals": refusals })
    );

    let line = tokio::task::spawn_blocking(|| {
        let mut line = String::new();
        std::io::stdin().read_line(&mut line).map(|_| line)
    })
    .await??;
    let request: Value = serde_json::from_str(&line).context("the coordinator's holds")?;
    let holds: HashMap<i64, i64> = request["holds"]
        .as_array()
        .context("no holds")?
        .iter()
        .filter_map(|h| Some((h.get(0)?.as_i64()?, h.get(1)?.as_i64()?)))
        .collect();
    let _ = stop_tx.send(true);

    let mut delays = Histogram::default();
    let (mut reported, mut received, mut missed_any, mut dropped, mut resyncs) = (0u64, 0, 0, 0, 0);
    let mut fewest_seen: Option<u64> = None;
    for task in tasks {
        let Some(seen) = task.await? else { continue };
        reported += 1;
        let mut seen_here = 0u64;
        let mut first: HashMap<i64, i64> = HashMap::new();
        for (seat, at) in seen.held {
            first.entry(seat).or_insert(at);
        }
        for (seat, answered) in &holds {
            if let Some(at) = first.get(seat) {
                seen_here += 1;
                delays.record_us(at - answered);
            }
        }
        received += seen_here;
        missed_any += u64::from(seen_here < holds.len() as u64);
        fewest_seen = Some(fewest_seen.map_or(seen_here, |f| f.min(seen_here)));
        dropped += u64::from(seen.dropped);
        resyncs += seen.resyncs;
    }
    println!(
        "{}",
        json!({
            "reported": reported, "received": received, "missed_any": missed_any,
            "fewest_seen": fewest_seen, "dropped": dropped, "resyncs": resyncs,
            "delays": delays.to_json(),
        })
    );
    Ok(())
}

/// One listener: `None` when its stream never opened.
async fn one(
    client: &reqwest::Client,
    url: &str,
    gate: &Semaphore,
    opened: mpsc::UnboundedSender<Result<(), String>>,
    mut stop: watch::Receiver<bool>,
) -> Option<Seen> {
    let permit = gate.acquire().await.ok()?;
    let mut body = match client.get(url).send().await {
        Ok(res) if res.status().is_success() => res.bytes_stream(),
        Ok(res) => {
            let _ = opened.send(Err(format!("status {}", res.status().as_u16())));
            return None;
        }
        Err(error) => {
            let _ = opened.send(Err(refusal(&error)));
            return None;
        }
    };
    let mut seen = Seen::default();
    let mut buffer = String::new();
    // The service's opening comment says the stream is subscribed.
    match tokio::time::timeout(OPENING, body.next()).await {
        Ok(Some(Ok(chunk))) => buffer.push_str(&String::from_utf8_lossy(&chunk)),
        _ => {
            let _ = opened.send(Err("no opening comment".to_owned()));
            return None;
        }
    }
    drop(permit);
    let _ = opened.send(Ok(()));
    loop {
        tokio::select! {
            _ = stop.wait_for(|stopped| *stopped) => break,
            chunk = body.next() => {
                let Some(Ok(chunk)) = chunk else {
                    seen.dropped = true;
                    break;
                };
                let at = now_us();
                buffer.push_str(&String::from_utf8_lossy(&chunk));
                while let Some(end) = buffer.find("\n\n") {
                    read_block(&buffer[..end], at, &mut seen);
                    buffer.drain(..end + 2);
                }
            }
        }
    }
    Some(seen)
}

/// How long a stream may take to send its opening comment.
const OPENING: Duration = Duration::from_secs(30);

/// One event (`event: seat` + `data: {"seat_id", "status"}`, or `event: resync`); comments
/// (`: ping`) are skipped.
fn read_block(block: &str, at: i64, seen: &mut Seen) {
    let mut event = "";
    let mut data = "";
    for line in block.lines() {
        if let Some(name) = line.strip_prefix("event: ") {
            event = name;
        } else if let Some(value) = line.strip_prefix("data: ") {
            data = value;
        }
    }
    match event {
        "seat" => {
            if let Ok(change) = serde_json::from_str::<Value>(data)
                && change["status"] == "held"
                && let Some(seat) = change["seat_id"].as_i64()
            {
                seen.held.push((seat, at));
            }
        }
        "resync" => seen.resyncs += 1,
        _ => {}
    }
}

/// A short name for why a stream did not open (the refusals are tallied by it).
fn refusal(error: &reqwest::Error) -> String {
    if error.is_connect() {
        "connect error".to_owned()
    } else if error.is_timeout() {
        "timeout".to_owned()
    } else {
        format!("request error: {error}")
    }
}
