//! The scheduler's three consumers: appointment events plan and drop reminder jobs (and a
//! no-show drops them and plans the no-show message), reminder outcomes close, retry or fall
//! back, tenant settings keep each tenant's policy. Each handler runs inside the runtime's inbox transaction, so a
//! redelivered event is acknowledged without effect.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use attend_events::{Event, from_timestamp, routing_keys, v1};
use attend_runtime::{ConsumerSpec, EventHandler, HandlerError, IncomingEvent, Secret};
use chrono::{DateTime, Utc};
use diesel_async::AsyncPgConnection;
use futures_util::future::BoxFuture;
use tokio::sync::Notify;
use uuid::Uuid;

use crate::appointments::{self, AppointmentStatus};
use crate::dispatcher::recipient_zone;
use crate::jobs::{
    self, AppointmentSnapshot, CancelReason, Channel, Completion, JobStatus, Outcome,
    PlannedReminder, ReminderKind,
};
use crate::policy::{self, CallingWindow, RetryPolicy, TenantPolicy};

/// The queue of appointment events, without prefix.
pub const APPOINTMENT_EVENTS_QUEUE: &str = "scheduler.appointment-events";
/// The queue of reminder outcomes, without prefix.
pub const REMINDER_OUTCOMES_QUEUE: &str = "scheduler.reminder-outcomes";

/// Events of an ordered queue applied in one transaction when that many are waiting: one
/// `BEGIN`, inbox insert and `COMMIT` for all of them instead of each. The batch keeps the
/// delivery order, so the queue stays ordered.
const ORDERED_BATCH: usize = 32;
/// Unacknowledged deliveries of an ordered queue: enough for the batch in hand and the next.
const ORDERED_PREFETCH: u16 = 64;

/// Returns the spec of the appointment events queue: one at a time, in batches.
pub fn appointment_events_spec() -> ConsumerSpec {
    ConsumerSpec {
        prefetch: ORDERED_PREFETCH,
        batch_size: ORDERED_BATCH,
        ..ConsumerSpec::new(
            APPOINTMENT_EVENTS_QUEUE,
            vec![
                routing_keys::APPOINTMENT_SCHEDULED,
                routing_keys::APPOINTMENT_RESCHEDULED,
                routing_keys::APPOINTMENT_CANCELLED,
                routing_keys::APPOINTMENT_NO_SHOW,
            ],
        )
    }
}

/// The queue of tenant settings, without prefix.
pub const TENANT_SETTINGS_QUEUE: &str = "scheduler.tenant-settings";

/// Returns the spec of the tenant settings queue.
pub fn tenant_settings_spec() -> ConsumerSpec {
    ConsumerSpec::new(
        TENANT_SETTINGS_QUEUE,
        vec![routing_keys::TENANT_SETTINGS_CHANGED],
    )
}

/// Returns the spec of the reminder outcomes queue: one at a time, in batches.
pub fn reminder_outcomes_spec() -> ConsumerSpec {
    ConsumerSpec {
        prefetch: ORDERED_PREFETCH,
        batch_size: ORDERED_BATCH,
        ..ConsumerSpec::new(
            REMINDER_OUTCOMES_QUEUE,
            vec![routing_keys::REMINDER_OUTCOME],
        )
    }
}

/// Applies `appointment.scheduled`, `.rescheduled`, `.cancelled` and `.no_show` to the jobs
/// table.
pub struct AppointmentEventsHandler {
    dispatcher_wake: Arc<Notify>,
    dispatcher_poll: std::time::Duration,
}

impl AppointmentEventsHandler {
    /// Returns a handler that wakes the dispatcher through `dispatcher_wake` after storing
    /// jobs due within `dispatcher_poll` (the longest the dispatcher sleeps), so a reminder
    /// that is due now fires at once. Later jobs need no wake: a round runs at least every
    /// poll interval and then sleeps only until the next due job.
    pub fn new(dispatcher_wake: Arc<Notify>, dispatcher_poll: std::time::Duration) -> Self {
        Self {
            dispatcher_wake,
            dispatcher_poll,
        }
    }

