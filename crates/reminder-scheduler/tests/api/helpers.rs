//! The test harness: scheduler instances in-process on a throwaway database and AMQP prefix,
//! a publisher standing in for booking-service and the channels, and an observer queue that
//! collects every `reminder.due.*` the scheduler publishes.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use anyhow::Context;
use attend_events::{Event, to_timestamp, v1};
use attend_runtime::amqp::{Broker, OutgoingEvent, PublishOutcome, Publisher};
use attend_runtime::db::DbPool;
use attend_runtime::{Env, Secret};
use attend_test_support::{TestEnv, wait_until};
use chrono::{DateTime, Timelike, Utc};
use chrono_tz::Tz;
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use lapin::options::{BasicGetOptions, QueueBindOptions, QueueDeclareOptions};
use lapin::types::FieldTable;
use prost::Message;
use reminder_scheduler::jobs::{self, Job, JobStatus};
use reminder_scheduler::{Application, Config};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

/// How long eventual effects may take before a test fails.
pub const PATIENCE: Duration = Duration::from_secs(20);

/// One running scheduler instance.
pub struct Instance {
    /// `http://127.0.0.1:<port>`.
    pub address: String,
    /// Its pool on the scheduler's schema.
    pub pool: DbPool,
    stop: CancellationToken,
    handle: JoinHandle<anyhow::Result<()>>,
}

/// Scheduler instances sharing one test database and prefix, plus the test's own broker side.
pub struct TestApp {
    /// The test's database and AMQP prefix.
    pub env: TestEnv,
    /// The running schedulers; the first one's pool serves the test's queries.
    pub instances: Vec<Instance>,
    /// Collects `reminder.due.*`.
    pub observer: Observer,
    /// HTTP client for the operator API.
    pub api: reqwest::Client,
    broker: Broker,
    publisher: Publisher,
    service_env: Env,
}

impl TestApp {
    /// Spawns one scheduler with the default configuration.
    pub async fn spawn() -> anyhow::Result<Self> {
        Self::spawn_with(1, &[]).await
    }

    /// Spawns `instances` schedulers on the same database and prefix, with `overrides` on top
    /// of the test environment.
    pub async fn spawn_with(instances: usize, overrides: &[(&str, &str)]) -> anyhow::Result<Self> {
        let env = TestEnv::new().await?;
        let broker = Broker::connect(
            &Secret::new(env.amqp_url.clone()),
            &env.amqp_prefix,
            "test",
            Duration::from_secs(10),
        )
        .await?;
        // The observer queue exists before any scheduler publishes, so no reminder.due is
        // unroutable.
        let observer = Observer::declare(&broker).await?;
        let publisher = Publisher::open(&broker, "/test").await?;

        let mut service_env = Env::from_pairs(env.service_env());
        for (name, value) in overrides {
            service_env = service_env.with(name, *value);
        }
        let mut app = Self {
            env,
            instances: Vec::with_capacity(instances),
            observer,
            api: reqwest::Client::new(),
            broker,
            publisher,
            service_env,
        };
        app.start_instances(instances).await?;
        Ok(app)
    }

    /// Starts `count` more schedulers on the test's database and prefix (after
    /// [`Self::stop_instances`]: the scheduler coming back after an outage).
    pub async fn start_instances(&mut self, count: usize) -> anyhow::Result<()> {
        for _ in 0..count {
            let config = Config::from_env(&self.service_env)?;
            let application = Application::build(config).await?;
            let address = format!("http://127.0.0.1:{}", application.port());
            let pool = application.pool().clone();
            let stop = CancellationToken::new();
            let handle =
                tokio::spawn(application.run_until_stopped(stop.clone().cancelled_owned()));
            self.instances.push(Instance {
                address,
                pool,
                stop,
                handle,
            });
        }
        Ok(())
    }

    /// Stops every running scheduler (an outage); the database, queues and the test's own
    /// broker side stay. Events published meanwhile wait in the scheduler's queues.
    pub async fn stop_instances(&mut self) -> anyhow::Result<()> {
        for instance in &self.instances {
            instance.stop.cancel();
        }
        for instance in self.instances.drain(..) {
            instance
                .handle
                .await
                .context("a scheduler instance panicked")??;
        }
        Ok(())
    }

