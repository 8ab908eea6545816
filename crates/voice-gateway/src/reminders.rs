//! The `voice.reminders-due` consumer: records one call attempt per reminder, in the inbox
//! transaction, and wakes the dialer once it is committed. A reminder's own text and the
//! values of its `{first_name}`, `{last_name}`, `{metadata.key}` go to `call_attempt_texts`.
//! Follow-ups and no-show messages are SMS only: one that arrives here is reported failed,
//! never called.

use std::collections::BTreeMap;
use std::sync::Arc;

use attend_events::{from_timestamp, routing_keys, v1};
use attend_runtime::{ConsumerSpec, EventHandler, HandlerError, IncomingEvent};
use chrono::Utc;
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use futures_util::future::BoxFuture;
use tokio::sync::Notify;
use uuid::Uuid;

use crate::attempts::{self, AttemptStatus, NewCallAttempt, Outcome};
use crate::db::schema::call_attempt_texts;
use crate::{mask, workflow};

/// What a follow-up or no-show message on voice is reported as (booking-service plans them
/// on SMS only).
pub const NOT_ON_VOICE: &str = "follow-up and no-show messages are sent by SMS";

/// Reminders applied at once, in batches of `REMINDERS_BATCH` per transaction. Their order
/// does not matter: each is recorded under its own reminder id (a redelivery changes
/// nothing), so they need not wait for one another. Applied one by one, a burst of reminders
/// due at once was recorded at ~50/s on a busy 2-core machine, each waiting for the previous
/// commit; a transaction per reminder then cost a `BEGIN`, an inbox insert and a `COMMIT`
/// each (docs/benchmarks.md, items 5 and 6).
const REMINDERS_CONCURRENCY: usize = 4;
/// Reminders, among those received, recorded in one transaction.
const REMINDERS_BATCH: usize = 32;
/// Unacknowledged deliveries the broker may push: enough to fill every batch above.
const REMINDERS_PREFETCH: u16 = 128;

/// The queue's name, without the AMQP prefix.
pub const QUEUE: &str = "voice.reminders-due";

/// Returns the queue's spec: `reminder.due.voice` events.
pub fn consumer_spec() -> ConsumerSpec {
    ConsumerSpec {
        prefetch: REMINDERS_PREFETCH,
        concurrency: REMINDERS_CONCURRENCY,
        batch_size: REMINDERS_BATCH,
        ..ConsumerSpec::new(QUEUE, vec![routing_keys::REMINDER_DUE_VOICE])
    }
}

/// Applies `v1::ReminderDue` events.
pub struct ReminderDueHandler {
    wake_dialer: Arc<Notify>,
}

impl ReminderDueHandler {
    /// Returns a handler that wakes the dialer through `wake_dialer`.
    pub fn new(wake_dialer: Arc<Notify>) -> Self {
        Self { wake_dialer }
    }

    async fn apply(
        &self,
        connection: &mut AsyncPgConnection,
        event: &IncomingEvent,
    ) -> Result<(), HandlerError> {
        let reminder: v1::ReminderDue = event.decode()?;
        let reminder_id = parse_id("reminder_id", &reminder.reminder_id)?;
        let appointment_id = parse_id("appointment_id", &reminder.appointment_id)?;
        let tenant_id = parse_id("tenant_id", &reminder.tenant_id)?;
        let recipient = reminder.recipient.clone().unwrap_or_default();
        let spoken_when = reminder.spoken_when.trim().to_owned();
        // The /appointments dialect knows the time only as text (`spoken_when`).
        let appointment_start =
            match (&reminder.appointment_start, spoken_when.is_empty()) {
                (None, false) => None,
                (start, _) => Some(from_timestamp(start.as_ref()).map_err(|error| {
                    HandlerError::permanent(format!("appointment_start: {error}"))
                })?),
            };
        let attempt_number = i32::try_from(reminder.attempt.max(1))
            .map_err(|_| HandlerError::permanent("attempt out of range"))?;
        let workflow_id =
            workflow::current_for(connection, tenant_id, workflow::REMINDER_WORKFLOW).await?;

        let to_number = recipient.phone_e164.trim().to_owned();
        let callable = attend_runtime::phone::is_e164(&to_number);
        let informational = !matches!(
            reminder.kind(),
            v1::ReminderKind::Reminder | v1::ReminderKind::Unspecified
        );
        let opted_out = callable
            && !informational
            && attempts::is_opted_out(connection, tenant_id, &to_number).await?;
        let attempt = NewCallAttempt {
            id: Uuid::now_v7(),
            reminder_id: Some(reminder_id),
            appointment_id: Some(appointment_id),
            tenant_id,
            to_number,
            recipient_name: recipient.name.trim().to_owned(),
            locale: recipient.locale.trim().to_owned(),
            time_zone: recipient.time_zone.trim().to_owned(),
            business_name: reminder.business_name.trim().to_owned(),
            appointment_start,
            location: reminder.location.trim().to_owned(),
            attempt: attempt_number,
            spoken_when,
            workflow_id,
            status: if opted_out {
                AttemptStatus::Dropped
            } else if callable && !informational {
                AttemptStatus::Queued
            } else {
                AttemptStatus::Failed
            }
            .as_str()
            .to_owned(),
            next_attempt_at: Utc::now(),
            traceparent: attend_runtime::telemetry::current_traceparent(),
        };
        let created = attempts::insert(connection, &attempt).await?;
        if !created {
            // The same reminder again (redelivered, or republished with a new event id).
            tracing::info!(%reminder_id, attempt = attempt_number, "reminder attempt already recorded, ignoring");
            return Ok(());
        }
        store_texts(connection, attempt.id, &reminder, &recipient).await?;
        if informational {
            tracing::warn!(%reminder_id, kind = ?reminder.kind(), "informational message on voice, not calling");
            if let Some(recorded) = attempts::lock(connection, attempt.id).await? {
                attempts::settle(connection, &recorded, Outcome::Failed, NOT_ON_VOICE, None)
                    .await?;
            }
            return Ok(());
        }
        if opted_out {
            // Pressed 8 on an earlier call: never called again for this tenant.
            let to = mask::number(&attempt.to_number);
            tracing::info!(%reminder_id, %to, "recipient opted out, not calling");
            if let Some(recorded) = attempts::lock(connection, attempt.id).await? {
                attempts::settle(
                    connection,
                    &recorded,
                    Outcome::OptedOut,
                    "recipient opted out of reminder calls earlier",
                    None,
                )
                .await?;
            }
            return Ok(());
        }
        if !callable {
            // Never silence: the scheduler learns at once that this reminder cannot be called.
            let to = mask::number(&attempt.to_number);
            tracing::warn!(%reminder_id, %to, "recipient has no callable number");
            if let Some(recorded) = attempts::lock(connection, attempt.id).await? {
                attempts::settle(
                    connection,
                    &recorded,
                    Outcome::Failed,
                    "recipient has no valid phone number",
                    None,
                )
                .await?;
            }
            return Ok(());
        }
        let to = mask::number(&attempt.to_number);
        tracing::info!(%reminder_id, attempt_id = %attempt.id, %to, "call attempt queued");
        Ok(())
    }
}

