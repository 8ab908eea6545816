//! Crash safety of the outbox relay and the inbox consumer, on real Postgres and RabbitMQ.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use attend_events::{Event, routing_keys, v1};
use attend_runtime::amqp::{Broker, Publisher};
use attend_runtime::consumer::EventConsumer;
use attend_runtime::db::{self, SchemaName};
use attend_runtime::metrics::Metrics;
use attend_runtime::outbox::{self, OutboxRelay, RelayFault, RelayWake};
use attend_runtime::{ConsumerSpec, EventHandler, HandlerError, IncomingEvent, Secret};
use attend_test_support::{TestEnv, wait_until};
use diesel::QueryableByName;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use diesel_migrations::{EmbeddedMigrations, embed_migrations};
use futures_util::future::BoxFuture;
use futures_util::{FutureExt, StreamExt};
use prost::Message;
use tokio_util::sync::CancellationToken;

const MIGRATIONS: EmbeddedMigrations = embed_migrations!("tests/migrations");

/// The reminder id that `RecordingHandler` refuses for good, as a poison event.
const POISON: &str = "poison";

/// Records every event it applies, so the test can count effects; refuses `POISON`.
struct RecordingHandler;

impl EventHandler for RecordingHandler {
    fn handle<'a>(
        &'a self,
        connection: &'a mut AsyncPgConnection,
        event: &'a IncomingEvent,
    ) -> BoxFuture<'a, Result<(), HandlerError>> {
        async move {
            let outcome: v1::ReminderOutcome = event.decode()?;
            if outcome.reminder_id == POISON {
                return Err(HandlerError::permanent("a poison event"));
            }
            diesel::sql_query("INSERT INTO applied (event_id, reminder_id) VALUES ($1, $2)")
                .bind::<diesel::sql_types::Uuid, _>(event.id)
                .bind::<diesel::sql_types::Text, _>(outcome.reminder_id)
                .execute(connection)
                .await?;
            Ok(())
        }
        .boxed()
    }
}

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    count: i64,
}

/// Returns what a `SELECT count(*) AS count ...` query gives; a query that cannot run fails
/// the test.
async fn count(pool: &db::DbPool, sql: &str) -> i64 {
    let Ok(mut connection) = pool.get().await else {
        panic!("no database connection")
    };
    match diesel::sql_query(sql)
        .get_result::<Count>(&mut connection)
        .await
    {
        Ok(row) => row.count,
        Err(error) => panic!("{sql} failed: {error}"),
    }
}

/// One test's database schema (migrated), pool and broker connection.
struct Harness {
    env: TestEnv,
    schema: SchemaName,
    pool: db::DbPool,
    broker: Broker,
}

/// Sets up schema `schema` with the test migrations, a pool of 4 and a broker connection.
async fn harness(schema: &'static str) -> anyhow::Result<Harness> {
    let env = TestEnv::new().await?;
    let schema = SchemaName::new(schema)?;
    db::migrate(&env.database_url, schema, MIGRATIONS).await?;
    let pool = db::connect(&env.database_url, schema, 4).await?;
    let broker = Broker::connect(
        &Secret::new(env.amqp_url.clone()),
        &env.amqp_prefix,
        "test",
        Duration::from_secs(5),
    )
    .await?;
    Ok(Harness {
        env,
        schema,
        pool,
        broker,
    })
}

impl Harness {
    /// Declares `test.observer`, bound to reminder outcomes and recording what it applies
    /// (the queue is cleaned up with the test), and returns its consumer.
    async fn observer(&self, metrics: &Metrics) -> anyhow::Result<EventConsumer> {
        let consumer = EventConsumer::new(
            ConsumerSpec::new("test.observer", vec![routing_keys::REMINDER_OUTCOME]),
            self.broker.clone(),
            self.pool.clone(),
            Arc::new(RecordingHandler),
            metrics.clone(),
        );
        consumer.declare().await?;
        Ok(consumer)
    }

    /// Returns an outbox relay of this harness's schema.
    fn relay(&self, metrics: &Metrics) -> OutboxRelay {
        OutboxRelay::new(
            self.pool.clone(),
            self.broker.clone(),
            &self.env.database_url,
            self.schema,
            "/test",
            metrics.clone(),
        )
    }
}