    /// Returns whether one of `plans` is due before the dispatcher would look again anyway
    /// (or has no readable due time: waking is the safe side).
    fn due_soon(&self, plans: &[v1::ReminderPlan]) -> bool {
        let horizon = Utc::now()
            + chrono::TimeDelta::from_std(self.dispatcher_poll).unwrap_or(chrono::TimeDelta::MAX);
        plans.iter().any(|plan| {
            from_timestamp(plan.due_at.as_ref()).map_or(true, |due_at| due_at <= horizon)
        })
    }
}

impl EventHandler for AppointmentEventsHandler {
    fn handle<'a>(
        &'a self,
        connection: &'a mut AsyncPgConnection,
        event: &'a IncomingEvent,
    ) -> BoxFuture<'a, Result<(), HandlerError>> {
        Box::pin(apply_appointment_event(connection, event))
    }

    fn after_commit(&self, event: &IncomingEvent) {
        // A booking's reminders are mostly hours or days away: waking the dispatcher for each
        // cost a claim round, six statements, per booking.
        let wake = match event.event_type.as_str() {
            v1::AppointmentScheduled::TYPE => event
                .decode::<v1::AppointmentScheduled>()
                .map_or(true, |scheduled| self.due_soon(&scheduled.reminders)),
            v1::AppointmentRescheduled::TYPE => event
                .decode::<v1::AppointmentRescheduled>()
                .map_or(true, |rescheduled| self.due_soon(&rescheduled.reminders)),
            v1::AppointmentNoShow::TYPE => true,
            _ => false,
        };
        if wake {
            self.dispatcher_wake.notify_one();
        }
    }
}

async fn apply_appointment_event(
    connection: &mut AsyncPgConnection,
    event: &IncomingEvent,
) -> Result<(), HandlerError> {
    let event_type = event.event_type.as_str();
    if event_type == v1::AppointmentScheduled::TYPE {
        apply_scheduled(connection, &event.decode()?).await
    } else if event_type == v1::AppointmentRescheduled::TYPE {
        apply_rescheduled(connection, &event.decode()?).await
    } else if event_type == v1::AppointmentCancelled::TYPE {
        apply_cancelled(connection, &event.decode()?).await
    } else if event_type == v1::AppointmentNoShow::TYPE {
        apply_no_show(connection, &event.decode()?).await
    } else {
        Err(HandlerError::permanent(format!(
            "unexpected event type {event_type:?} on {APPOINTMENT_EVENTS_QUEUE}"
        )))
    }
}

async fn apply_scheduled(
    connection: &mut AsyncPgConnection,
    scheduled: &v1::AppointmentScheduled,
) -> Result<(), HandlerError> {
    let appointment = parse_appointment(scheduled.appointment.as_ref())?;
    let plans = parse_plans(&scheduled.reminders)?;
    let locked = appointments::lock_or_create(
        connection,
        appointment.appointment_id,
        appointment.tenant_id,
        appointment.start,
    )
    .await?;
    if locked.status.is_final() {
        tracing::info!(appointment_id = %appointment.appointment_id, status = locked.status.as_str(), "appointment already cancelled or a no-show, storing no reminders");
        return Ok(());
    }
    if locked.reschedule_count > 0 {
        // A reschedule overtook this event (redeliveries reorder); its plan replaced this one.
        tracing::info!(appointment_id = %appointment.appointment_id, "appointment already rescheduled, ignoring the stale schedule");
        return Ok(());
    }
    appointments::set_start(
        connection,
        appointment.appointment_id,
        appointment.start,
        false,
    )
    .await?;
    let inserted = jobs::insert_plans(connection, &appointment, &plans).await?;
    tracing::info!(
        appointment_id = %appointment.appointment_id,
        planned = plans.len(),
        inserted,
        "reminders stored for a scheduled appointment"
    );
    Ok(())
}

