//! The inbox consumer loop: an event is applied and its id recorded in `inbox` in one
//! transaction, and acknowledged only after that commit. A redelivered event finds its id in
//! the inbox and is acknowledged without effect; a poison event goes to the dead-letter queue.
//!
//! A queue with a `batch_size` above 1 applies the deliveries that are ready together in one
//! transaction: one inbox insert for all of them, their handlers in delivery order, one
//! commit, then the acks. If anything in the batch fails, the transaction rolls back as a
//! whole and each delivery is applied again on its own, so a poison event or a transient
//! failure is settled exactly as it would be without batching.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use diesel::prelude::*;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use futures_util::StreamExt;
use futures_util::future::BoxFuture;
use lapin::message::Delivery;
use lapin::options::{
    BasicAckOptions, BasicCancelOptions, BasicConsumeOptions, BasicNackOptions, BasicQosOptions,
    BasicRejectOptions, QueueBindOptions, QueueDeclareOptions,
};
use lapin::types::{AMQPValue, FieldTable};
use tokio_util::sync::CancellationToken;
use tracing::Instrument;
use uuid::Uuid;

use crate::amqp::{Broker, header_string};
use crate::db::DbPool;
use crate::metrics::Metrics;
use crate::schema::inbox;
use crate::telemetry;

/// How long a transient failure is retried in-process before the delivery is requeued.
const TRANSIENT_RETRY_BUDGET: Duration = Duration::from_secs(60);

/// An event as delivered to a handler.
#[derive(Debug, Clone)]
pub struct IncomingEvent {
    /// The event id (`message_id`).
    pub id: Uuid,
    /// The CloudEvents type (`type` property).
    pub event_type: String,
    /// The routing key it was published with.
    pub routing_key: String,
    /// The tenant, from the `tenant_id` header.
    pub tenant_id: Option<Uuid>,
    /// The protobuf body.
    pub payload: Vec<u8>,
}

impl IncomingEvent {
    /// Decodes the body as `T`; a body that does not decode is a permanent error.
    pub fn decode<T: prost::Message + Default>(&self) -> Result<T, HandlerError> {
        T::decode(self.payload.as_slice()).map_err(|error| {
            HandlerError::Permanent(anyhow::anyhow!(
                "undecodable {} body: {error}",
                self.event_type
            ))
        })
    }
}

/// How applying an event failed.
#[derive(Debug, thiserror::Error)]
pub enum HandlerError {
    /// Might work later (database or network trouble): the event is redelivered.
    #[error("transient: {0:#}")]
    Transient(anyhow::Error),
    /// Will never work (malformed event): the event goes to the dead-letter queue.
    #[error("permanent: {0:#}")]
    Permanent(anyhow::Error),
}

impl HandlerError {
    /// Returns a permanent error with `message`.
    pub fn permanent(message: impl std::fmt::Display) -> Self {
        Self::Permanent(anyhow::anyhow!("{message}"))
    }
}

impl From<diesel::result::Error> for HandlerError {
    fn from(error: diesel::result::Error) -> Self {
        Self::Transient(error.into())
    }
}

/// Applies events of one queue. Runs inside the transaction that records the event in the
/// inbox, so everything it writes commits, or rolls back, together with that record.
pub trait EventHandler: Send + Sync + 'static {
    /// Applies `event` on `connection`.
    fn handle<'a>(
        &'a self,
        connection: &'a mut AsyncPgConnection,
        event: &'a IncomingEvent,
    ) -> BoxFuture<'a, Result<(), HandlerError>>;

    /// Runs after the transaction committed, e.g. to wake a worker. Does nothing by default.
    fn after_commit(&self, _event: &IncomingEvent) {}
}

