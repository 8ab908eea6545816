//! What booking-service does with reminder events: track each reminder's progress and move
//! the appointment's status when the customer answers; and keep a copy of who opted out of
//! which channel, for requests that demand eligible subscribers only.

use attend_events::{Event, from_timestamp, routing_keys, v1};
use attend_runtime::{ConsumerSpec, EventHandler, HandlerError, IncomingEvent, outbox};
use chrono::Utc;
use diesel_async::AsyncPgConnection;
use futures_util::FutureExt;
use futures_util::future::BoxFuture;
use uuid::Uuid;

use crate::db::appointments as queries;
use crate::db::reminder_outcomes::record_outcome_of_attempt;
use crate::db::reminder_policies;
use crate::events::{self, outcome_name};

/// Queue of reminder events for booking-service.
pub const REMINDER_EVENTS_QUEUE: &str = "booking.reminder-events";
/// Queue of opt-out and opt-in events for booking-service.
pub const SUBSCRIBER_EVENTS_QUEUE: &str = "booking.subscriber-events";
/// Batches of reminder events applied at once. Each event touches one reminder row and, for
/// an answer, its appointment, with conditional updates that give the same result in any
/// order (an answer is final, a delivery outcome gives way to a later attempt's or a reply).
/// Applied one at a time they capped confirmations at about 100 a second on the benchmark
/// machine. Two batches that lock the same rows in opposite orders deadlock; Postgres ends
/// one, and its events are applied again one by one, so that costs time, not correctness.
const REMINDER_EVENTS_CONCURRENCY: usize = 4;
/// Reminder events, among those received, applied in one transaction.
const REMINDER_EVENTS_BATCH: usize = 16;
/// Unacknowledged reminder events the broker may push at once.
const REMINDER_EVENTS_PREFETCH: u16 = 64;

/// Returns the reminder-events queue's spec: `reminder.due.*` and `reminder.outcome`,
/// applied concurrently. Earlier versions bound the subscriber events here too; they now
/// have their own queue, and these bindings are removed at start-up.
pub fn reminder_events_spec() -> ConsumerSpec {
    ConsumerSpec {
        prefetch: REMINDER_EVENTS_PREFETCH,
        concurrency: REMINDER_EVENTS_CONCURRENCY,
        batch_size: REMINDER_EVENTS_BATCH,
        retired_routing_keys: vec![
            routing_keys::SUBSCRIBER_OPTED_OUT,
            routing_keys::SUBSCRIBER_OPTED_IN,
        ],
        ..ConsumerSpec::new(
            REMINDER_EVENTS_QUEUE,
            vec![
                routing_keys::REMINDER_DUE_VOICE,
                routing_keys::REMINDER_DUE_SMS,
                routing_keys::REMINDER_OUTCOME,
            ],
        )
    }
}

/// Returns the subscriber-events queue's spec: `subscriber.opted_out` and `.opted_in`, one at
/// a time, because the later of an opt-out and an opt-in for one number must win.
pub fn subscriber_events_spec() -> ConsumerSpec {
    ConsumerSpec::new(
        SUBSCRIBER_EVENTS_QUEUE,
        vec![
            routing_keys::SUBSCRIBER_OPTED_OUT,
            routing_keys::SUBSCRIBER_OPTED_IN,
        ],
    )
}

/// Applies `reminder.due.*`, `reminder.outcome` and `subscriber.opted_out` / `.opted_in`
/// (both queues use it, so events left in the old queue by an earlier version still apply).
pub struct ReminderEventsHandler;

fn parse_id(raw: &str, field: &str) -> Result<Uuid, HandlerError> {
    raw.parse()
        .map_err(|_| HandlerError::permanent(format!("{field} is not a uuid: {raw:?}")))
}

impl EventHandler for ReminderEventsHandler {
    fn handle<'a>(
        &'a self,
        connection: &'a mut AsyncPgConnection,
        event: &'a IncomingEvent,
    ) -> BoxFuture<'a, Result<(), HandlerError>> {
        async move {
            match event.event_type.as_str() {
                v1::ReminderDue::TYPE => {
                    let due: v1::ReminderDue = event.decode()?;
                    let reminder_id = parse_id(&due.reminder_id, "reminder_id")?;
                    queries::mark_reminder_dispatched(connection, reminder_id).await?;
                    Ok(())
                }
                v1::ReminderOutcome::TYPE => {
                    let outcome: v1::ReminderOutcome = event.decode()?;
                    if crate::reminder_calls::apply_outcome(connection, &outcome).await? {
                        return Ok(());
                    }
                    apply_outcome(connection, &outcome).await
                }
                v1::SubscriberOptedOut::TYPE => {
                    let opted_out: v1::SubscriberOptedOut = event.decode()?;
                    let tenant_id = parse_id(&opted_out.tenant_id, "tenant_id")?;
                    let occurred_at = from_timestamp(opted_out.occurred_at.as_ref())
                        .unwrap_or_else(|_| Utc::now());
                    reminder_policies::record_opt_out(
                        connection,
                        tenant_id,
                        &opted_out.phone_e164,
                        &channel_names(&opted_out.channels),
                        &opted_out.source,
                        occurred_at,
                    )
                    .await?;
                    Ok(())
                }
                v1::SubscriberOptedIn::TYPE => {
                    let opted_in: v1::SubscriberOptedIn = event.decode()?;
                    let tenant_id = parse_id(&opted_in.tenant_id, "tenant_id")?;
                    reminder_policies::record_opt_in(
                        connection,
                        tenant_id,
                        &opted_in.phone_e164,
                        &channel_names(&opted_in.channels),
                    )
                    .await?;
                    Ok(())
                }
                other => Err(HandlerError::permanent(format!(
                    "unexpected event type {other}"
                ))),
            }
        }
        .boxed()
    }
}