async fn apply_rescheduled(
    connection: &mut AsyncPgConnection,
    rescheduled: &v1::AppointmentRescheduled,
) -> Result<(), HandlerError> {
    let appointment = parse_appointment(rescheduled.appointment.as_ref())?;
    let plans = parse_plans(&rescheduled.reminders)?;
    let locked = appointments::lock_or_create(
        connection,
        appointment.appointment_id,
        appointment.tenant_id,
        appointment.start,
    )
    .await?;
    if locked.status.is_final() {
        tracing::info!(appointment_id = %appointment.appointment_id, status = locked.status.as_str(), "appointment already cancelled or a no-show, ignoring the reschedule");
        return Ok(());
    }
    appointments::set_start(
        connection,
        appointment.appointment_id,
        appointment.start,
        true,
    )
    .await?;
    // Keeping the new plan's ids out of the cancellation makes a repeated reschedule (same
    // plan, new event id) harmless: its jobs stay pending instead of cancelling themselves.
    let keep: Vec<Uuid> = plans.iter().map(|plan| plan.reminder_id).collect();
    let superseded = jobs::cancel_pending(
        connection,
        appointment.appointment_id,
        CancelReason::Superseded,
        &keep,
    )
    .await?;
    let planned = jobs::upsert_pending_plans(connection, &appointment, &plans).await?;
    tracing::info!(
        appointment_id = %appointment.appointment_id,
        superseded,
        planned,
        "reminders replaced for a rescheduled appointment"
    );
    Ok(())
}

async fn apply_cancelled(
    connection: &mut AsyncPgConnection,
    cancelled: &v1::AppointmentCancelled,
) -> Result<(), HandlerError> {
    let appointment_id = parse_uuid("appointment_id", &cancelled.appointment_id)?;
    let tenant_id = parse_uuid("tenant_id", &cancelled.tenant_id)?;
    appointments::mark_cancelled(connection, appointment_id, tenant_id).await?;
    let dropped = jobs::cancel_pending(
        connection,
        appointment_id,
        CancelReason::AppointmentCancelled,
        &[],
    )
    .await?;
    tracing::info!(%appointment_id, dropped, reason = %cancelled.reason, "reminders dropped for a cancelled appointment");
    Ok(())
}

/// Applies `appointment.no_show`: under the appointment's lock, marks it a no-show (final),
/// cancels every pending job of it (reminders, retries and follow-ups; the same blocking
/// UPDATE as a cancellation, so a follow-up being claimed at that instant either committed
/// before or never fires), and stores the no-show message as a pending job.
async fn apply_no_show(
    connection: &mut AsyncPgConnection,
    no_show: &v1::AppointmentNoShow,
) -> Result<(), HandlerError> {
    let appointment = parse_appointment(no_show.appointment.as_ref())?;
    let recorded_at = from_timestamp(no_show.recorded_at.as_ref()).ok();
    let message = no_show
        .message
        .as_ref()
        .map(|plan| parse_no_show_message(plan, recorded_at))
        .transpose()?;
    let locked = appointments::lock_or_create(
        connection,
        appointment.appointment_id,
        appointment.tenant_id,
        appointment.start,
    )
    .await?;
    match locked.status {
        AppointmentStatus::Active => {}
        AppointmentStatus::NoShow => {
            // Recorded at most once: a republished event must not send the message twice.
            tracing::info!(appointment_id = %appointment.appointment_id, "no-show already recorded, ignored");
            return Ok(());
        }
        AppointmentStatus::Cancelled => {
            tracing::info!(appointment_id = %appointment.appointment_id, "appointment cancelled, no-show ignored");
            return Ok(());
        }
    }
    appointments::mark_no_show(connection, appointment.appointment_id).await?;
    let dropped = jobs::cancel_pending(
        connection,
        appointment.appointment_id,
        CancelReason::NoShow,
        &[],
    )
    .await?;
    let planned = match &message {
        Some(plan) => {
            jobs::insert_plans(connection, &appointment, std::slice::from_ref(plan)).await?
        }
        None => 0,
    };
    tracing::info!(
        appointment_id = %appointment.appointment_id,
        dropped,
        planned,
        "no-show recorded"
    );
    Ok(())
}

