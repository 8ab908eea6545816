//! RabbitMQ: one connection per process (re-established after a broker restart), the
//! exchanges, and a confirm-mode publisher.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use attend_events::{
    CLOUDEVENTS_SPEC_VERSION, CONTENT_TYPE_PROTOBUF, DEAD_LETTER_EXCHANGE, EVENTS_EXCHANGE,
};
use lapin::options::{BasicPublishOptions, ConfirmSelectOptions, ExchangeDeclareOptions};
use lapin::types::{AMQPValue, FieldTable, LongString, ShortString};
use lapin::{BasicProperties, Channel, Connection, ConnectionProperties, ExchangeKind};
use tokio::sync::Mutex;
use uuid::Uuid;

use crate::config::Secret;

/// The process's broker connection and the name prefix that isolates tests.
#[derive(Clone)]
pub struct Broker {
    inner: Arc<BrokerInner>,
}

struct BrokerInner {
    url: Secret,
    prefix: String,
    connection_name: String,
    connection: Mutex<Option<Arc<Connection>>>,
}

impl Broker {
    /// Connects to `url`, retrying for up to `patience` (a broker may still be starting).
    pub async fn connect(
        url: &Secret,
        prefix: &str,
        connection_name: &str,
        patience: Duration,
    ) -> anyhow::Result<Self> {
        let broker = Self {
            inner: Arc::new(BrokerInner {
                url: url.clone(),
                prefix: prefix.to_owned(),
                connection_name: connection_name.to_owned(),
                connection: Mutex::new(None),
            }),
        };
        let deadline = tokio::time::Instant::now() + patience;
        loop {
            match broker.connection().await {
                Ok(_) => return Ok(broker),
                Err(error) if tokio::time::Instant::now() < deadline => {
                    tracing::warn!(error.message = %error, "broker not reachable yet, retrying");
                    tokio::time::sleep(Duration::from_millis(500)).await;
                }
                Err(error) => return Err(error),
            }
        }
    }

    /// Returns the full name of an exchange or queue: the prefix, then `base`.
    pub fn name(&self, base: &str) -> String {
        format!("{}{}", self.inner.prefix, base)
    }

    /// Returns the events exchange's name.
    pub fn events_exchange(&self) -> String {
        self.name(EVENTS_EXCHANGE)
    }

    /// Returns the dead-letter exchange's name.
    pub fn dead_letter_exchange(&self) -> String {
        self.name(DEAD_LETTER_EXCHANGE)
    }

    /// Returns the live connection, connecting again if the previous one was lost.
    pub async fn connection(&self) -> anyhow::Result<Arc<Connection>> {
        let mut slot = self.inner.connection.lock().await;
        if let Some(connection) = slot.as_ref()
            && connection.status().connected()
        {
            return Ok(connection.clone());
        }
        let properties = ConnectionProperties::default()
            .with_connection_name(LongString::from(self.inner.connection_name.clone()));
        let connection = Connection::connect(self.inner.url.expose(), properties)
            .await
            .context("failed to connect to rabbitmq")?;
        let connection = Arc::new(connection);
        *slot = Some(connection.clone());
        tracing::info!(connection = %self.inner.connection_name, "connected to rabbitmq");
        Ok(connection)
    }

    /// Opens a new channel on the live connection.
    pub async fn channel(&self) -> anyhow::Result<Channel> {
        let connection = self.connection().await?;
        connection
            .create_channel()
            .await
            .context("failed to open an amqp channel")
    }

    /// Returns whether the connection is currently up (for readiness).
    pub async fn is_connected(&self) -> bool {
        let slot = self.inner.connection.lock().await;
        slot.as_ref()
            .is_some_and(|connection| connection.status().connected())
    }

    /// Declares the durable topic exchanges every service publishes to or dead-letters into.
    pub async fn declare_exchanges(&self, channel: &Channel) -> anyhow::Result<()> {
        let durable = ExchangeDeclareOptions {
            durable: true,
            ..Default::default()
        };
        for exchange in [self.events_exchange(), self.dead_letter_exchange()] {
            channel
                .exchange_declare(
                    exchange.as_str().into(),
                    ExchangeKind::Topic,
                    durable,
                    FieldTable::default(),
                )
                .await
                .with_context(|| format!("failed to declare exchange {exchange}"))?;
        }
        Ok(())
    }

    /// Closes the connection, if open.
    pub async fn close(&self) {
        let mut slot = self.inner.connection.lock().await;
        if let Some(connection) = slot.take()
            && connection.status().connected()
        {
            let _ = connection.close(200, "service stopping".into()).await;
        }
    }
}

