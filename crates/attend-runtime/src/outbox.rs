//! The transactional outbox: a state change and the event it causes are written in one
//! transaction; a relay publishes the rows with publisher confirms and deletes them only after
//! the broker has confirmed them.

use std::time::Duration;

use anyhow::Context;
use attend_events::Event;
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use futures_util::StreamExt;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::amqp::{Broker, OutgoingEvent, PublishOutcome, Publisher};
use crate::db::{DbPool, SchemaName};
use crate::metrics::Metrics;
use crate::schema::outbox;
use crate::telemetry;

#[derive(Insertable)]
#[diesel(table_name = outbox)]
struct NewOutboxRow<'a> {
    id: Uuid,
    event_type: &'a str,
    routing_key: &'a str,
    tenant_id: Option<Uuid>,
    payload: Vec<u8>,
    traceparent: Option<String>,
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = outbox, check_for_backend(diesel::pg::Pg))]
struct OutboxRow {
    id: Uuid,
    event_type: String,
    routing_key: String,
    tenant_id: Option<Uuid>,
    payload: Vec<u8>,
    traceparent: Option<String>,
    occurred_at: DateTime<Utc>,
    attempts: i32,
}

/// Writes `event` to the outbox on `connection`, which should be inside the transaction that
/// makes the state change. Returns the event id. The outbox trigger notifies the relay when
/// the transaction commits ([`RelayWake::Notify`]).
pub async fn enqueue<E: Event>(
    connection: &mut AsyncPgConnection,
    tenant_id: Option<Uuid>,
    event: &E,
) -> QueryResult<Uuid> {
    enqueue_with(connection, tenant_id, event, RelayWake::Notify).await
}

/// How the relay learns that a transaction wrote outbox rows.
///
/// `NOTIFY` is cheap for one transaction but serialises all of them: Postgres takes a
/// database-wide lock in `PreCommit_Notify` and holds it through the commit's WAL flush, so
/// only one notifying transaction commits at a time (measured on the 2-core bench machine at
/// 32 clients: 8,720 one-`INSERT` transactions/s without, 1,659/s with a notifying trigger;
/// docs/benchmarks.md, "pgbench ceiling"). A writer whose process runs the relay can wake it
/// in-process instead, after its commit, and no commit waits for another.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RelayWake {
    /// The outbox trigger sends `NOTIFY` at commit; every relay of the schema listening
    /// (any process) wakes. For writers that cannot wake a relay themselves.
    Notify,
    /// The trigger stays silent for this transaction; the caller promises to call
    /// [`RelayWaker::wake`] after the transaction commits. If it does not (or crashes
    /// between commit and wake), nothing is lost: the relay's poll finds the rows.
    InProcess,
}

/// Like [`enqueue`], telling the outbox trigger how the relay is woken (see [`RelayWake`]).
///
/// It takes the connection by shared reference so that a caller can pipeline it with the
/// other writes of its transaction (diesel-async sends futures polled together on one
/// connection without waiting for each answer). Postgres runs them in the order their
/// executions are issued, which for a statement not yet prepared on the connection is after
/// its prepare has answered: pipeline only writes whose order does not matter.
pub async fn enqueue_with<E: Event>(
    mut connection: &AsyncPgConnection,
    tenant_id: Option<Uuid>,
    event: &E,
    wake: RelayWake,
) -> QueryResult<Uuid> {
    let id = Uuid::now_v7();
    let row = NewOutboxRow {
        id,
        event_type: E::TYPE,
        routing_key: event.routing_key(),
        tenant_id,
        payload: event.encode_to_vec(),
        traceparent: telemetry::current_traceparent(),
    };
    match wake {
        RelayWake::Notify => {
            diesel::insert_into(outbox::table)
                .values(row)
                .execute(&mut connection)
                .await?;
        }
        RelayWake::InProcess => insert_without_notify(connection, row).await?,
    }
    Ok(id)
}