/// Returns the no-show message as a plan of kind NO_SHOW, due at its own due time, else when
/// the no-show was recorded, else now.
fn parse_no_show_message(
    plan: &v1::ReminderPlan,
    recorded_at: Option<DateTime<Utc>>,
) -> Result<PlannedReminder, HandlerError> {
    if !matches!(
        plan.kind(),
        v1::ReminderKind::NoShow | v1::ReminderKind::Unspecified
    ) {
        tracing::warn!(kind = ?plan.kind(), "no-show message planned with another kind, sending it as a no-show message");
    }
    let due_at = from_timestamp(plan.due_at.as_ref())
        .ok()
        .or(recorded_at)
        .unwrap_or_else(Utc::now);
    let mut parsed = parse_plan("message", plan, Some(due_at))?;
    parsed.kind = ReminderKind::NoShow;
    Ok(parsed)
}

/// Closes reminder jobs with the outcome their channel reports, puts a voice job back to
/// `pending` for another attempt when the tenant's retry policy asks for one, or turns it into
/// an attempt on its fallback channel when no retry is left.
pub struct ReminderOutcomesHandler {
    dispatcher_wake: Arc<Notify>,
}

impl ReminderOutcomesHandler {
    /// Returns a handler that wakes the dispatcher through `dispatcher_wake` after scheduling
    /// a retry.
    pub fn new(dispatcher_wake: Arc<Notify>) -> Self {
        Self { dispatcher_wake }
    }
}

impl EventHandler for ReminderOutcomesHandler {
    fn handle<'a>(
        &'a self,
        connection: &'a mut AsyncPgConnection,
        event: &'a IncomingEvent,
    ) -> BoxFuture<'a, Result<(), HandlerError>> {
        Box::pin(apply_outcome_event(connection, event))
    }

    fn after_commit(&self, event: &IncomingEvent) {
        // Only an unanswered call can put its job back to pending (a retry or a fallback due
        // now). Waking the dispatcher for every other outcome cost a claim round, six
        // statements, per reminder sent; the poll still finds anything a wake would have.
        let may_requeue = event
            .decode::<v1::ReminderOutcome>()
            .ok()
            .and_then(|reported| Outcome::from_proto(reported.outcome()))
            .is_some_and(|outcome| !outcome.is_answer() && outcome != Outcome::Sent);
        if may_requeue {
            self.dispatcher_wake.notify_one();
        }
    }
}

