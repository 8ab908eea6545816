//! The test harness: a fresh database and AMQP prefix, the carrier sim in-process on a free
//! port (its inbound webhooks pointed at the service), sms-service on a free port (bound
//! first so `PUBLIC_URL` is known), a publisher for `reminder.due.sms` and the control events,
//! and an observer queue on `reminder.outcome` and `subscriber.*`.

use std::net::TcpListener;
use std::time::Duration;

use attend_events::{Event, to_timestamp, v1};
use attend_runtime::amqp::{Broker, OutgoingEvent, PublishOutcome, Publisher};
use attend_runtime::{Env, Secret};
use attend_test_support::{TestEnv, midday_zone, wait_until};
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use lapin::options::{BasicGetOptions, QueueBindOptions, QueueDeclareOptions};
use lapin::types::FieldTable;
use prost::Message as _;
use serde_json::{Value, json};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use sms_service::{Application, Config};

/// The number reminders come from in the tests (the service's default sender).
pub const SENDER: &str = "+15550100900";
/// The inbound secret shared by the sim and the service.
pub const INBOUND_SECRET: &str = "test-inbound-secret-0123";
/// The Twilio token shared by the sim and the service.
pub const TWILIO_TOKEN: &str = "sim-twilio-token";
/// Long enough for a text, its reply and the answer on a busy 2-core machine.
pub const PATIENCE: Duration = Duration::from_secs(30);

/// One event seen on the observer queue.
#[derive(Debug, Clone)]
pub enum Observed {
    /// `reminder.outcome`.
    Outcome(v1::ReminderOutcome),
    /// `subscriber.opted_out`.
    OptedOut(v1::SubscriberOptedOut),
    /// `subscriber.opted_in`.
    OptedIn(v1::SubscriberOptedIn),
}

/// One running service, the sim, and the observer.
pub struct TestApp {
    /// The test's database and AMQP prefix.
    pub env: TestEnv,
    /// `http://127.0.0.1:<port>`, also the service's `PUBLIC_URL`.
    pub address: String,
    /// `http://127.0.0.1:<sim port>`.
    pub sim_address: String,
    /// An HTTP client.
    pub http: reqwest::Client,
    publisher: Publisher,
    publisher_broker: Broker,
    observer: lapin::Channel,
    observer_connection: lapin::Connection,
    observer_queue: String,
    /// Events read ahead of the one a test expected (see [`TestApp::expect_outcome`]).
    read_ahead: std::sync::Mutex<std::collections::VecDeque<Observed>>,
    stop: CancellationToken,
    service: JoinHandle<anyhow::Result<()>>,
    sim: JoinHandle<anyhow::Result<()>>,
}

/// Returns an appointment `hours` from now, for a reminder to a number in `midday_zone()`.
pub fn reminder_to(phone: &str) -> v1::ReminderDue {
    let start: DateTime<Utc> = Utc::now() + chrono::Duration::hours(26);
    v1::ReminderDue {
        reminder_id: Uuid::now_v7().to_string(),
        appointment_id: Uuid::now_v7().to_string(),
        tenant_id: Uuid::now_v7().to_string(),
        channel: v1::Channel::Sms.into(),
        recipient: Some(v1::Recipient {
            name: "Ada Lovelace".to_owned(),
            phone_e164: phone.to_owned(),
            locale: "en-US".to_owned(),
            time_zone: midday_zone(),
            ..v1::Recipient::default()
        }),
        business_name: "West Side Mechanics".to_owned(),
        appointment_start: Some(to_timestamp(start)),
        location: "12 Main St".to_owned(),
        due_at: Some(to_timestamp(Utc::now())),
        attempt: 1,
        spoken_when: String::new(),
        participant: "Joe".to_owned(),
        business_time_zone: midday_zone(),
        ..v1::ReminderDue::default()
    }
}

impl TestApp {
    /// Starts the sim and the service sending through Flowroute.
    pub async fn spawn() -> anyhow::Result<Self> {
        Self::spawn_with(&[]).await
    }