/// Inserts `row` after setting `attend.outbox_wake` to `in_process` for the rest of the
/// transaction, in the same statement (no extra round trip): the outbox trigger (migration
/// `00000000000001_outbox_wake_in_process`) then skips `pg_notify`. The setting is local to
/// the transaction, so a later transaction on this pooled connection notifies again.
async fn insert_without_notify(
    mut connection: &AsyncPgConnection,
    row: NewOutboxRow<'_>,
) -> QueryResult<()> {
    use diesel::sql_types::{Binary, Nullable, Text};
    crate::prepared::PreparedSql::new(
        "INSERT INTO outbox (id, event_type, routing_key, tenant_id, payload, traceparent) \
         SELECT $1, $2, $3, $4, $5, $6 \
         WHERE set_config('attend.outbox_wake', 'in_process', true) IS NOT NULL",
    )
    .bind::<diesel::sql_types::Uuid, _>(row.id)
    .bind::<Text, _>(row.event_type)
    .bind::<Text, _>(row.routing_key)
    .bind::<Nullable<diesel::sql_types::Uuid>, _>(row.tenant_id)
    .bind::<Binary, _>(row.payload)
    .bind::<Nullable<Text>, _>(row.traceparent)
    .execute(&mut connection)
    .await?;
    Ok(())
}

/// Wakes a relay of this process: what writers using [`RelayWake::InProcess`] call after
/// their transaction commits. Cheap to clone and to call; wake-ups that arrive while the
/// relay is busy collapse into one more drain.
#[derive(Debug, Clone, Default)]
pub struct RelayWaker(std::sync::Arc<tokio::sync::Notify>);

impl RelayWaker {
    /// Tells the relay that committed rows are waiting.
    pub fn wake(&self) {
        // notify_one keeps one permit when the relay is not waiting yet (it is draining),
        // so a commit during a drain is never missed.
        self.0.notify_one();
    }

    async fn woken(&self) {
        self.0.notified().await;
    }
}

/// An event to write with [`enqueue_all`]: encoded, with the trace context current when it
/// was made (so each event of a batch continues its own trace).
pub struct PendingEvent {
    event_type: &'static str,
    routing_key: &'static str,
    tenant_id: Option<Uuid>,
    payload: Vec<u8>,
    traceparent: Option<String>,
}

impl PendingEvent {
    /// Encodes `event`, taking the current span's trace context.
    pub fn new<E: Event>(tenant_id: Option<Uuid>, event: &E) -> Self {
        Self {
            event_type: E::TYPE,
            routing_key: event.routing_key(),
            tenant_id,
            payload: event.encode_to_vec(),
            traceparent: telemetry::current_traceparent(),
        }
    }
}

/// Rows per INSERT of [`enqueue_all`]: 6 binds a row stays far below Postgres's 65,535.
const ENQUEUE_CHUNK: usize = 1_000;

/// Writes `events` to the outbox like [`enqueue`], in one multi-row INSERT per 1,000 events
/// instead of one round trip each: a dispatch round of 500 reminders spent most of its time
/// on those round trips. Returns how many rows were written.
pub async fn enqueue_all(
    connection: &mut AsyncPgConnection,
    events: &[PendingEvent],
) -> QueryResult<usize> {
    let mut written = 0;
    for chunk in events.chunks(ENQUEUE_CHUNK) {
        let rows: Vec<NewOutboxRow<'_>> = chunk
            .iter()
            .map(|event| NewOutboxRow {
                id: Uuid::now_v7(),
                event_type: event.event_type,
                routing_key: event.routing_key,
                tenant_id: event.tenant_id,
                payload: event.payload.clone(),
                traceparent: event.traceparent.clone(),
            })
            .collect();
        written += diesel::insert_into(outbox::table)
            .values(&rows)
            .execute(connection)
            .await?;
    }
    Ok(written)
}

/// A failure to inject for tests of crash safety.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RelayFault {
    /// Behave normally.
    #[default]
    None,
    /// Publish a batch, then fail before deleting its rows, as a relay killed between the
    /// broker's confirm and its own commit would.
    CrashAfterPublish,
}

/// Publishes outbox rows of one schema.
pub struct OutboxRelay {
    pool: DbPool,
    broker: Broker,
    database_url: String,
    schema: SchemaName,
    source: String,
    metrics: Metrics,
    /// Rows claimed per transaction.
    pub batch_size: i64,
    /// Poll interval covering missed notifications.
    pub poll_interval: Duration,
    /// Fault injection for tests.
    pub fault: RelayFault,
    /// Wakes this relay from writers of this process ([`RelayWake::InProcess`]).
    waker: RelayWaker,
}

