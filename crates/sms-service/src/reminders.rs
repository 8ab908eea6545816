//! The `sms.reminders-due` consumer: records one conversation per reminder attempt and queues
//! its text, in the inbox transaction, then wakes the sender once it is committed.
//!
//! Nothing is queued for a number that opted out (`suppressed`), an appointment already
//! cancelled (`cancelled`, no outcome: the scheduler closed the reminder from the same
//! cancellation) or, for a reminder, already started (`expired`; follow-ups and no-show
//! messages are meant for after the start), or a recipient without a textable number
//! (`failed`). The sending window is checked by the sender, at send time.

use std::sync::Arc;

use attend_events::{from_timestamp, routing_keys, v1};
use attend_runtime::{ConsumerSpec, EventHandler, HandlerError, IncomingEvent, mask};
use chrono::Utc;
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use futures_util::future::BoxFuture;
use tokio::sync::Notify;
use uuid::Uuid;

use crate::conversations::{self, NewReminder, ReminderKind, ReminderStatus};
use crate::db::schema::cancelled_appointments;
use crate::outbound;
use attend_runtime::phone;

use crate::{consent, settings, texts};

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
pub const QUEUE: &str = "sms.reminders-due";

/// Returns the queue's spec: `reminder.due.sms` events.
pub fn consumer_spec() -> ConsumerSpec {
    ConsumerSpec {
        prefetch: REMINDERS_PREFETCH,
        concurrency: REMINDERS_CONCURRENCY,
        batch_size: REMINDERS_BATCH,
        ..ConsumerSpec::new(QUEUE, vec![routing_keys::REMINDER_DUE_SMS])
    }
}

/// Applies `v1::ReminderDue` events.
pub struct ReminderDueHandler {
    default_from: String,
    wake_sender: Arc<Notify>,
}

impl ReminderDueHandler {
    /// Returns a handler sending from `default_from` unless a tenant has its own number, and
    /// waking the sender through `wake_sender`.
    pub fn new(default_from: String, wake_sender: Arc<Notify>) -> Self {
        Self {
            default_from,
            wake_sender,
        }
    }