    /// Starts the sim and the service with extra environment variables.
    pub async fn spawn_with(extra_env: &[(&str, &str)]) -> anyhow::Result<Self> {
        attend_test_support::init_logging();
        let env = TestEnv::new().await?;
        let stop = CancellationToken::new();

        let listener = TcpListener::bind("127.0.0.1:0")?;
        let address = format!("http://127.0.0.1:{}", listener.local_addr()?.port());

        let sim_listener = TcpListener::bind("127.0.0.1:0")?;
        let sim_address = format!("http://127.0.0.1:{}", sim_listener.local_addr()?.port());
        let sim_config = carrier_sim::Config {
            http_port: 0,
            flowroute_inbound_url: format!(
                "{address}/sms/flowroute/inbound?token={INBOUND_SECRET}"
            ),
            twilio_inbound_url: format!("{address}/sms/twilio/inbound"),
            twilio_auth_token: TWILIO_TOKEN.to_owned(),
            ..carrier_sim::Config::default()
        };
        let sim = carrier_sim::Application::build_with_listener(sim_config, sim_listener).await?;
        let sim_stop = stop.clone();
        let sim =
            tokio::spawn(async move { sim.run_until_stopped(sim_stop.cancelled_owned()).await });

        let mut service_env = Env::from_pairs(env.service_env())
            .with("PUBLIC_URL", address.clone())
            .with("FLOWROUTE_API_URL", format!("{sim_address}/flowroute/v2.1"))
            .with("TWILIO_API_URL", format!("{sim_address}/twilio/2010-04-01"))
            .with("TWILIO_AUTH_TOKEN", TWILIO_TOKEN)
            .with("SMS_INBOUND_SECRET", INBOUND_SECRET)
            .with("SMS_RETRY_BASE_MS", "20")
            .with("SMS_POLL_MS", "100");
        for (name, value) in extra_env {
            service_env = service_env.with(name, *value);
        }
        let config = Config::from_env(&service_env)?;
        let application = Application::build_with_listener(config, listener).await?;
        let service_stop = stop.clone();
        let service = tokio::spawn(async move {
            application
                .run_until_stopped(service_stop.cancelled_owned())
                .await
        });

        let observer_connection = env.amqp().await?;
        let observer = observer_connection.create_channel().await?;
        let observer_queue = env.name("test.observer");
        observer
            .queue_declare(
                observer_queue.as_str().into(),
                QueueDeclareOptions::default(),
                FieldTable::default(),
            )
            .await?;
        for key in ["reminder.outcome", "subscriber.*"] {
            observer
                .queue_bind(
                    observer_queue.as_str().into(),
                    env.name(attend_events::EVENTS_EXCHANGE).as_str().into(),
                    key.into(),
                    QueueBindOptions::default(),
                    FieldTable::default(),
                )
                .await?;
        }
        let publisher_broker = Broker::connect(
            &Secret::new(env.amqp_url.clone()),
            &env.amqp_prefix,
            "sms-service-test",
            PATIENCE,
        )
        .await?;
        let publisher = Publisher::open(&publisher_broker, "/sms-service-test").await?;

        Ok(Self {
            env,
            address,
            sim_address,
            http: reqwest::Client::builder().no_proxy().build()?,
            publisher,
            publisher_broker,
            observer,
            observer_connection,
            observer_queue,
            read_ahead: std::sync::Mutex::default(),
            stop,
            service,
            sim,
        })
    }

    /// Publishes `event` with a fresh id.
    pub async fn publish<E: Event>(&self, event: &E, tenant_id: &str) -> anyhow::Result<()> {
        self.publish_with_id(event, tenant_id, Uuid::now_v7()).await
    }

    /// Publishes `event` with event id `id`.
    pub async fn publish_with_id<E: Event>(
        &self,
        event: &E,
        tenant_id: &str,
        id: Uuid,
    ) -> anyhow::Result<()> {
        let outgoing = OutgoingEvent {
            id,
            event_type: E::TYPE.to_owned(),
            routing_key: event.routing_key().to_owned(),
            tenant_id: tenant_id.parse().ok(),
            payload: event.encode_to_vec(),
            traceparent: None,
            occurred_at_millis: Utc::now().timestamp_millis(),
        };
        let outcomes = self.publisher.publish_all(&[outgoing]).await?;
        anyhow::ensure!(
            outcomes == [PublishOutcome::Confirmed],
            "event not routed: {outcomes:?}"
        );
        Ok(())
    }

