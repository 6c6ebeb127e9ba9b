//! The broker topology of one consumer: the events exchange (topic), its dead-letter
//! exchange, the quorum queue with its delivery limit and dead-lettering, the parking queue,
//! and the bindings. Declared by the consuming service at start, idempotently.

use super::QueueSpec;
use lapin::options::{ExchangeDeclareOptions, QueueBindOptions, QueueDeclareOptions};
use lapin::types::{AMQPValue, FieldTable, ShortString};
use lapin::{Channel, ExchangeKind};

fn table(entries: &[(&str, AMQPValue)]) -> FieldTable {
    let mut t = FieldTable::default();
    for (k, v) in entries {
        t.insert(ShortString::from(*k), v.clone());
    }
    t
}

/// Declares the dead-letter exchange, the parking queue, the queue and its bindings.
/// Idempotent: the same arguments every time.
pub async fn declare(
    channel: &Channel,
    exchange: &str,
    spec: &QueueSpec,
) -> Result<(), lapin::Error> {
    let durable = ExchangeDeclareOptions {
        durable: true,
        ..Default::default()
    };
    let dlx = format!("{exchange}.dlx");
    channel
        .exchange_declare(
            exchange.into(),
            ExchangeKind::Topic,
            durable,
            FieldTable::default(),
        )
        .await?;
    channel
        .exchange_declare(
            dlx.as_str().into(),
            ExchangeKind::Direct,
            durable,
            FieldTable::default(),
        )
        .await?;
    let quorum = |extra: &[(&str, AMQPValue)]| {
        let mut args = vec![("x-queue-type", AMQPValue::LongString("quorum".into()))];
        args.extend(extra.iter().cloned());
        table(&args)
    };
    let queue_opts = QueueDeclareOptions {
        durable: true,
        ..Default::default()
    };
    let parked = spec.parking_queue();
    channel
        .queue_declare(parked.as_str().into(), queue_opts, quorum(&[]))
        .await?;
    channel
        .queue_bind(
            parked.as_str().into(),
            dlx.as_str().into(),
            spec.queue.as_str().into(),
            QueueBindOptions::default(),
            FieldTable::default(),
        )
        .await?;
    let args = quorum(&[
        (
            "x-delivery-limit",
            AMQPValue::LongInt(i32::try_from(spec.delivery_limit).unwrap_or(5)),
        ),
        (
            "x-dead-letter-exchange",
            AMQPValue::LongString(dlx.as_str().into()),
        ),
        (
            "x-dead-letter-routing-key",
            AMQPValue::LongString(spec.queue.as_str().into()),
        ),
        (
            "x-dead-letter-strategy",
            AMQPValue::LongString("at-least-once".into()),
        ),
        ("x-overflow", AMQPValue::LongString("reject-publish".into())),
    ]);
    channel
        .queue_declare(spec.queue.as_str().into(), queue_opts, args)
        .await?;
    for key in &spec.bindings {
        channel
            .queue_bind(
                spec.queue.as_str().into(),
                exchange.into(),
                key.as_str().into(),
                QueueBindOptions::default(),
                FieldTable::default(),
            )
            .await?;
    }
    Ok(())
}