    /// Opens a connection of the test's own on the scheduler's schema, usable while no
    /// instance runs.
    pub async fn connect(&self) -> anyhow::Result<diesel_async::AsyncPgConnection> {
        self.env.connect(reminder_scheduler::startup::SCHEMA).await
    }

    /// Returns the first instance's address.
    pub fn address(&self) -> &str {
        &self.instances[0].address
    }

    /// Publishes `event` with a fresh id, as its producer's outbox relay would; returns the id.
    pub async fn publish<E: Event>(&self, tenant_id: Uuid, event: &E) -> anyhow::Result<Uuid> {
        let id = Uuid::now_v7();
        self.publish_with_id(id, tenant_id, event).await?;
        Ok(id)
    }

    /// Publishes `event` with the given id (a redelivery repeats the id).
    pub async fn publish_with_id<E: Event>(
        &self,
        id: Uuid,
        tenant_id: Uuid,
        event: &E,
    ) -> anyhow::Result<()> {
        self.publish_raw(OutgoingEvent {
            id,
            event_type: E::TYPE.to_owned(),
            routing_key: event.routing_key().to_owned(),
            tenant_id: Some(tenant_id),
            payload: event.encode_to_vec(),
            traceparent: None,
            occurred_at_millis: Utc::now().timestamp_millis(),
        })
        .await
    }

    /// Publishes an event exactly as given and requires the broker to route it.
    pub async fn publish_raw(&self, event: OutgoingEvent) -> anyhow::Result<()> {
        let outcomes = self
            .publisher
            .publish_all(std::slice::from_ref(&event))
            .await?;
        anyhow::ensure!(
            outcomes == [PublishOutcome::Confirmed],
            "{} was not routed: {outcomes:?}",
            event.routing_key
        );
        Ok(())
    }

    /// Returns the job of `reminder_id`, if stored.
    pub async fn job(&self, reminder_id: Uuid) -> anyhow::Result<Option<Job>> {
        let mut connection = self.instances[0].pool.get().await?;
        Ok(jobs::find(&mut connection, reminder_id).await?)
    }

    /// Waits until the job of `reminder_id` has `status`, and returns it.
    pub async fn wait_for_status(
        &self,
        reminder_id: Uuid,
        status: JobStatus,
    ) -> anyhow::Result<Job> {
        wait_until(
            PATIENCE,
            &format!("job {reminder_id} to be {status}"),
            || async {
                self.job(reminder_id)
                    .await
                    .ok()
                    .flatten()
                    .filter(|job| job.status == status)
            },
        )
        .await
    }

    /// Returns how many events wait in the scheduler's outbox.
    pub async fn outbox_len(&self) -> anyhow::Result<i64> {
        use attend_runtime::schema::outbox;
        let mut connection = self.instances[0].pool.get().await?;
        Ok(outbox::table.count().get_result(&mut connection).await?)
    }

    /// Returns whether the scheduler recorded event `id` in its inbox (applied and acked).
    pub async fn inbox_contains(&self, id: Uuid) -> anyhow::Result<bool> {
        use attend_runtime::schema::inbox;
        let mut connection = self.instances[0].pool.get().await?;
        let found: i64 = inbox::table
            .filter(inbox::message_id.eq(id))
            .count()
            .get_result(&mut connection)
            .await?;
        Ok(found == 1)
    }

    /// Waits until the scheduler applied event `id`.
    pub async fn wait_for_inbox(&self, id: Uuid) -> anyhow::Result<()> {
        wait_until(PATIENCE, &format!("event {id} in the inbox"), || async {
            self.inbox_contains(id)
                .await
                .ok()
                .filter(|found| *found)
                .map(|_| ())
        })
        .await
    }

    /// Waits until no job is pending and the outbox is empty, i.e. every reminder.due the
    /// scheduler will ever write for the current jobs has been confirmed by the broker and
    /// sits in the observer queue.
    pub async fn wait_until_settled(&self) -> anyhow::Result<()> {
        wait_until(PATIENCE, "no pending job and an empty outbox", || async {
            let mut connection = self.instances[0].pool.get().await.ok()?;
            let counts = jobs::count_by_status(&mut connection).await.ok()?;
            let pending = counts
                .iter()
                .find(|(status, _)| *status == JobStatus::Pending)
                .map_or(0, |(_, n)| *n);
            drop(connection);
            let outbox = self.outbox_len().await.ok()?;
            (pending == 0 && outbox == 0).then_some(())
        })
        .await
    }