impl OutboxRelay {
    /// Returns a relay for `schema` that publishes as CloudEvents source `source`.
    pub fn new(
        pool: DbPool,
        broker: Broker,
        database_url: &str,
        schema: SchemaName,
        source: &str,
        metrics: Metrics,
    ) -> Self {
        Self {
            pool,
            broker,
            database_url: database_url.to_owned(),
            schema,
            source: source.to_owned(),
            metrics,
            batch_size: 500,
            poll_interval: Duration::from_secs(1),
            fault: RelayFault::None,
            waker: RelayWaker::default(),
        }
    }

    /// Returns the handle that wakes this relay after a commit that enqueued with
    /// [`RelayWake::InProcess`].
    pub fn waker(&self) -> RelayWaker {
        self.waker.clone()
    }

    /// Relays until `cancel` fires: drains the outbox whenever a writer of this process wakes
    /// it ([`RelayWaker`]) or Postgres notifies a commit that wrote events (writers that use
    /// [`RelayWake::Notify`], in any process), and at least every `poll_interval`. Broker or database failures are
    /// logged and retried with backoff; nothing is lost because rows stay until confirmed.
    pub async fn run(self, cancel: CancellationToken) -> anyhow::Result<()> {
        let (wake_tx, mut wake_rx) = tokio::sync::mpsc::channel::<()>(1);
        let listener = tokio::spawn(listen_for_commits(
            self.database_url.clone(),
            format!("attend_outbox_{}", self.schema.as_str()),
            wake_tx,
            cancel.clone(),
        ));
        let mut publisher: Option<Publisher> = None;
        let mut backoff = Duration::from_millis(100);
        while !cancel.is_cancelled() {
            let drained = self.drain(&mut publisher).await;
            let wait = match drained {
                Ok(_) => {
                    backoff = Duration::from_millis(100);
                    self.poll_interval
                }
                Err(error) => {
                    publisher = None;
                    tracing::warn!(error.message = %error, error.cause_chain = ?error, "outbox relay failed, retrying");
                    backoff = (backoff * 2).min(Duration::from_secs(5));
                    backoff
                }
            };
            tokio::select! {
                _ = cancel.cancelled() => break,
                _ = wake_rx.recv() => {},
                () = self.waker.woken() => {},
                _ = tokio::time::sleep(wait) => {},
            }
        }
        listener.abort();
        Ok(())
    }

    /// Publishes every ready row, batch after batch; returns how many were published.
    async fn drain(&self, publisher: &mut Option<Publisher>) -> anyhow::Result<usize> {
        let mut total = 0;
        loop {
            if publisher.as_ref().is_none_or(|open| !open.is_open()) {
                *publisher = Some(Publisher::open(&self.broker, &self.source).await?);
            }
            let Some(open) = publisher.as_ref() else {
                continue;
            };
            let published = self.relay_batch(open).await?;
            total += published;
            if published < usize::try_from(self.batch_size).unwrap_or(usize::MAX) {
                return Ok(total);
            }
        }
    }