/// A consumer's queue and what it subscribes to.
#[derive(Debug, Clone)]
pub struct ConsumerSpec {
    /// Queue name without prefix, e.g. `scheduler.appointments`.
    pub queue: &'static str,
    /// Routing keys bound on the events exchange.
    pub routing_keys: Vec<&'static str>,
    /// Unacknowledged deliveries the broker may push at once.
    pub prefetch: u16,
    /// Events (or batches) applied at once; 1 keeps the queue's order.
    pub concurrency: usize,
    /// Deliveries, among those already received, applied in one transaction; 1 gives each
    /// its own. Batches keep the delivery order, so an ordered queue stays ordered.
    pub batch_size: usize,
    /// Deliveries after which a message is dead-lettered (quorum queue `x-delivery-limit`).
    pub delivery_limit: u32,
    /// Routing keys an earlier version bound this queue to and that now belong to another
    /// queue: unbound at declare, or the old binding would go on copying their events here.
    pub retired_routing_keys: Vec<&'static str>,
}

impl ConsumerSpec {
    /// Returns a spec with ordered processing, prefetch 32 and a delivery limit of 5.
    pub fn new(queue: &'static str, routing_keys: Vec<&'static str>) -> Self {
        Self {
            queue,
            routing_keys,
            prefetch: 32,
            concurrency: 1,
            batch_size: 1,
            delivery_limit: 5,
            retired_routing_keys: Vec::new(),
        }
    }
}

/// Consumes one queue with inbox deduplication.
#[derive(Clone)]
pub struct EventConsumer {
    spec: ConsumerSpec,
    broker: Broker,
    pool: DbPool,
    handler: Arc<dyn EventHandler>,
    metrics: Metrics,
}

/// What became of one delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Disposition {
    Applied,
    Duplicate,
    Retry,
    DeadLetter,
}

impl EventConsumer {
    /// Returns a consumer of `spec` applying events with `handler`.
    pub fn new(
        spec: ConsumerSpec,
        broker: Broker,
        pool: DbPool,
        handler: Arc<dyn EventHandler>,
        metrics: Metrics,
    ) -> Self {
        Self {
            spec,
            broker,
            pool,
            handler,
            metrics,
        }
    }

    /// Returns the queue's full name.
    pub fn queue_name(&self) -> String {
        self.broker.name(self.spec.queue)
    }

    /// Declares the queue (quorum, dead-lettering to the DLX with a delivery limit), its DLQ,
    /// and its bindings. Idempotent; runs at start-up so events published from then on are
    /// kept even before the first delivery.
    pub async fn declare(&self) -> anyhow::Result<()> {
        let channel = self.broker.channel().await?;
        self.declare_on(&channel).await?;
        let _ = channel.close(200, "declared".into()).await;
        Ok(())
    }

    async fn declare_on(&self, channel: &lapin::Channel) -> anyhow::Result<()> {
        self.broker.declare_exchanges(channel).await?;
        let queue = self.queue_name();
        let dead_letter_queue = format!("{queue}.dlq");
        let durable = QueueDeclareOptions {
            durable: true,
            ..Default::default()
        };

        let mut dlq_arguments = FieldTable::default();
        dlq_arguments.insert(
            "x-queue-type".into(),
            AMQPValue::LongString("quorum".into()),
        );
        channel
            .queue_declare(dead_letter_queue.as_str().into(), durable, dlq_arguments)
            .await
            .with_context(|| format!("failed to declare {dead_letter_queue}"))?;
        channel
            .queue_bind(
                dead_letter_queue.as_str().into(),
                self.broker.dead_letter_exchange().as_str().into(),
                queue.as_str().into(),
                QueueBindOptions::default(),
                FieldTable::default(),
            )
            .await
            .context("failed to bind the dead-letter queue")?;

        let mut arguments = FieldTable::default();
        arguments.insert(
            "x-queue-type".into(),
            AMQPValue::LongString("quorum".into()),
        );
        arguments.insert(
            "x-dead-letter-exchange".into(),
            AMQPValue::LongString(self.broker.dead_letter_exchange().as_str().into()),
        );
        arguments.insert(
            "x-dead-letter-routing-key".into(),
            AMQPValue::LongString(queue.as_str().into()),
        );
        arguments.insert(
            "x-delivery-limit".into(),
            AMQPValue::LongLongInt(i64::from(self.spec.delivery_limit)),
        );
        channel
            .queue_declare(queue.as_str().into(), durable, arguments)
            .await
            .with_context(|| format!("failed to declare {queue}"))?;
        for routing_key in &self.spec.routing_keys {
            channel
                .queue_bind(
                    queue.as_str().into(),
                    self.broker.events_exchange().as_str().into(),
                    (*routing_key).into(),
                    QueueBindOptions::default(),
                    FieldTable::default(),
                )
                .await
                .with_context(|| format!("failed to bind {queue} to {routing_key}"))?;
        }
        // RabbitMQ answers unbind-ok for a binding that does not exist, so this is idempotent.
        for routing_key in &self.spec.retired_routing_keys {
            channel
                .queue_unbind(
                    queue.as_str().into(),
                    self.broker.events_exchange().as_str().into(),
                    (*routing_key).into(),
                    FieldTable::default(),
                )
                .await
                .with_context(|| format!("failed to unbind {queue} from {routing_key}"))?;
        }
        Ok(())
    }