    /// Waits until no pending job is due and the outbox is empty (one snapshot), i.e. every
    /// reminder.due the scheduler will write for the jobs due so far sits in the observer
    /// queue; jobs due later may stay pending.
    pub async fn wait_until_nothing_due(&self) -> anyhow::Result<()> {
        #[derive(QueryableByName)]
        struct Left {
            #[diesel(sql_type = diesel::sql_types::BigInt)]
            remaining: i64,
        }
        wait_until(PATIENCE, "no due pending job and an empty outbox", || async {
            let mut connection = self.instances.as_slice().first()?.pool.get().await.ok()?;
            let left: Left = diesel::sql_query(
                "SELECT (SELECT count(*) FROM reminder_jobs WHERE status = 'pending' AND due_at <= now())
                      + (SELECT count(*) FROM outbox) AS remaining",
            )
            .get_result(&mut connection)
            .await
            .ok()?;
            (left.remaining == 0).then_some(())
        })
        .await
    }

    /// Returns the number of messages in a queue of this test (by its unprefixed name).
    pub async fn queue_len(&self, base_name: &str) -> anyhow::Result<u32> {
        let channel = self.broker.channel().await?;
        let queue = channel
            .queue_declare(
                self.env.name(base_name).as_str().into(),
                QueueDeclareOptions {
                    passive: true,
                    ..Default::default()
                },
                FieldTable::default(),
            )
            .await
            .with_context(|| format!("queue {base_name} does not exist"))?;
        let _ = channel.close(200, "inspected".into()).await;
        Ok(queue.message_count())
    }

    /// Returns the `/metrics` text of the first instance.
    pub async fn metrics(&self) -> anyhow::Result<String> {
        Ok(self
            .api
            .get(format!("{}/metrics", self.address()))
            .send()
            .await?
            .text()
            .await?)
    }

    /// Stops every instance, then drops the test's database, queues and exchanges.
    pub async fn stop(mut self) -> anyhow::Result<()> {
        self.stop_instances().await?;
        self.broker.close().await;
        self.env.cleanup().await
    }
}

/// One `reminder.due.*` as the observer received it.
#[derive(Debug, Clone)]
pub struct ObservedDue {
    /// `reminder.due.voice` or `reminder.due.sms`.
    pub routing_key: String,
    /// The AMQP `type`.
    pub event_type: String,
    /// The `tenant_id` header.
    pub tenant_id: Option<String>,
    /// When the test took it from the queue (at or after its arrival).
    pub received_at: DateTime<Utc>,
    /// The decoded body.
    pub event: v1::ReminderDue,
}

/// The `<prefix>test.observer` queue bound to `reminder.due.*`, read with `basic.get` so that
/// after the outbox is empty a drain sees every message the scheduler published.
pub struct Observer {
    channel: lapin::Channel,
    queue: String,
    received: Mutex<Vec<ObservedDue>>,
}

impl Observer {
    async fn declare(broker: &Broker) -> anyhow::Result<Self> {
        let channel = broker.channel().await?;
        broker.declare_exchanges(&channel).await?;
        let queue = broker.name("test.observer");
        channel
            .queue_declare(
                queue.as_str().into(),
                QueueDeclareOptions::default(),
                FieldTable::default(),
            )
            .await
            .context("failed to declare the observer queue")?;
        channel
            .queue_bind(
                queue.as_str().into(),
                broker.events_exchange().as_str().into(),
                "reminder.due.*".into(),
                QueueBindOptions::default(),
                FieldTable::default(),
            )
            .await
            .context("failed to bind the observer queue")?;
        Ok(Self {
            channel,
            queue,
            received: Mutex::new(Vec::new()),
        })
    }