/// One event ready to publish: the envelope fields and the encoded body.
#[derive(Debug, Clone)]
pub struct OutgoingEvent {
    /// Event id (UUIDv7), sent as `message_id`.
    pub id: Uuid,
    /// CloudEvents type, sent as the AMQP `type` property.
    pub event_type: String,
    /// Routing key on the events exchange.
    pub routing_key: String,
    /// Tenant the event belongs to, if any.
    pub tenant_id: Option<Uuid>,
    /// Protobuf-encoded body.
    pub payload: Vec<u8>,
    /// W3C trace context of the transaction that wrote the event.
    pub traceparent: Option<String>,
    /// When the event occurred, in milliseconds since the epoch.
    pub occurred_at_millis: i64,
}

/// What the broker said about one published event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PublishOutcome {
    /// Routed to at least one queue and confirmed.
    Confirmed,
    /// No queue is bound for its routing key: the broker returned it.
    Unroutable,
    /// The broker refused it (nack).
    Refused,
}

/// A channel in confirm mode that publishes persistent, mandatory events.
pub struct Publisher {
    channel: Channel,
    exchange: String,
    source: String,
}

impl Publisher {
    /// Opens a confirm-mode channel and declares the exchanges. `source` is the CloudEvents
    /// source, e.g. `/booking-service`.
    pub async fn open(broker: &Broker, source: &str) -> anyhow::Result<Self> {
        let channel = broker.channel().await?;
        channel
            .confirm_select(ConfirmSelectOptions::default())
            .await
            .context("failed to enable publisher confirms")?;
        broker.declare_exchanges(&channel).await?;
        Ok(Self {
            channel,
            exchange: broker.events_exchange(),
            source: source.to_owned(),
        })
    }

    /// Returns whether the channel can still publish.
    pub fn is_open(&self) -> bool {
        self.channel.status().connected()
    }

    /// Publishes every event, then waits for all confirms; returns one outcome per event.
    ///
    /// Publishing the whole batch before awaiting confirms keeps the broker's round trip off
    /// the per-event path.
    pub async fn publish_all(
        &self,
        events: &[OutgoingEvent],
    ) -> anyhow::Result<Vec<PublishOutcome>> {
        let mut pending_confirms = Vec::with_capacity(events.len());
        for event in events {
            let confirm = self
                .channel
                .basic_publish(
                    self.exchange.as_str().into(),
                    event.routing_key.as_str().into(),
                    BasicPublishOptions {
                        mandatory: true,
                        ..Default::default()
                    },
                    &event.payload,
                    self.properties(event),
                )
                .await
                .context("failed to publish an event")?;
            pending_confirms.push(confirm);
        }
        let mut outcomes = Vec::with_capacity(events.len());
        for confirm in pending_confirms {
            let confirmation = confirm
                .await
                .context("failed to receive a publisher confirm")?;
            let outcome = if confirmation.is_nack() {
                PublishOutcome::Refused
            } else if confirmation.take_message().is_some() {
                PublishOutcome::Unroutable
            } else {
                PublishOutcome::Confirmed
            };
            outcomes.push(outcome);
        }
        Ok(outcomes)
    }

    fn properties(&self, event: &OutgoingEvent) -> BasicProperties {
        let mut headers = FieldTable::default();
        headers.insert(
            "cloudEvents:specversion".into(),
            AMQPValue::LongString(CLOUDEVENTS_SPEC_VERSION.into()),
        );
        headers.insert(
            "cloudEvents:source".into(),
            AMQPValue::LongString(self.source.as_str().into()),
        );
        if let Some(tenant_id) = event.tenant_id {
            headers.insert(
                "tenant_id".into(),
                AMQPValue::LongString(tenant_id.to_string().into()),
            );
        }
        if let Some(traceparent) = &event.traceparent {
            headers.insert(
                "traceparent".into(),
                AMQPValue::LongString(traceparent.as_str().into()),
            );
        }
        let timestamp_seconds = u64::try_from(event.occurred_at_millis / 1000).unwrap_or(0);
        BasicProperties::default()
            .with_message_id(ShortString::from(event.id.to_string()))
            .with_type(ShortString::from(event.event_type.clone()))
            .with_content_type(CONTENT_TYPE_PROTOBUF.into())
            .with_delivery_mode(2)
            .with_timestamp(timestamp_seconds)
            .with_headers(headers)
    }
}

/// Returns a header's string value, if present and textual.
pub fn header_string(headers: Option<&FieldTable>, name: &str) -> Option<String> {
    let value = headers?.inner().get(name)?;
    match value {
        AMQPValue::LongString(text) => Some(text.to_string()),
        AMQPValue::ShortString(text) => Some(text.to_string()),
        _ => None,
    }
}