    /// Claims one batch of ready rows (SKIP LOCKED, so several relays can share the work),
    /// publishes it and, in the same transaction, deletes the confirmed rows and backs off
    /// the rest. Returns how many rows were claimed.
    pub async fn relay_batch(&self, publisher: &Publisher) -> anyhow::Result<usize> {
        let mut connection = self.pool.get().await.context("no database connection")?;
        let batch_size = self.batch_size;
        let fault = self.fault;
        let metrics = self.metrics.clone();
        connection
            .transaction::<usize, anyhow::Error, _>(async move |connection| {
                let rows: Vec<OutboxRow> = outbox::table
                    .filter(outbox::next_attempt_at.le(diesel::dsl::now))
                    .order(outbox::id)
                    .limit(batch_size)
                    .for_update()
                    .skip_locked()
                    .select(OutboxRow::as_select())
                    .load(connection)
                    .await
                    .context("failed to claim outbox rows")?;
                if rows.is_empty() {
                    return Ok(0);
                }
                let events: Vec<OutgoingEvent> = rows.iter().map(to_outgoing).collect();
                let outcomes = publisher.publish_all(&events).await?;
                if fault == RelayFault::CrashAfterPublish {
                    anyhow::bail!("injected fault: crashed after publishing, before marking");
                }
                let mut confirmed = Vec::with_capacity(rows.len());
                for (row, outcome) in rows.iter().zip(&outcomes) {
                    if *outcome == PublishOutcome::Confirmed {
                        confirmed.push(row.id);
                        metrics.event_published(&row.routing_key);
                        continue;
                    }
                    // Unroutable usually means the consuming service has not declared its
                    // queue yet (it is starting); keep the event and try again later.
                    let delay = chrono::Duration::seconds(1_i64 << row.attempts.clamp(0, 6));
                    tracing::warn!(event_id = %row.id, routing_key = %row.routing_key, outcome = ?outcome, "event not accepted by the broker, will retry");
                    diesel::update(outbox::table.find(row.id))
                        .set((
                            outbox::attempts.eq(outbox::attempts + 1),
                            outbox::next_attempt_at.eq(Utc::now() + delay),
                            outbox::last_error.eq(format!("{outcome:?}")),
                        ))
                        .execute(connection)
                        .await
                        .context("failed to back off an outbox row")?;
                }
                diesel::delete(outbox::table.filter(outbox::id.eq_any(&confirmed)))
                    .execute(connection)
                    .await
                    .context("failed to delete published outbox rows")?;
                Ok(rows.len())
            })
            .await
    }
}

fn to_outgoing(row: &OutboxRow) -> OutgoingEvent {
    OutgoingEvent {
        id: row.id,
        event_type: row.event_type.clone(),
        routing_key: row.routing_key.clone(),
        tenant_id: row.tenant_id,
        payload: row.payload.clone(),
        traceparent: row.traceparent.clone(),
        occurred_at_millis: row.occurred_at.timestamp_millis(),
    }
}

/// Holds a dedicated connection on `LISTEN channel` and sends a wake-up for every
/// notification. Reconnects after errors; the relay's poll covers the gap.
async fn listen_for_commits(
    database_url: String,
    channel: String,
    wake: tokio::sync::mpsc::Sender<()>,
    cancel: CancellationToken,
) {
    while !cancel.is_cancelled() {
        if let Err(error) = listen_once(&database_url, &channel, &wake, &cancel).await {
            tracing::debug!(error.message = %error, "outbox listener disconnected, reconnecting");
        }
        tokio::select! {
            _ = cancel.cancelled() => return,
            _ = tokio::time::sleep(Duration::from_secs(1)) => {},
        }
    }
}

async fn listen_once(
    database_url: &str,
    channel: &str,
    wake: &tokio::sync::mpsc::Sender<()>,
    cancel: &CancellationToken,
) -> anyhow::Result<()> {
    let (client, mut connection) = tokio_postgres::connect(database_url, tokio_postgres::NoTls)
        .await
        .context("failed to open the listen connection")?;
    let (notification_tx, mut notification_rx) = tokio::sync::mpsc::unbounded_channel();
    let driver = tokio::spawn(async move {
        let mut messages = futures_util::stream::poll_fn(move |cx| connection.poll_message(cx));
        while let Some(message) = messages.next().await {
            match message {
                Ok(tokio_postgres::AsyncMessage::Notification(_)) => {
                    if notification_tx.send(()).is_err() {
                        break;
                    }
                }
                Ok(_) => {}
                Err(_) => break,
            }
        }
    });
    client
        .batch_execute(&format!("LISTEN {channel}"))
        .await
        .context("failed to listen for outbox commits")?;
    loop {
        tokio::select! {
            _ = cancel.cancelled() => break,
            received = notification_rx.recv() => match received {
                // A full wake channel already holds a pending wake-up; dropping this one is fine.
                Some(()) => { let _ = wake.try_send(()); }
                None => break,
            },
        }
    }
    driver.abort();
    Ok(())
}