    /// Takes every message waiting in the queue and returns everything received so far.
    pub async fn drain(&self) -> anyhow::Result<Vec<ObservedDue>> {
        loop {
            let message = self
                .channel
                .basic_get(self.queue.as_str().into(), BasicGetOptions { no_ack: true })
                .await
                .context("basic.get on the observer queue failed")?;
            let Some(message) = message else { break };
            let delivery = message.delivery;
            let properties = &delivery.properties;
            let tenant_id =
                attend_runtime::amqp::header_string(properties.headers().as_ref(), "tenant_id");
            let observed = ObservedDue {
                routing_key: delivery.routing_key.as_str().to_owned(),
                event_type: properties
                    .kind()
                    .as_ref()
                    .map(|kind| kind.as_str().to_owned())
                    .unwrap_or_default(),
                tenant_id,
                received_at: Utc::now(),
                event: v1::ReminderDue::decode(delivery.data.as_slice())
                    .context("undecodable reminder.due")?,
            };
            self.lock().push(observed);
        }
        Ok(self.lock().clone())
    }

    /// Waits until a reminder.due for `reminder_id` arrived, and returns it.
    pub async fn wait_for(&self, reminder_id: Uuid) -> anyhow::Result<ObservedDue> {
        let id = reminder_id.to_string();
        wait_until(
            PATIENCE,
            &format!("reminder.due for {reminder_id}"),
            || async {
                self.drain()
                    .await
                    .ok()?
                    .into_iter()
                    .find(|observed| observed.event.reminder_id == id)
            },
        )
        .await
    }

    /// Waits until a reminder.due for attempt `attempt` of `reminder_id` arrived, and returns it.
    pub async fn wait_for_attempt(
        &self,
        reminder_id: Uuid,
        attempt: u32,
    ) -> anyhow::Result<ObservedDue> {
        let id = reminder_id.to_string();
        wait_until(
            PATIENCE,
            &format!("reminder.due attempt {attempt} of {reminder_id}"),
            || async {
                self.drain().await.ok()?.into_iter().find(|observed| {
                    observed.event.reminder_id == id && observed.event.attempt == attempt
                })
            },
        )
        .await
    }