async fn apply_outcome_event(
    connection: &mut AsyncPgConnection,
    event: &IncomingEvent,
) -> Result<(), HandlerError> {
    if event.event_type != v1::ReminderOutcome::TYPE {
        return Err(HandlerError::permanent(format!(
            "unexpected event type {:?} on {REMINDER_OUTCOMES_QUEUE}",
            event.event_type
        )));
    }
    let reported: v1::ReminderOutcome = event.decode()?;
    let reminder_id = parse_uuid("reminder_id", &reported.reminder_id)?;
    if reported.outcome() == v1::ReminderOutcomeKind::Expired {
        // Expiry is the scheduler's own verdict: the job expired in the round that wrote it.
        tracing::debug!(%reminder_id, "own expiry outcome, nothing to do");
        return Ok(());
    }
    if reported.outcome() == v1::ReminderOutcomeKind::Unparsable {
        // A reply that is not an answer yet: booking-service shows it, the job is already done.
        tracing::debug!(%reminder_id, "unparsable reply, nothing to do");
        return Ok(());
    }
    let outcome = Outcome::from_proto(reported.outcome())
        .ok_or_else(|| HandlerError::permanent("outcome is unspecified"))?;
    // Producers older than the attempt field send 0 (proto3's default): their first attempt.
    let attempt = reported.attempt.max(1);
    // A missing occurrence time is a producer's omission, not a reason to lose the outcome.
    let occurred_at = from_timestamp(reported.occurred_at.as_ref()).unwrap_or_else(|_| Utc::now());

    if outcome.is_answer() || outcome == Outcome::Sent {
        // Neither can put the job back to pending: no retry or fallback follows an answer, and
        // a text handed to the carrier is its job's last attempt. So the appointment need not
        // be read, and one conditional update does what the locked path below would. An SMS
        // reminder's answer always takes this path after its "sent" closed the job: three
        // reads per answer before.
        if jobs::complete_attempt(connection, reminder_id, attempt, outcome, occurred_at).await? {
            tracing::info!(%reminder_id, outcome = outcome.as_str(), attempt, "reminder completed");
        } else {
            tracing::debug!(%reminder_id, outcome = outcome.as_str(), attempt, "outcome ignored: the reminder is final, at another attempt, or unknown");
        }
        return Ok(());
    }
    // The appointment is locked before the job, the order in which a cancel or reschedule
    // takes them, so that such an event and this outcome take turns instead of deadlocking;
    // whichever commits second sees what the first wrote.
    let appointment = match jobs::appointment_of(connection, reminder_id).await? {
        Some(appointment_id) => appointments::lock_shared(connection, appointment_id).await?,
        None => None,
    };
    let Some(job) = jobs::lock(connection, reminder_id).await? else {
        tracing::warn!(%reminder_id, outcome = outcome.as_str(), "outcome for an unknown reminder, ignored");
        return Ok(());
    };
    if !matches!(job.status, JobStatus::Pending | JobStatus::Dispatched) {
        tracing::info!(%reminder_id, outcome = outcome.as_str(), status = %job.status, "reminder already final, outcome ignored");
        return Ok(());
    }
    if attempt != job.attempt {
        // Older: a late webhook of an attempt already retried. Newer: not dispatched yet, so
        // a producer bug; either way the current attempt's own outcome decides.
        tracing::info!(%reminder_id, outcome = outcome.as_str(), attempt, current_attempt = job.attempt, "outcome of another attempt, ignored");
        return Ok(());
    }
    if job.channel == Channel::Voice && !outcome.is_answer() {
        // Cancelling, rescheduling and recording a no-show drop only pending jobs; this one
        // was out on a call. Another attempt must not outlive such a change.
        let still_wanted = appointment
            .is_some_and(|appointment| appointment.still_wants(job.kind, job.appointment_start));
        let policy = policy::policy_of(connection, job.tenant_id).await?;
        if policy.voice_retry.retries(job.attempt, outcome) {
            let earliest = occurred_at + policy.voice_retry.interval;
            let zone = recipient_zone(&job);
            if !still_wanted {
                // Cancelling and rescheduling drop only pending jobs; this one was out on a
                // call. A retry would remind of a cancelled appointment, or of the old time of
                // a moved one (whose new plan replaced this reminder), after that change
                // committed: this attempt's outcome is the job's last.
                tracing::info!(%reminder_id, outcome = outcome.as_str(), "appointment cancelled or moved since this attempt, no retry");
            } else if let Some(due_at) =
                policy::retry_due_at(policy.window, zone, earliest, job.appointment_start)
            {
                jobs::schedule_retry(connection, reminder_id, job.attempt, due_at).await?;
                tracing::info!(%reminder_id, outcome = outcome.as_str(), next_attempt = job.attempt + 1, %due_at, "reminder retry scheduled");
                return Ok(());
            } else {
                tracing::info!(%reminder_id, outcome = outcome.as_str(), "no calling window left for a retry before the appointment");
            }
        }
        // No retry left (or none possible): the fallback channel gets one attempt, due now;
        // the dispatcher applies the calling window to it like to any attempt.
        if falls_back_on(outcome)
            && let Some(fallback) = job
                .fallback_channel
                .filter(|channel| *channel != job.channel)
        {
            if still_wanted {
                if jobs::fall_back(connection, reminder_id, job.attempt, fallback).await? {
                    tracing::info!(%reminder_id, outcome = outcome.as_str(), next_attempt = job.attempt + 1, channel = fallback.as_str(), "reminder falls back to another channel");
                    return Ok(());
                }
            } else {
                tracing::info!(%reminder_id, outcome = outcome.as_str(), "appointment cancelled, moved or a no-show since this attempt, no fallback");
            }
        }
    }
    match jobs::complete(connection, reminder_id, outcome, occurred_at).await? {
        Completion::Completed => {
            tracing::info!(%reminder_id, outcome = outcome.as_str(), attempt, "reminder completed");
        }
        Completion::AlreadyFinal(status) => {
            tracing::info!(%reminder_id, outcome = outcome.as_str(), %status, "reminder already final, outcome ignored");
        }
        Completion::UnknownReminder => {
            tracing::warn!(%reminder_id, outcome = outcome.as_str(), "outcome for an unknown reminder, ignored");
        }
    }
    Ok(())
}