impl EventHandler for ReminderDueHandler {
    fn handle<'a>(
        &'a self,
        connection: &'a mut AsyncPgConnection,
        event: &'a IncomingEvent,
    ) -> BoxFuture<'a, Result<(), HandlerError>> {
        Box::pin(self.apply(connection, event))
    }

    fn after_commit(&self, _event: &IncomingEvent) {
        self.wake_dialer.notify_one();
    }
}

/// The reminder's own text and placeholder values of one call attempt.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReminderTexts {
    /// Spoken instead of the `appointment` sentence; empty for the usual wording.
    pub template: String,
    /// `{first_name}` (may be empty).
    pub first_name: String,
    /// `{last_name}` (may be empty).
    pub last_name: String,
    /// `{metadata.key}` values.
    pub metadata: BTreeMap<String, String>,
}

/// Stores what `reminder` carries for the call's wording, when it carries anything.
async fn store_texts(
    connection: &mut AsyncPgConnection,
    attempt_id: Uuid,
    reminder: &v1::ReminderDue,
    recipient: &v1::Recipient,
) -> QueryResult<()> {
    let template = reminder.template.trim();
    let (first_name, last_name) = (recipient.first_name.trim(), recipient.last_name.trim());
    if template.is_empty()
        && first_name.is_empty()
        && last_name.is_empty()
        && reminder.metadata.is_empty()
    {
        return Ok(());
    }
    let metadata = serde_json::Value::Object(
        reminder
            .metadata
            .iter()
            .map(|(key, value)| (key.clone(), serde_json::Value::String(value.clone())))
            .collect(),
    );
    diesel::insert_into(call_attempt_texts::table)
        .values((
            call_attempt_texts::attempt_id.eq(attempt_id),
            call_attempt_texts::template.eq(template),
            call_attempt_texts::first_name.eq(first_name),
            call_attempt_texts::last_name.eq(last_name),
            call_attempt_texts::metadata.eq(metadata),
        ))
        .on_conflict_do_nothing()
        .execute(connection)
        .await?;
    Ok(())
}

/// Returns the reminder texts of call attempt `attempt_id`; empty when it carried none.
pub async fn texts_of(
    connection: &mut AsyncPgConnection,
    attempt_id: Uuid,
) -> QueryResult<ReminderTexts> {
    let row: Option<(String, String, String, serde_json::Value)> = call_attempt_texts::table
        .find(attempt_id)
        .select((
            call_attempt_texts::template,
            call_attempt_texts::first_name,
            call_attempt_texts::last_name,
            call_attempt_texts::metadata,
        ))
        .first(connection)
        .await
        .optional()?;
    Ok(row
        .map(
            |(template, first_name, last_name, metadata)| ReminderTexts {
                template,
                first_name,
                last_name,
                metadata: metadata
                    .as_object()
                    .into_iter()
                    .flatten()
                    .filter_map(|(key, value)| Some((key.clone(), value.as_str()?.to_owned())))
                    .collect(),
            },
        )
        .unwrap_or_default())
}

fn parse_id(field: &str, value: &str) -> Result<Uuid, HandlerError> {
    value
        .trim()
        .parse()
        .map_err(|_| HandlerError::permanent(format!("{field} is not a uuid")))
}