    /// Publishes a due reminder.
    pub async fn send_reminder(&self, reminder: &v1::ReminderDue) -> anyhow::Result<()> {
        self.publish(reminder, &reminder.tenant_id).await
    }

    async fn poll(&self) -> anyhow::Result<Option<Observed>> {
        let message = self
            .observer
            .basic_get(
                self.observer_queue.as_str().into(),
                BasicGetOptions { no_ack: true },
            )
            .await?;
        let Some(message) = message else {
            return Ok(None);
        };
        let kind = message
            .delivery
            .properties
            .kind()
            .as_ref()
            .map(ToString::to_string)
            .unwrap_or_default();
        let data = message.delivery.data.as_slice();
        Ok(Some(match kind.as_str() {
            v1::SubscriberOptedOut::TYPE => {
                Observed::OptedOut(v1::SubscriberOptedOut::decode(data)?)
            }
            v1::SubscriberOptedIn::TYPE => Observed::OptedIn(v1::SubscriberOptedIn::decode(data)?),
            _ => Observed::Outcome(v1::ReminderOutcome::decode(data)?),
        }))
    }

    /// Waits for the next observed event.
    pub async fn next_event(&self) -> anyhow::Result<Observed> {
        if let Some(event) = self.read_ahead_front() {
            return Ok(event);
        }
        wait_until(PATIENCE, "an event from sms-service", || async {
            self.poll().await.ok().flatten()
        })
        .await
    }

    fn read_ahead_front(&self) -> Option<Observed> {
        self.read_ahead.lock().ok()?.pop_front()
    }

    /// Waits for the next event and checks it is an outcome of `reminder` of `kind`.
    ///
    /// `SENT` may come after what the reply to that text did: the reply can be applied before
    /// the sender records the carrier's answer to the send (docs/sms.md, Replies). So when
    /// `SENT` is expected, the reply outcomes of the same reminder and opt-in / opt-out events
    /// before it are read ahead and expected next, in their order.
    pub async fn expect_outcome(
        &self,
        reminder: &v1::ReminderDue,
        kind: v1::ReminderOutcomeKind,
    ) -> anyhow::Result<v1::ReminderOutcome> {
        use v1::ReminderOutcomeKind as Kind;
        let mut replied_first = Vec::new();
        let event = loop {
            let event = self.next_event().await?;
            let is_reply_effect = match &event {
                Observed::Outcome(outcome) => {
                    outcome.reminder_id == reminder.reminder_id
                        && [
                            Kind::Confirmed,
                            Kind::Cancelled,
                            Kind::OptedOut,
                            Kind::Unparsable,
                        ]
                        .contains(&outcome.outcome())
                }
                Observed::OptedOut(_) | Observed::OptedIn(_) => true,
            };
            if kind == Kind::Sent && is_reply_effect && replied_first.len() < 8 {
                replied_first.push(event);
                continue;
            }
            break event;
        };
        if let Ok(mut read_ahead) = self.read_ahead.lock() {
            for event in replied_first.into_iter().rev() {
                read_ahead.push_front(event);
            }
        }
        match event {
            Observed::Outcome(outcome) => {
                anyhow::ensure!(
                    outcome.reminder_id == reminder.reminder_id && outcome.outcome() == kind,
                    "expected {kind:?} of {}, got {outcome:?}",
                    reminder.reminder_id
                );
                anyhow::ensure!(
                    outcome.channel() == v1::Channel::Sms,
                    "channel: {outcome:?}"
                );
                Ok(outcome)
            }
            other => anyhow::bail!("expected {kind:?}, got {other:?}"),
        }
    }