    async fn apply(
        &self,
        connection: &mut AsyncPgConnection,
        event: &IncomingEvent,
    ) -> Result<(), HandlerError> {
        let due: v1::ReminderDue = event.decode()?;
        let reminder_id = parse_id("reminder_id", &due.reminder_id)?;
        let appointment_id = parse_id("appointment_id", &due.appointment_id)?;
        let tenant_id = parse_id("tenant_id", &due.tenant_id)?;
        let appointment_start = from_timestamp(due.appointment_start.as_ref())
            .map_err(|error| HandlerError::permanent(format!("appointment_start: {error}")))?;
        let attempt = i32::try_from(due.attempt.max(1))
            .map_err(|_| HandlerError::permanent("attempt out of range"))?;
        let recipient = due.recipient.clone().unwrap_or_default();
        let tenant_settings = settings::load(connection, tenant_id).await?;
        let from_number = if tenant_settings.from_number.is_empty() {
            self.default_from.clone()
        } else {
            tenant_settings.from_number.clone()
        };
        let to_number = phone::normalize(&recipient.phone_e164);
        let kind = ReminderKind::from_proto(due.kind());
        let metadata = serde_json::Value::Object(
            due.metadata
                .iter()
                .map(|(key, value)| (key.clone(), serde_json::Value::String(value.clone())))
                .collect(),
        );

        let new = NewReminder {
            id: Uuid::now_v7(),
            reminder_id,
            attempt,
            appointment_id,
            tenant_id,
            to_number: to_number
                .clone()
                .unwrap_or_else(|| recipient.phone_e164.trim().to_owned()),
            from_number,
            recipient_name: recipient.name.trim().to_owned(),
            locale: recipient.locale.trim().to_owned(),
            time_zone: recipient.time_zone.trim().to_owned(),
            business_name: due.business_name.trim().to_owned(),
            business_time_zone: due.business_time_zone.trim().to_owned(),
            appointment_start,
            location: due.location.trim().to_owned(),
            participant: due.participant.trim().to_owned(),
            status: ReminderStatus::Queued.as_str(),
            traceparent: attend_runtime::telemetry::current_traceparent(),
            kind: kind.as_str(),
            template: due.template.trim().to_owned(),
            first_name: recipient.first_name.trim().to_owned(),
            last_name: recipient.last_name.trim().to_owned(),
            metadata,
        };
        if !conversations::insert(connection, &new).await? {
            tracing::info!(%reminder_id, attempt, "reminder attempt already recorded, ignoring");
            return Ok(());
        }
        let Some(reminder) = conversations::lock(connection, new.id).await? else {
            return Err(HandlerError::permanent("the stored reminder vanished"));
        };
        let to = mask::number(&reminder.to_number);

        let verdict = if to_number.is_none() {
            Some((
                ReminderStatus::Failed,
                Some(v1::ReminderOutcomeKind::Failed),
                "recipient has no valid phone number",
            ))
        } else if is_cancelled(connection, appointment_id).await? {
            Some((ReminderStatus::Cancelled, None, "appointment cancelled"))
        } else if kind.awaits_answer() && appointment_start <= Utc::now() {
            Some((
                ReminderStatus::Expired,
                Some(v1::ReminderOutcomeKind::Expired),
                "the appointment has already started",
            ))
        } else if consent::is_opted_out(connection, tenant_id, &reminder.to_number).await? {
            Some((
                ReminderStatus::Suppressed,
                Some(v1::ReminderOutcomeKind::Suppressed),
                "the recipient opted out earlier",
            ))
        } else {
            None
        };
        if let Some((status, outcome, detail)) = verdict {
            conversations::set_status(connection, reminder.id, status).await?;
            if let Some(kind) = outcome {
                conversations::report(connection, &reminder, kind, detail, None).await?;
            }
            tracing::info!(%reminder_id, %to, status = status.as_str(), detail, "reminder not sent");
            return Ok(());
        }

        let body = texts::for_reminder(&reminder, &tenant_settings);
        let message_id = outbound::enqueue(
            connection,
            tenant_id,
            Some(reminder.id),
            kind.message_kind(),
            &reminder.from_number,
            &reminder.to_number,
            &body,
        )
        .await?;
        tracing::info!(%reminder_id, %message_id, %to, attempt, kind = kind.as_str(), "reminder text queued");
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
        self.wake_sender.notify_one();
    }
}

/// Returns whether `appointment_id` was cancelled (its reminder may still be on its way).
pub async fn is_cancelled(
    connection: &mut AsyncPgConnection,
    appointment_id: Uuid,
) -> QueryResult<bool> {
    diesel::select(diesel::dsl::exists(
        cancelled_appointments::table.find(appointment_id),
    ))
    .get_result(connection)
    .await
}

/// Returns which of `appointment_ids` were cancelled, in one statement.
pub async fn cancelled_among(
    connection: &mut AsyncPgConnection,
    appointment_ids: &[Uuid],
) -> QueryResult<std::collections::HashSet<Uuid>> {
    if appointment_ids.is_empty() {
        return Ok(std::collections::HashSet::new());
    }
    let cancelled: Vec<Uuid> = cancelled_appointments::table
        .filter(cancelled_appointments::appointment_id.eq_any(appointment_ids))
        .select(cancelled_appointments::appointment_id)
        .load(connection)
        .await?;
    Ok(cancelled.into_iter().collect())
}

/// Returns `value` as a uuid, or a permanent error naming `field`.
pub fn parse_id(field: &str, value: &str) -> Result<Uuid, HandlerError> {
    value
        .trim()
        .parse()
        .map_err(|_| HandlerError::permanent(format!("{field} is not a uuid")))
}