    /// Consumes until `cancel` fires, reconnecting with backoff after broker failures. On
    /// cancel it stops taking deliveries, finishes the ones in hand, and returns.
    pub async fn run(self, cancel: CancellationToken) -> anyhow::Result<()> {
        let mut backoff = Duration::from_millis(200);
        while !cancel.is_cancelled() {
            match self.consume(&cancel).await {
                Ok(()) => backoff = Duration::from_millis(200),
                Err(error) => {
                    tracing::warn!(queue = self.spec.queue, error.message = %error, error.cause_chain = ?error, "consumer stopped, reconnecting");
                    tokio::select! {
                        _ = cancel.cancelled() => break,
                        _ = tokio::time::sleep(backoff) => {},
                    }
                    backoff = (backoff * 2).min(Duration::from_secs(5));
                }
            }
        }
        Ok(())
    }

    async fn consume(&self, cancel: &CancellationToken) -> anyhow::Result<()> {
        let channel = self.broker.channel().await?;
        self.declare_on(&channel).await?;
        channel
            .basic_qos(self.spec.prefetch, BasicQosOptions::default())
            .await
            .context("failed to set prefetch")?;
        let consumer_tag = format!("{}-{}", self.spec.queue, Uuid::new_v4().simple());
        let deliveries = channel
            .basic_consume(
                self.queue_name().as_str().into(),
                consumer_tag.as_str().into(),
                BasicConsumeOptions::default(),
                FieldTable::default(),
            )
            .await
            .context("failed to start consuming")?;
        tracing::info!(queue = %self.queue_name(), "consuming");

        let broken = std::sync::atomic::AtomicBool::new(false);
        // `ready_chunks` never waits to fill a batch: it takes what has arrived, so a quiet
        // queue still applies each event as soon as it comes.
        deliveries
            .take_until(cancel.cancelled())
            .ready_chunks(self.spec.batch_size.max(1))
            .for_each_concurrent(self.spec.concurrency.max(1), |received| async {
                let mut batch = Vec::with_capacity(received.len());
                for delivery in received {
                    match delivery {
                        Ok(delivery) => batch.push(delivery),
                        Err(error) => {
                            tracing::warn!(error.message = %error, "delivery stream failed");
                            std::sync::atomic::AtomicBool::store(
                                &broken,
                                true,
                                std::sync::atomic::Ordering::Relaxed,
                            );
                        }
                    }
                }
                self.process_batch(batch).await;
            })
            .await;

        if std::sync::atomic::AtomicBool::load(&broken, std::sync::atomic::Ordering::Relaxed)
            && !cancel.is_cancelled()
        {
            anyhow::bail!("the delivery stream of {} broke", self.spec.queue);
        }
        // Deliveries prefetched but not taken return to the queue when the channel closes.
        let _ = channel
            .basic_cancel(consumer_tag.as_str().into(), BasicCancelOptions::default())
            .await;
        let _ = channel.close(200, "consumer stopping".into()).await;
        if cancel.is_cancelled() {
            return Ok(());
        }
        anyhow::bail!(
            "the consumer of {} was cancelled by the broker",
            self.spec.queue
        )
    }