    /// Waits until the outbox is empty, then checks that no further event was published.
    pub async fn assert_no_more_events(&self) -> anyhow::Result<()> {
        wait_until(PATIENCE, "an empty outbox", || async {
            (self.outbox_len().await.ok()? == 0).then_some(())
        })
        .await?;
        let extra = match self.read_ahead_front() {
            Some(event) => Some(event),
            None => self.poll().await?,
        };
        anyhow::ensure!(extra.is_none(), "an extra event was published: {extra:?}");
        Ok(())
    }

    /// Opens a connection to the service's schema.
    pub async fn db(&self) -> anyhow::Result<AsyncPgConnection> {
        self.env.connect("sms").await
    }

    /// Returns the number of events waiting in the outbox.
    pub async fn outbox_len(&self) -> anyhow::Result<i64> {
        use attend_runtime::schema::outbox;
        let mut connection = self.db().await?;
        Ok(outbox::table.count().get_result(&mut connection).await?)
    }

    /// Returns every message the sim recorded to or from `number`, oldest first.
    pub async fn sim_messages(&self, number: &str) -> anyhow::Result<Vec<Value>> {
        let all: Value = self
            .http
            .get(format!("{}/sim/messages", self.sim_address))
            .send()
            .await?
            .error_for_status()?
            .json()
            .await?;
        let list = all
            .get("messages")
            .and_then(Value::as_array)
            .cloned()
            .or_else(|| all.as_array().cloned())
            .unwrap_or_default();
        Ok(list
            .into_iter()
            .filter(|message| message["to"] == number || message["from"] == number)
            .collect())
    }

    /// Returns the bodies of the texts the service sent to `number`, oldest first.
    pub async fn texts_to(&self, number: &str) -> anyhow::Result<Vec<String>> {
        Ok(self
            .sim_messages(number)
            .await?
            .into_iter()
            .filter(|message| message["direction"] == "outbound" && message["to"] == number)
            .map(|message| message["body"].as_str().unwrap_or_default().to_owned())
            .collect())
    }

    /// Waits until `count` texts went to `number`; returns them.
    pub async fn wait_for_texts(&self, number: &str, count: usize) -> anyhow::Result<Vec<String>> {
        wait_until(
            PATIENCE,
            &format!("{count} texts to the number"),
            || async {
                let texts = self.texts_to(number).await.ok()?;
                (texts.len() >= count).then_some(texts)
            },
        )
        .await
    }

    /// Sets the reply script of `number` in the sim.
    pub async fn script(&self, number: &str, replies: &[&str]) -> anyhow::Result<()> {
        self.http
            .put(format!(
                "{}/sim/sms/scripts/{}",
                self.sim_address,
                encode(number)
            ))
            .json(&json!({"replies": replies, "delay_ms": 20}))
            .send()
            .await?
            .error_for_status()?;
        Ok(())
    }

    /// Has the sim deliver a text from `from` to the service now; returns the app's statuses.
    pub async fn inject(
        &self,
        api: &str,
        from: &str,
        body: &str,
        duplicate: bool,
    ) -> anyhow::Result<Value> {
        let answer: Value = self
            .http
            .post(format!("{}/sim/sms/inbound", self.sim_address))
            .json(&json!({"api": api, "from": from, "to": SENDER, "body": body, "duplicate": duplicate}))
            .send()
            .await?
            .error_for_status()?
            .json()
            .await?;
        Ok(answer)
    }

    /// Stops everything and drops the test database.
    pub async fn stop(self) -> anyhow::Result<()> {
        self.stop.cancel();
        self.service.await??;
        self.sim.await??;
        self.publisher_broker.close().await;
        drop(self.observer);
        let _ = self.observer_connection.close(0, "test done".into()).await;
        self.env.cleanup().await
    }
}

/// Percent-encodes the `+` of an E.164 number for a path segment.
pub fn encode(number: &str) -> String {
    number.replace('+', "%2B")
}

/// Returns a fresh number ending in `last_digit` (the sim's default reply by last digit).
pub fn number_ending(last_digit: u8) -> String {
    let unique = Uuid::now_v7().as_u128() % 1_000_000;
    format!("+1555{unique:06}{last_digit}")
}