/// Returns whether a voice attempt that ended with `outcome` reached nobody, so that its
/// fallback channel is tried: no answer, busy, an answering machine, or a carrier failure.
fn falls_back_on(outcome: Outcome) -> bool {
    matches!(
        outcome,
        Outcome::NoAnswer | Outcome::Busy | Outcome::Machine | Outcome::Failed
    )
}

/// Keeps the tenants' reminder policies from `tenant.settings_changed`.
pub struct TenantSettingsHandler;

impl EventHandler for TenantSettingsHandler {
    fn handle<'a>(
        &'a self,
        connection: &'a mut AsyncPgConnection,
        event: &'a IncomingEvent,
    ) -> BoxFuture<'a, Result<(), HandlerError>> {
        Box::pin(apply_settings_event(connection, event))
    }
}

async fn apply_settings_event(
    connection: &mut AsyncPgConnection,
    event: &IncomingEvent,
) -> Result<(), HandlerError> {
    if event.event_type != v1::TenantSettingsChanged::TYPE {
        return Err(HandlerError::permanent(format!(
            "unexpected event type {:?} on {TENANT_SETTINGS_QUEUE}",
            event.event_type
        )));
    }
    let settings: v1::TenantSettingsChanged = event.decode()?;
    let tenant_id = parse_uuid("tenant_id", &settings.tenant_id)?;
    let version = i64::try_from(settings.version).map_err(|_| {
        HandlerError::permanent(format!("version {} is out of range", settings.version))
    })?;
    let tenant_policy = parse_policy(&settings)?;
    let changed_at = from_timestamp(settings.changed_at.as_ref()).ok();
    let stored =
        policy::store_if_newer(connection, tenant_id, version, &tenant_policy, changed_at).await?;
    if stored {
        tracing::info!(%tenant_id, version, "tenant reminder policy stored");
    } else {
        tracing::info!(%tenant_id, version, "tenant reminder policy not newer than the stored one, ignored");
    }
    Ok(())
}

