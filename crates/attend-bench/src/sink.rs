//! A sink for the events booking-service publishes, standing in for their consumers.
//!
//! The service's outbox relay publishes `appointment.*` events as mandatory messages. With
//! no queue bound (reminder-scheduler is not running), RabbitMQ returns them as unroutable
//! and the relay keeps every one in the outbox, retrying it with backoff and logging two
//! warnings per retry: load that a deployment does not have. The sink is a queue bound to
//! every routing key that keeps nothing (`x-max-length` 0), so each event is routed,
//! confirmed and deleted from the outbox once, as when its consumer runs.

use anyhow::Context;
use lapin::options::{ExchangeDeclareOptions, QueueBindOptions, QueueDeclareOptions};
use lapin::types::{AMQPValue, FieldTable};
use lapin::{Connection, ConnectionProperties, ExchangeKind};

/// The exchange every service publishes to, before the prefix.
const EVENTS_EXCHANGE: &str = "attend.events";

/// A bound sink; the queue is exclusive, so it goes when this is dropped or the process
/// ends.
pub struct EventSink {
    connection: Connection,
    /// The sink queue's name.
    pub queue: String,
}

impl EventSink {
    /// Binds a sink queue to `{prefix}attend.events`, which the service declared at start.
    pub async fn bind(url: &str, prefix: &str) -> anyhow::Result<Self> {
        let connection = Connection::connect(url, ConnectionProperties::default())
            .await
            .context("failed to connect to rabbitmq")?;
        let channel = connection
            .create_channel()
            .await
            .context("failed to open an amqp channel")?;
        let exchange = format!("{prefix}{EVENTS_EXCHANGE}");
        channel
            .exchange_declare(
                exchange.as_str().into(),
                ExchangeKind::Topic,
                ExchangeDeclareOptions {
                    passive: true,
                    ..ExchangeDeclareOptions::default()
                },
                FieldTable::default(),
            )
            .await
            .with_context(|| {
                format!("exchange {exchange} does not exist (wrong --amqp-prefix?)")
            })?;
        let queue = format!("{prefix}bench.events-sink");
        let mut arguments = FieldTable::default();
        arguments.insert("x-max-length".into(), AMQPValue::LongLongInt(0));
        channel
            .queue_declare(
                queue.as_str().into(),
                QueueDeclareOptions {
                    exclusive: true,
                    auto_delete: true,
                    ..QueueDeclareOptions::default()
                },
                arguments,
            )
            .await
            .with_context(|| format!("failed to declare {queue}"))?;
        channel
            .queue_bind(
                queue.as_str().into(),
                exchange.as_str().into(),
                "#".into(),
                QueueBindOptions::default(),
                FieldTable::default(),
            )
            .await
            .with_context(|| format!("failed to bind {queue} to {exchange}"))?;
        Ok(Self { connection, queue })
    }

    /// Closes the connection, which deletes the queue.
    pub async fn close(self) {
        let _ = self.connection.close(200, "benchmark done".into()).await;
    }
}