    /// Applies `batch` in one transaction, or each of its deliveries on its own when it holds
    /// one or the batch's transaction fails.
    async fn process_batch(&self, batch: Vec<Delivery>) {
        let mut received = Vec::with_capacity(batch.len());
        for delivery in batch {
            match parse_delivery(&delivery) {
                Ok(event) => {
                    let span = consume_span(self.spec.queue, &delivery, &event);
                    received.push((delivery, event, span));
                }
                Err(error) => self.reject_malformed(delivery, &error).await,
            }
        }
        if received.len() > 1 {
            match self.apply_batch(&received).await {
                Ok(applied) => {
                    for ((delivery, event, span), applied) in received.into_iter().zip(applied) {
                        let disposition = if applied {
                            self.handler.after_commit(&event);
                            Disposition::Applied
                        } else {
                            tracing::debug!(parent: &span, "event already applied, acknowledging without effect");
                            Disposition::Duplicate
                        };
                        self.settle(delivery, disposition).instrument(span).await;
                    }
                    return;
                }
                Err(error) => {
                    // Nothing of the batch was committed: each event gets its own transaction,
                    // retries and dead-lettering, in the order they came.
                    tracing::info!(queue = self.spec.queue, events = received.len(), error.message = %error, "a batch failed, applying its events one by one");
                }
            }
        }
        for (delivery, event, span) in received {
            let disposition = self
                .apply_with_retries(&event)
                .instrument(span.clone())
                .await;
            self.settle(delivery, disposition).instrument(span).await;
        }
    }

    async fn reject_malformed(&self, delivery: Delivery, error: &anyhow::Error) {
        tracing::error!(queue = self.spec.queue, error.message = %error, "malformed delivery, dead-lettering");
        self.metrics.event_consumed(self.spec.queue, "dead_letter");
        let _ = delivery
            .acker
            .reject(BasicRejectOptions { requeue: false })
            .await;
    }

    /// Acknowledges, requeues or dead-letters `delivery` as `disposition` says, and counts it.
    /// Callers instrument it with the event's span rather than entering the span: an `enter()`
    /// guard held across the awaits would leave the span current on whichever worker thread
    /// the task leaves behind, and spans of other tasks there would take a closed span as
    /// their parent.
    async fn settle(&self, delivery: Delivery, disposition: Disposition) {
        let acked = match disposition {
            Disposition::Applied | Disposition::Duplicate => {
                delivery.acker.ack(BasicAckOptions::default()).await
            }
            Disposition::Retry => {
                // A short pause keeps a failing dependency from turning into a hot loop; the
                // queue's delivery limit ends it in the dead-letter queue eventually.
                tokio::time::sleep(Duration::from_millis(250)).await;
                delivery
                    .acker
                    .nack(BasicNackOptions {
                        requeue: true,
                        ..Default::default()
                    })
                    .await
            }
            Disposition::DeadLetter => {
                delivery
                    .acker
                    .reject(BasicRejectOptions { requeue: false })
                    .await
            }
        };
        if let Err(error) = acked {
            // The broker redelivers an unacknowledged event; the inbox absorbs it.
            tracing::warn!(error.message = %error, "failed to settle a delivery");
        }
        let label = match disposition {
            Disposition::Applied => "applied",
            Disposition::Duplicate => "duplicate",
            Disposition::Retry => "retry",
            Disposition::DeadLetter => "dead_letter",
        };
        self.metrics.event_consumed(self.spec.queue, label);
    }

    /// Records the batch's events in the inbox with one insert and applies the new ones in
    /// order, all in one transaction. Returns, per event, whether it was applied (`false`:
    /// the inbox already had it, or it came twice in this batch).
    async fn apply_batch(
        &self,
        received: &[(Delivery, IncomingEvent, tracing::Span)],
    ) -> Result<Vec<bool>, anyhow::Error> {
        let mut connection = self
            .pool
            .get()
            .await
            .context("no database connection for the batch")?;
        let handler = self.handler.clone();
        let applied = connection
            .transaction::<Vec<bool>, HandlerError, _>(async |connection| {
                let rows: Vec<_> = received
                    .iter()
                    .map(|(_, event, _)| {
                        (
                            inbox::message_id.eq(event.id),
                            inbox::event_type.eq(&event.event_type),
                        )
                    })
                    .collect();
                let mut new_ids: HashSet<Uuid> = diesel::insert_into(inbox::table)
                    .values(&rows)
                    .on_conflict_do_nothing()
                    .returning(inbox::message_id)
                    .get_results(connection)
                    .await?
                    .into_iter()
                    .collect();
                let mut applied = Vec::with_capacity(received.len());
                for (_, event, span) in received {
                    let is_new = new_ids.remove(&event.id);
                    if is_new {
                        handler
                            .handle(connection, event)
                            .instrument(span.clone())
                            .await?;
                    }
                    applied.push(is_new);
                }
                Ok(applied)
            })
            .await;
        applied.map_err(|error| match error {
            HandlerError::Transient(error) | HandlerError::Permanent(error) => error,
        })
    }