/// Returns the policy an event carries; an absent part keeps its default, a malformed one is a
/// permanent error (booking-service validates settings, so it is a producer bug).
fn parse_policy(settings: &v1::TenantSettingsChanged) -> Result<TenantPolicy, HandlerError> {
    let mut parsed = TenantPolicy::default();
    if let Some(window) = &settings.calling_window {
        parsed.window =
            CallingWindow::new(window.start_minute, window.end_minute).ok_or_else(|| {
                HandlerError::permanent(format!(
                    "calling_window [{}, {}) is empty or longer than a day",
                    window.start_minute, window.end_minute
                ))
            })?;
    }
    if let Some(retry) = &settings.voice_retry {
        if retry.interval_seconds == 0 {
            return Err(HandlerError::permanent("voice_retry.interval_seconds is 0"));
        }
        let mut retry_on = Vec::with_capacity(retry.retry_on.len());
        for kind in retry.retry_on() {
            match Outcome::from_proto(kind) {
                Some(outcome) if !outcome.is_answer() => retry_on.push(outcome),
                _ => {
                    tracing::warn!(kind = ?kind, "voice_retry.retry_on names an outcome that cannot be retried, skipped")
                }
            }
        }
        parsed.voice_retry = RetryPolicy {
            max_retries: retry.max_retries,
            interval: Duration::from_secs(u64::from(retry.interval_seconds)),
            retry_on,
        };
    }
    Ok(parsed)
}

fn parse_uuid(field: &str, value: &str) -> Result<Uuid, HandlerError> {
    value
        .parse()
        .map_err(|_| HandlerError::permanent(format!("{field} is not a uuid: {value:?}")))
}

/// Returns the appointment data every job of the event copies; anything missing or malformed
/// is a permanent error (a producer bug that retrying cannot fix).
fn parse_appointment(
    details: Option<&v1::AppointmentDetails>,
) -> Result<AppointmentSnapshot, HandlerError> {
    let details = details.ok_or_else(|| HandlerError::permanent("appointment is missing"))?;
    let recipient = details
        .recipient
        .as_ref()
        .ok_or_else(|| HandlerError::permanent("appointment.recipient is missing"))?;
    if recipient.phone_e164.trim().is_empty() {
        return Err(HandlerError::permanent(
            "appointment.recipient.phone_e164 is empty",
        ));
    }
    let start = from_timestamp(details.start.as_ref())
        .map_err(|error| HandlerError::permanent(format!("appointment.start: {error}")))?;
    Ok(AppointmentSnapshot {
        appointment_id: parse_uuid("appointment.appointment_id", &details.appointment_id)?,
        tenant_id: parse_uuid("appointment.tenant_id", &details.tenant_id)?,
        business_name: details.business_name.clone(),
        recipient_name: recipient.name.clone(),
        recipient_phone: Secret::new(recipient.phone_e164.clone()),
        recipient_locale: recipient.locale.clone(),
        recipient_time_zone: recipient.time_zone.clone(),
        start,
        location: details.location.clone(),
        participant: details.participant.clone(),
        business_time_zone: details.business_time_zone.clone(),
        recipient_first_name: recipient.first_name.trim().to_owned(),
        recipient_last_name: recipient.last_name.trim().to_owned(),
        metadata: details
            .metadata
            .iter()
            .map(|(key, value)| (key.clone(), value.clone()))
            .collect::<BTreeMap<_, _>>(),
    })
}

/// Returns the event's reminder plans. A malformed plan is a permanent error; a reminder id
/// listed twice keeps its first plan.
fn parse_plans(plans: &[v1::ReminderPlan]) -> Result<Vec<PlannedReminder>, HandlerError> {
    let mut parsed = Vec::with_capacity(plans.len());
    let mut seen = HashSet::with_capacity(plans.len());
    for (index, plan) in plans.iter().enumerate() {
        let plan = parse_plan(&format!("reminders[{index}]"), plan, None)?;
        if !seen.insert(plan.reminder_id) {
            tracing::warn!(reminder_id = %plan.reminder_id, "reminder listed twice in one event, keeping the first plan");
            continue;
        }
        parsed.push(plan);
    }
    Ok(parsed)
}