#[tokio::test]
async fn a_relay_killed_between_publish_and_mark_loses_nothing_and_doubles_nothing() {
    let harness = harness("relaytest").await.unwrap();
    let (pool, broker) = (harness.pool.clone(), harness.broker.clone());
    let metrics = Metrics::new();

    // The consumer's queue (test.observer is cleaned up with the test) and its inbox.
    let consumer = harness.observer(&metrics).await.unwrap();
    let stop = CancellationToken::new();
    let consuming = tokio::spawn(consumer.run(stop.clone()));

    // A state change and its event, in one transaction.
    let event = v1::ReminderOutcome {
        reminder_id: "r-1".into(),
        ..Default::default()
    };
    let mut connection = pool.get().await.unwrap();
    let event_id = connection
        .transaction::<_, diesel::result::Error, _>(async |connection| {
            outbox::enqueue(connection, None, &event).await
        })
        .await
        .unwrap();
    drop(connection);

    let mut relay = harness.relay(&metrics);
    let publisher = Publisher::open(&broker, "/test").await.unwrap();

    // The broker confirmed the event, then the relay "died" before deleting its row.
    relay.fault = RelayFault::CrashAfterPublish;
    assert!(relay.relay_batch(&publisher).await.is_err());
    assert_eq!(
        count(&pool, "SELECT count(*) AS count FROM outbox").await,
        1,
        "the row survives the crash"
    );

    // The restarted relay publishes it again and deletes the row.
    relay.fault = RelayFault::None;
    assert_eq!(relay.relay_batch(&publisher).await.unwrap(), 1);
    assert_eq!(
        count(&pool, "SELECT count(*) AS count FROM outbox").await,
        0
    );

    // Both deliveries arrived; the inbox absorbed the second one.
    wait_until(
        Duration::from_secs(10),
        "both deliveries to be consumed",
        || async {
            let text = metrics.render();
            (text.contains(
                r#"attend_events_consumed_total{queue="test.observer",result="applied"} 1"#,
            ) && text.contains(
                r#"attend_events_consumed_total{queue="test.observer",result="duplicate"} 1"#,
            ))
            .then_some(())
        },
    )
    .await
    .unwrap();
    let applied = format!("SELECT count(*) AS count FROM applied WHERE event_id = '{event_id}'");
    assert_eq!(
        count(&pool, &applied).await,
        1,
        "the effect happened exactly once"
    );
    assert_eq!(v1::ReminderOutcome::TYPE, "attend.reminder.outcome.v1");

    stop.cancel();
    consuming.await.unwrap().unwrap();
    broker.close().await;
    pool.close();
    harness.env.cleanup().await.unwrap();
}

#[tokio::test]
async fn a_notified_relay_publishes_a_committed_event_without_waiting_for_the_poll() {
    let harness = harness("relaytest").await.unwrap();
    let (env, schema) = (&harness.env, harness.schema);
    let (pool, broker) = (harness.pool.clone(), harness.broker.clone());
    // Migrating twice is a no-op (replicas starting together run it under a lock).
    db::migrate(&env.database_url, schema, MIGRATIONS)
        .await
        .unwrap();
    let metrics = Metrics::new();
    let consumer = harness.observer(&metrics).await.unwrap();
    let stop = CancellationToken::new();
    let consuming = tokio::spawn(consumer.run(stop.clone()));
    let mut relay = harness.relay(&metrics);
    // A poll far longer than the test: only LISTEN/NOTIFY can wake the relay in time.
    relay.poll_interval = Duration::from_secs(3600);
    let relaying = tokio::spawn(relay.run(stop.clone()));
    // Let the relay finish its first (empty) drain and start listening.
    tokio::time::sleep(Duration::from_millis(500)).await;

    let mut connection = pool.get().await.unwrap();
    let event = v1::ReminderOutcome {
        reminder_id: "r-2".into(),
        ..Default::default()
    };
    connection
        .transaction::<_, diesel::result::Error, _>(async |connection| {
            outbox::enqueue(connection, None, &event).await
        })
        .await
        .unwrap();
    drop(connection);
    wait_until(
        Duration::from_secs(5),
        "the event to be applied",
        || async {
            (count(
                &pool,
                "SELECT count(*) AS count FROM applied WHERE reminder_id = 'r-2'",
            )
            .await
                == 1)
                .then_some(())
        },
    )
    .await
    .unwrap();

    stop.cancel();
    consuming.await.unwrap().unwrap();
    relaying.await.unwrap().unwrap();
    broker.close().await;
    pool.close();
    harness.env.cleanup().await.unwrap();
}

/// Counts the notifications on `channel` that a dedicated LISTEN connection receives; keep
/// the returned client alive while counting.
async fn listen(
    database_url: &str,
    channel: &str,
) -> Result<(tokio_postgres::Client, Arc<AtomicUsize>), tokio_postgres::Error> {
    let (client, mut connection) =
        tokio_postgres::connect(database_url, tokio_postgres::NoTls).await?;
    let received = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&received);
    tokio::spawn(async move {
        let mut messages = futures_util::stream::poll_fn(move |cx| connection.poll_message(cx));
        while let Some(Ok(message)) = messages.next().await {
            if let tokio_postgres::AsyncMessage::Notification(_) = message {
                counter.fetch_add(1, Ordering::SeqCst);
            }
        }
    });
    client.batch_execute(&format!("LISTEN {channel}")).await?;
    Ok((client, received))
}