    /// Returns how many reminder.due of each reminder id arrived, after a drain.
    pub async fn counts(&self) -> anyhow::Result<HashMap<String, usize>> {
        let mut counts = HashMap::new();
        for observed in self.drain().await? {
            *counts.entry(observed.event.reminder_id).or_insert(0) += 1;
        }
        Ok(counts)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<ObservedDue>> {
        self.received
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// Returns now, to the millisecond (Postgres keeps microseconds, protobuf nanoseconds).
pub fn now() -> DateTime<Utc> {
    let millis = Utc::now().timestamp_millis();
    DateTime::from_timestamp_millis(millis).unwrap_or_else(Utc::now)
}

/// Returns `now() + seconds` (negative for the past).
pub fn in_seconds(seconds: i64) -> DateTime<Utc> {
    now() + chrono::Duration::seconds(seconds)
}

/// An appointment to build events for.
#[derive(Debug, Clone, Copy)]
pub struct Appointment {
    /// Its id.
    pub appointment_id: Uuid,
    /// Its tenant.
    pub tenant_id: Uuid,
    /// When it starts.
    pub start: DateTime<Utc>,
    /// The recipient's zone.
    pub time_zone: Tz,
}

impl Appointment {
    /// Returns a new appointment of a new tenant starting at `start`, for a recipient in whose
    /// zone it is now early afternoon, inside the default calling window whenever tests run.
    pub fn starting_at(start: DateTime<Utc>) -> Self {
        Self {
            appointment_id: Uuid::now_v7(),
            tenant_id: Uuid::now_v7(),
            start,
            time_zone: zone_where_local_hour_is(13),
        }
    }

    /// Returns the appointment with its recipient in `time_zone`.
    pub fn in_zone(self, time_zone: Tz) -> Self {
        Self { time_zone, ..self }
    }

    /// Returns the details every appointment event repeats.
    pub fn details(&self) -> v1::AppointmentDetails {
        v1::AppointmentDetails {
            appointment_id: self.appointment_id.to_string(),
            tenant_id: self.tenant_id.to_string(),
            business_name: "Sunrise Dental".to_owned(),
            recipient: Some(v1::Recipient {
                name: "Ada Lovelace".to_owned(),
                phone_e164: "+15550100001".to_owned(),
                locale: "en-GB".to_owned(),
                time_zone: self.time_zone.name().to_owned(),
                first_name: "Ada".to_owned(),
                last_name: "Lovelace".to_owned(),
            }),
            start: Some(to_timestamp(self.start)),
            end: Some(to_timestamp(self.start + chrono::Duration::minutes(30))),
            location: "12 Harley Street".to_owned(),
            participant: "Dr. Grey".to_owned(),
            business_time_zone: "Europe/London".to_owned(),
            metadata: [("room".to_owned(), "B12".to_owned())]
                .into_iter()
                .collect(),
        }
    }

    /// Returns `appointment.no_show` recorded now, with the no-show `message` when given.
    pub fn no_show(&self, message: Option<v1::ReminderPlan>) -> v1::AppointmentNoShow {
        v1::AppointmentNoShow {
            appointment: Some(self.details()),
            message,
            recorded_at: Some(to_timestamp(Utc::now())),
        }
    }

    /// Returns `appointment.scheduled` with `plans`.
    pub fn scheduled(&self, plans: Vec<v1::ReminderPlan>) -> v1::AppointmentScheduled {
        v1::AppointmentScheduled {
            appointment: Some(self.details()),
            reminders: plans,
        }
    }

    /// Returns `appointment.rescheduled` to `new_start` with `plans`.
    pub fn rescheduled(
        &self,
        new_start: DateTime<Utc>,
        plans: Vec<v1::ReminderPlan>,
    ) -> (Self, v1::AppointmentRescheduled) {
        let moved = Self {
            start: new_start,
            ..*self
        };
        let event = v1::AppointmentRescheduled {
            appointment: Some(moved.details()),
            reminders: plans,
            previous_start: Some(to_timestamp(self.start)),
        };
        (moved, event)
    }

    /// Returns `appointment.cancelled`.
    pub fn cancelled(&self) -> v1::AppointmentCancelled {
        v1::AppointmentCancelled {
            appointment_id: self.appointment_id.to_string(),
            tenant_id: self.tenant_id.to_string(),
            reason: "customer_request".to_owned(),
            cancelled_at: Some(to_timestamp(Utc::now())),
        }
    }
}

/// Returns a reminder plan.
pub fn plan(reminder_id: Uuid, channel: v1::Channel, due_at: DateTime<Utc>) -> v1::ReminderPlan {
    v1::ReminderPlan {
        reminder_id: reminder_id.to_string(),
        channel: channel.into(),
        due_at: Some(to_timestamp(due_at)),
        ..v1::ReminderPlan::default()
    }
}

/// Returns a reminder plan of `kind` with the tenant's `template`.
pub fn plan_of_kind(
    reminder_id: Uuid,
    channel: v1::Channel,
    due_at: DateTime<Utc>,
    kind: v1::ReminderKind,
    template: &str,
) -> v1::ReminderPlan {
    v1::ReminderPlan {
        kind: kind.into(),
        template: template.to_owned(),
        ..plan(reminder_id, channel, due_at)
    }
}

/// Returns a voice reminder plan that falls back to SMS with `fallback_template`.
pub fn plan_with_sms_fallback(
    reminder_id: Uuid,
    due_at: DateTime<Utc>,
    fallback_template: &str,
) -> v1::ReminderPlan {
    v1::ReminderPlan {
        template: "Hello {first_name}, your appointment is on {date}.".to_owned(),
        fallback_channel: v1::Channel::Sms.into(),
        fallback_template: fallback_template.to_owned(),
        ..plan(reminder_id, v1::Channel::Voice, due_at)
    }
}

/// Returns a fixed-offset zone (`Etc/GMT±n`) in which the local hour is now `hour`, so tests
/// can put a recipient inside or outside the calling window whatever the time of day.
pub fn zone_where_local_hour_is(hour: i32) -> Tz {
    let utc_hour = i32::try_from(Utc::now().hour()).unwrap_or(0);
    // Etc zones exist from UTC-12 to UTC+14; wrap the offset into that range.
    let mut offset = (hour - utc_hour).rem_euclid(24);
    if offset > 14 {
        offset -= 24;
    }
    // The POSIX-style names invert the sign: Etc/GMT-3 is UTC+3.
    let name = match offset {
        0 => "Etc/UTC".to_owned(),
        east if east > 0 => format!("Etc/GMT-{east}"),
        west => format!("Etc/GMT+{}", -west),
    };
    name.parse().unwrap_or(Tz::UTC)
}

/// Returns `tenant.settings_changed` with a calling window in minutes, a voice retry policy
/// and no templates.
pub fn settings(
    tenant_id: Uuid,
    version: u64,
    window: (u32, u32),
    max_retries: u32,
    interval_seconds: u32,
    retry_on: &[v1::ReminderOutcomeKind],
) -> v1::TenantSettingsChanged {
    v1::TenantSettingsChanged {
        tenant_id: tenant_id.to_string(),
        version,
        calling_window: Some(v1::CallingWindow {
            start_minute: window.0,
            end_minute: window.1,
        }),
        voice_retry: Some(v1::RetryPolicy {
            max_retries,
            interval_seconds,
            retry_on: retry_on.iter().map(|kind| i32::from(*kind)).collect(),
        }),
        voice: None,
        changed_at: Some(to_timestamp(Utc::now())),
        sms: None,
    }
}

/// Returns a channel's `reminder.outcome` for attempt `attempt` of a reminder.
pub fn outcome_of(
    appointment: &Appointment,
    reminder_id: Uuid,
    kind: v1::ReminderOutcomeKind,
    attempt: u32,
) -> v1::ReminderOutcome {
    v1::ReminderOutcome {
        reminder_id: reminder_id.to_string(),
        appointment_id: appointment.appointment_id.to_string(),
        tenant_id: appointment.tenant_id.to_string(),
        channel: v1::Channel::Voice.into(),
        outcome: kind.into(),
        detail: format!("attempt {attempt}"),
        occurred_at: Some(to_timestamp(now())),
        provider_ref: format!("CALL-{attempt}"),
        attempt,
    }
}

/// The `<prefix>test.outcomes` queue bound to `reminder.outcome`: the scheduler's own EXPIRED
/// outcomes (and the test's channel outcomes, which tests filter out by kind).
pub struct OutcomeObserver {
    channel: lapin::Channel,
    queue: String,
    received: Mutex<Vec<v1::ReminderOutcome>>,
}

impl OutcomeObserver {
    /// Declares the queue on the test's broker prefix.
    pub async fn declare(app: &TestApp) -> anyhow::Result<Self> {
        let channel = app.broker.channel().await?;
        let queue = app.broker.name("test.outcomes");
        channel
            .queue_declare(
                queue.as_str().into(),
                QueueDeclareOptions::default(),
                FieldTable::default(),
            )
            .await
            .context("failed to declare the outcome observer queue")?;
        channel
            .queue_bind(
                queue.as_str().into(),
                app.broker.events_exchange().as_str().into(),
                "reminder.outcome".into(),
                QueueBindOptions::default(),
                FieldTable::default(),
            )
            .await
            .context("failed to bind the outcome observer queue")?;
        Ok(Self {
            channel,
            queue,
            received: Mutex::new(Vec::new()),
        })
    }

    /// Takes every waiting message and returns every outcome received so far.
    pub async fn drain(&self) -> anyhow::Result<Vec<v1::ReminderOutcome>> {
        loop {
            let message = self
                .channel
                .basic_get(self.queue.as_str().into(), BasicGetOptions { no_ack: true })
                .await
                .context("basic.get on the outcome observer queue failed")?;
            let Some(message) = message else { break };
            let outcome = v1::ReminderOutcome::decode(message.delivery.data.as_slice())
                .context("undecodable reminder.outcome")?;
            self.lock().push(outcome);
        }
        Ok(self.lock().clone())
    }

    /// Waits until an outcome `kind` for `reminder_id` arrived, and returns it.
    pub async fn wait_for(
        &self,
        reminder_id: Uuid,
        kind: v1::ReminderOutcomeKind,
    ) -> anyhow::Result<v1::ReminderOutcome> {
        let id = reminder_id.to_string();
        wait_until(
            PATIENCE,
            &format!("reminder.outcome {kind:?} for {reminder_id}"),
            || async {
                self.drain()
                    .await
                    .ok()?
                    .into_iter()
                    .find(|outcome| outcome.reminder_id == id && outcome.outcome() == kind)
            },
        )
        .await
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<v1::ReminderOutcome>> {
        self.received
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}