    /// Applies the event, retrying transient failures in-process with backoff (250 ms doubling
    /// to 5 s, about a minute in all) before giving it back to the broker. A database restart
    /// must not use up the delivery limit that is meant for poison messages.
    async fn apply_with_retries(&self, event: &IncomingEvent) -> Disposition {
        let mut pause = Duration::from_millis(250);
        let mut waited = Duration::ZERO;
        loop {
            let disposition = self.apply(event).await;
            if disposition != Disposition::Retry || waited >= TRANSIENT_RETRY_BUDGET {
                return disposition;
            }
            tokio::time::sleep(pause).await;
            waited += pause;
            pause = (pause * 2).min(Duration::from_secs(5));
        }
    }

    /// Records the event in the inbox and applies it, in one transaction.
    async fn apply(&self, event: &IncomingEvent) -> Disposition {
        let mut connection = match self.pool.get().await {
            Ok(connection) => connection,
            Err(error) => {
                tracing::warn!(error.message = %error, "no database connection, will retry");
                return Disposition::Retry;
            }
        };
        let handler = self.handler.clone();
        let outcome = connection
            .transaction::<bool, HandlerError, _>(async |connection| {
                let inserted = diesel::insert_into(inbox::table)
                    .values((
                        inbox::message_id.eq(event.id),
                        inbox::event_type.eq(&event.event_type),
                    ))
                    .on_conflict_do_nothing()
                    .execute(connection)
                    .await?;
                if inserted == 0 {
                    return Ok(false);
                }
                handler.handle(connection, event).await?;
                Ok(true)
            })
            .await;
        match outcome {
            Ok(true) => {
                self.handler.after_commit(event);
                Disposition::Applied
            }
            Ok(false) => {
                tracing::debug!("event already applied, acknowledging without effect");
                Disposition::Duplicate
            }
            Err(HandlerError::Transient(error)) => {
                tracing::warn!(error.message = %error, error.cause_chain = ?error, "failed to apply an event, will retry");
                Disposition::Retry
            }
            Err(HandlerError::Permanent(error)) => {
                tracing::error!(error.message = %error, error.cause_chain = ?error, "event cannot be applied, dead-lettering");
                Disposition::DeadLetter
            }
        }
    }
}

/// Returns the span an event is applied and settled in, child of the publisher's trace.
fn consume_span(queue: &'static str, delivery: &Delivery, event: &IncomingEvent) -> tracing::Span {
    let span = tracing::info_span!(
        "consume",
        queue,
        event_type = %event.event_type,
        event_id = %event.id,
    );
    if let Some(traceparent) = header_string(delivery.properties.headers().as_ref(), "traceparent")
    {
        telemetry::set_remote_parent(&span, &traceparent);
    }
    span
}

fn parse_delivery(delivery: &Delivery) -> anyhow::Result<IncomingEvent> {
    let properties = &delivery.properties;
    let id = properties
        .message_id()
        .as_ref()
        .context("message_id is missing")?
        .as_str()
        .parse::<Uuid>()
        .context("message_id is not a uuid")?;
    let event_type = properties
        .kind()
        .as_ref()
        .map(|kind| kind.as_str().to_owned())
        .context("type is missing")?;
    let tenant_id = header_string(properties.headers().as_ref(), "tenant_id")
        .and_then(|raw| raw.parse::<Uuid>().ok());
    Ok(IncomingEvent {
        id,
        event_type,
        routing_key: delivery.routing_key.as_str().to_owned(),
        tenant_id,
        payload: delivery.data.clone(),
    })
}