#[tokio::test]
async fn an_in_process_wake_publishes_at_once_without_notify() {
    let harness = harness("relaytest").await.unwrap();
    let env = &harness.env;
    let (pool, broker) = (harness.pool.clone(), harness.broker.clone());
    let metrics = Metrics::new();
    let consumer = harness.observer(&metrics).await.unwrap();
    let stop = CancellationToken::new();
    let consuming = tokio::spawn(consumer.run(stop.clone()));
    let mut relay = harness.relay(&metrics);
    // A poll far longer than the test: only a wake-up can make the relay publish in time.
    relay.poll_interval = Duration::from_secs(3600);
    let waker = relay.waker();
    let relaying = tokio::spawn(relay.run(stop.clone()));
    let (_listening, notifications) = listen(&env.database_url, "attend_outbox_relaytest")
        .await
        .unwrap();
    // Let the relay finish its first (empty) drain.
    tokio::time::sleep(Duration::from_millis(500)).await;

    let mut connection = pool.get().await.unwrap();
    for (reminder_id, wake) in [
        ("r-in-process", RelayWake::InProcess),
        ("r-notify", RelayWake::Notify),
    ] {
        let event = v1::ReminderOutcome {
            reminder_id: reminder_id.into(),
            ..Default::default()
        };
        let before = AtomicUsize::load(&notifications, Ordering::SeqCst);
        connection
            .transaction::<_, diesel::result::Error, _>(async |connection| {
                outbox::enqueue_with(connection, None, &event, wake).await
            })
            .await
            .unwrap();
        if wake == RelayWake::InProcess {
            waker.wake();
        }
        let sql =
            format!("SELECT count(*) AS count FROM applied WHERE reminder_id = '{reminder_id}'");
        wait_until(
            Duration::from_secs(5),
            "the event to be applied",
            || async { (count(&pool, &sql).await == 1).then_some(()) },
        )
        .await
        .unwrap();
        // Give a notification, if one was sent, time to arrive.
        tokio::time::sleep(Duration::from_millis(300)).await;
        let sent = AtomicUsize::load(&notifications, Ordering::SeqCst) - before;
        match wake {
            RelayWake::InProcess => assert_eq!(sent, 0, "an in-process wake must not NOTIFY"),
            RelayWake::Notify => assert_eq!(sent, 1, "the trigger notifies other writers' commits"),
        }
    }
    drop(connection);

    stop.cancel();
    consuming.await.unwrap().unwrap();
    relaying.await.unwrap().unwrap();
    broker.close().await;
    pool.close();
    harness.env.cleanup().await.unwrap();
}

#[tokio::test]
async fn a_retired_routing_key_is_unbound_when_the_queue_is_declared_again() {
    let Harness {
        env, pool, broker, ..
    } = harness("retiredtest").await.unwrap();
    let declare = async |spec: ConsumerSpec| {
        EventConsumer::new(
            spec,
            broker.clone(),
            pool.clone(),
            Arc::new(RecordingHandler),
            Metrics::new(),
        )
        .declare()
        .await
        .unwrap();
    };
    // An earlier version bound outcomes here; this one moved them elsewhere.
    declare(ConsumerSpec::new(
        "test.observer",
        vec![routing_keys::REMINDER_OUTCOME],
    ))
    .await;
    declare(ConsumerSpec {
        retired_routing_keys: vec![routing_keys::REMINDER_OUTCOME],
        ..ConsumerSpec::new("test.observer", vec![routing_keys::REMINDER_DUE_VOICE])
    })
    .await;

    let channel = broker.channel().await.unwrap();
    channel
        .confirm_select(lapin::options::ConfirmSelectOptions::default())
        .await
        .unwrap();
    for (routing_key, body) in [
        (routing_keys::REMINDER_OUTCOME, "outcome"),
        (routing_keys::REMINDER_DUE_VOICE, "due"),
    ] {
        channel
            .basic_publish(
                broker.events_exchange().as_str().into(),
                routing_key.into(),
                lapin::options::BasicPublishOptions::default(),
                body.as_bytes(),
                lapin::BasicProperties::default(),
            )
            .await
            .unwrap()
            .await
            .unwrap();
    }
    // Both were routed before their confirms; only the due event may be in the queue.
    let queue = broker.name("test.observer");
    let mut bodies = Vec::new();
    while let Some(message) = channel
        .basic_get(
            queue.as_str().into(),
            lapin::options::BasicGetOptions { no_ack: true },
        )
        .await
        .unwrap()
    {
        bodies.push(String::from_utf8_lossy(&message.delivery.data).into_owned());
    }
    assert_eq!(bodies, vec!["due".to_owned()]);

    let _ = channel.close(200, "done".into()).await;
    env.cleanup().await.unwrap();
}