/// Returns the stored names of the channels an event lists; unknown ones are left out.
fn channel_names(channels: &[i32]) -> Vec<&'static str> {
    channels
        .iter()
        .filter_map(|channel| match v1::Channel::try_from(*channel) {
            Ok(v1::Channel::Voice) => Some("voice"),
            Ok(v1::Channel::Sms) => Some("sms"),
            _ => None,
        })
        .collect()
}

async fn apply_outcome(
    connection: &mut AsyncPgConnection,
    outcome: &v1::ReminderOutcome,
) -> Result<(), HandlerError> {
    let reminder_id = parse_id(&outcome.reminder_id, "reminder_id")?;
    let tenant_id = parse_id(&outcome.tenant_id, "tenant_id")?;
    let kind = outcome.outcome();
    if kind == v1::ReminderOutcomeKind::Unspecified {
        // Says nothing (an unknown kind from a newer producer reads as this too): recording
        // it would make the reminder look answered.
        tracing::warn!(reminder_id = %reminder_id, "outcome without a kind ignored");
        return Ok(());
    }
    let occurred_at = from_timestamp(outcome.occurred_at.as_ref()).unwrap_or_else(|_| Utc::now());
    // Producers older than the attempt field send 0 (proto3's default): their first attempt.
    let attempt = outcome.attempt.max(1);
    let Some(recorded) = record_outcome_of_attempt(
        connection,
        reminder_id,
        outcome_name(kind),
        attempt,
        &outcome.detail,
        occurred_at,
    )
    .await?
    else {
        // An answer is final, a delivery outcome only gives way to a later attempt's or to
        // a reply: this one is a repeat, a late webhook, or not a reminder of ours.
        tracing::debug!(reminder_id = %reminder_id, attempt, "outcome ignored: reminder already answered, a later attempt recorded, or unknown");
        return Ok(());
    };
    let appointment_id = recorded.appointment_id;
    if recorded.tenant_id != tenant_id {
        // The stored tenant is the truth; the event's would send a cancellation to the
        // wrong tenant's consumers.
        tracing::warn!(reminder_id = %reminder_id, event_tenant_id = %tenant_id, tenant_id = %recorded.tenant_id, "outcome names another tenant than its reminder's");
    }

    match kind {
        v1::ReminderOutcomeKind::Confirmed => {
            queries::transition_status(
                connection,
                appointment_id,
                &["scheduled", "reschedule_requested"],
                "confirmed",
            )
            .await?;
        }
        v1::ReminderOutcomeKind::RescheduleRequested => {
            queries::transition_status(
                connection,
                appointment_id,
                &["scheduled", "confirmed"],
                "reschedule_requested",
            )
            .await?;
        }
        v1::ReminderOutcomeKind::Cancelled => {
            cancel_after_reply(connection, appointment_id, recorded.tenant_id, occurred_at).await?;
        }
        // No answer, busy, failure, opt-out, and SMS's sent, unparsable reply and suppressed
        // (opted out before it was due): the reminder records it; the appointment stands.
        _ => {}
    }
    tracing::info!(reminder_id = %reminder_id, appointment_id = %appointment_id, outcome = outcome_name(kind), attempt, "reminder outcome applied");
    Ok(())
}

/// Cancels the appointment the customer cancelled from a reminder, drops its other pending
/// reminders, and tells the scheduler, in the consumer's transaction.
async fn cancel_after_reply(
    connection: &mut AsyncPgConnection,
    appointment_id: Uuid,
    tenant_id: Uuid,
    occurred_at: chrono::DateTime<Utc>,
) -> Result<(), HandlerError> {
    let open = ["scheduled", "confirmed", "reschedule_requested"];
    if !queries::transition_status(connection, appointment_id, &open, "cancelled").await? {
        return Ok(());
    }
    queries::cancel_pending_reminders(connection, appointment_id).await?;
    let event =
        events::appointment_cancelled(appointment_id, tenant_id, "reminder_reply", occurred_at);
    outbox::enqueue(connection, Some(tenant_id), &event).await?;
    Ok(())
}