/// Returns one plan (`field` names it in errors); `due_at` replaces the plan's own due time
/// when given. A fallback to the plan's own channel is no fallback.
fn parse_plan(
    field: &str,
    plan: &v1::ReminderPlan,
    due_at: Option<DateTime<Utc>>,
) -> Result<PlannedReminder, HandlerError> {
    let reminder_id = parse_uuid(&format!("{field}.reminder_id"), &plan.reminder_id)?;
    let channel = Channel::from_proto(plan.channel())
        .ok_or_else(|| HandlerError::permanent(format!("{field}.channel is unspecified")))?;
    let due_at = match due_at {
        Some(due_at) => due_at,
        None => from_timestamp(plan.due_at.as_ref())
            .map_err(|error| HandlerError::permanent(format!("{field}.due_at: {error}")))?,
    };
    let fallback_channel =
        Channel::from_proto(plan.fallback_channel()).filter(|fallback| *fallback != channel);
    Ok(PlannedReminder {
        reminder_id,
        channel,
        due_at,
        kind: ReminderKind::from_proto(plan.kind()),
        template: plan.template.trim().to_owned(),
        fallback_channel,
        fallback_template: plan.fallback_template.trim().to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use attend_events::to_timestamp;
    use chrono::DateTime;

    use super::*;

    fn details() -> v1::AppointmentDetails {
        v1::AppointmentDetails {
            appointment_id: Uuid::now_v7().to_string(),
            tenant_id: Uuid::now_v7().to_string(),
            business_name: "Clinic".to_owned(),
            recipient: Some(v1::Recipient {
                name: "Ada".to_owned(),
                phone_e164: "+15550100001".to_owned(),
                locale: "en".to_owned(),
                time_zone: "Europe/Berlin".to_owned(),
                ..v1::Recipient::default()
            }),
            start: Some(to_timestamp(
                DateTime::from_timestamp(1_800_000_000, 0).unwrap(),
            )),
            end: None,
            location: String::new(),
            participant: String::new(),
            business_time_zone: String::new(),
            ..v1::AppointmentDetails::default()
        }
    }

    fn plan(reminder_id: &str, channel: v1::Channel) -> v1::ReminderPlan {
        v1::ReminderPlan {
            reminder_id: reminder_id.to_owned(),
            channel: channel.into(),
            due_at: Some(to_timestamp(
                DateTime::from_timestamp(1_799_990_000, 0).unwrap(),
            )),
            ..v1::ReminderPlan::default()
        }
    }

    #[test]
    fn a_complete_appointment_parses() {
        let snapshot = parse_appointment(Some(&details())).unwrap();
        assert_eq!(snapshot.recipient_phone.expose(), "+15550100001");
        assert_eq!(snapshot.start.timestamp(), 1_800_000_000);
    }

    #[test]
    fn missing_appointment_data_is_permanent() {
        assert!(matches!(
            parse_appointment(None),
            Err(HandlerError::Permanent(_))
        ));
        let mut no_start = details();
        no_start.start = None;
        assert!(matches!(
            parse_appointment(Some(&no_start)),
            Err(HandlerError::Permanent(_))
        ));
        let mut bad_id = details();
        bad_id.appointment_id = "42".to_owned();
        assert!(matches!(
            parse_appointment(Some(&bad_id)),
            Err(HandlerError::Permanent(_))
        ));
    }

    #[test]
    fn an_unspecified_channel_is_permanent() {
        let plans = [plan(&Uuid::now_v7().to_string(), v1::Channel::Unspecified)];
        let error = parse_plans(&plans).unwrap_err();
        assert!(
            error.to_string().contains("reminders[0].channel"),
            "{error}"
        );
    }

    #[test]
    fn a_reminder_listed_twice_keeps_its_first_plan() {
        let id = Uuid::now_v7().to_string();
        let plans = [plan(&id, v1::Channel::Voice), plan(&id, v1::Channel::Sms)];
        let parsed = parse_plans(&plans).unwrap();
        assert_eq!(parsed.len(), 1);
        assert_eq!(parsed[0].channel, Channel::Voice);
    }
}