/// Publishes an outcome for `reminder_id` under `event_id` straight to the events exchange,
/// as a relay would, and waits for the broker's confirm.
async fn publish_outcome(
    channel: &lapin::Channel,
    broker: &Broker,
    event_id: uuid::Uuid,
    reminder_id: &str,
) -> anyhow::Result<()> {
    let body = v1::ReminderOutcome {
        reminder_id: reminder_id.to_owned(),
        ..Default::default()
    }
    .encode_to_vec();
    let properties = lapin::BasicProperties::default()
        .with_message_id(event_id.to_string().into())
        .with_type(v1::ReminderOutcome::TYPE.into());
    channel
        .basic_publish(
            broker.events_exchange().as_str().into(),
            routing_keys::REMINDER_OUTCOME.into(),
            lapin::options::BasicPublishOptions::default(),
            &body,
            properties,
        )
        .await?
        .await?;
    Ok(())
}

#[derive(QueryableByName)]
struct AppliedReminder {
    #[diesel(sql_type = diesel::sql_types::Text)]
    reminder_id: String,
}

#[tokio::test]
async fn a_batch_consumer_applies_each_event_once_in_order_and_dead_letters_only_the_poison() {
    let harness = harness("batchtest").await.unwrap();
    let (pool, broker) = (harness.pool.clone(), harness.broker.clone());
    let metrics = Metrics::new();
    let consumer = EventConsumer::new(
        ConsumerSpec {
            batch_size: 16,
            prefetch: 64,
            ..ConsumerSpec::new("test.observer", vec![routing_keys::REMINDER_OUTCOME])
        },
        broker.clone(),
        pool.clone(),
        Arc::new(RecordingHandler),
        metrics.clone(),
    );
    consumer.declare().await.unwrap();

    // Forty events wait in the queue before the consumer starts, so batches form: the eighth
    // is poison, and the fourth comes twice (a relay that republished it).
    let channel = broker.channel().await.unwrap();
    channel
        .confirm_select(lapin::options::ConfirmSelectOptions::default())
        .await
        .unwrap();
    let reminder_ids: Vec<String> = (0..40)
        .map(|index| {
            if index == 7 {
                POISON.to_owned()
            } else {
                format!("r-{index}")
            }
        })
        .collect();
    for (index, reminder_id) in reminder_ids.iter().enumerate() {
        let event_id = uuid::Uuid::new_v4();
        publish_outcome(&channel, &broker, event_id, reminder_id)
            .await
            .unwrap();
        if index == 3 {
            publish_outcome(&channel, &broker, event_id, reminder_id)
                .await
                .unwrap();
        }
    }

    let stop = CancellationToken::new();
    let consuming = tokio::spawn(consumer.run(stop.clone()));
    wait_until(
        Duration::from_secs(20),
        "every delivery to be settled",
        || async {
            let text = metrics.render();
            (text.contains(
                r#"attend_events_consumed_total{queue="test.observer",result="applied"} 39"#,
            ) && text.contains(
                r#"attend_events_consumed_total{queue="test.observer",result="duplicate"} 1"#,
            ) && text.contains(
                r#"attend_events_consumed_total{queue="test.observer",result="dead_letter"} 1"#,
            ))
            .then_some(())
        },
    )
    .await
    .unwrap();

    // Each good event once, in the order published; the poison one never.
    let mut connection = pool.get().await.unwrap();
    let applied: Vec<String> =
        diesel::sql_query("SELECT reminder_id FROM applied ORDER BY applied_order")
            .load::<AppliedReminder>(&mut connection)
            .await
            .unwrap()
            .into_iter()
            .map(|row| row.reminder_id)
            .collect();
    drop(connection);
    let expected: Vec<String> = reminder_ids
        .iter()
        .filter(|reminder_id| *reminder_id != POISON)
        .cloned()
        .collect();
    assert_eq!(applied, expected);
    // Fewer transactions than events: the consumer batched.
    let transactions = count(
        &pool,
        "SELECT count(DISTINCT applied_in_transaction) AS count FROM applied",
    )
    .await;
    assert!(
        transactions < 39,
        "39 events were applied in {transactions} transactions"
    );
    // The poison event waits in the dead-letter queue.
    let dead_letter = channel
        .basic_get(
            format!("{}.dlq", broker.name("test.observer"))
                .as_str()
                .into(),
            lapin::options::BasicGetOptions { no_ack: true },
        )
        .await
        .unwrap()
        .map(|message| {
            v1::ReminderOutcome::decode(message.delivery.data.as_slice())
                .unwrap()
                .reminder_id
        });
    assert_eq!(dead_letter.as_deref(), Some(POISON));

    stop.cancel();
    consuming.await.unwrap().unwrap();
    let _ = channel.close(200, "done".into()).await;
    broker.close().await;
    pool.close();
    harness.env.cleanup().await.unwrap();
}
