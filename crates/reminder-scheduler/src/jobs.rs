//! Reminder jobs: what fires when, on which channel, and what became of it.
//!
//! A job moves `pending → dispatched | expired | cancelled`, `pending | dispatched →
//! completed`, and `dispatched → pending` when a voice attempt is retried or falls back to
//! SMS (attempt + 1); every other state is final. The queries below are the only writers.

use std::collections::BTreeMap;
use std::fmt;

use attend_events::v1;
use attend_runtime::Secret;
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Nullable, Timestamptz};
use diesel::upsert::excluded;
use diesel_async::{AsyncPgConnection, RunQueryDsl, SimpleAsyncConnection};
use uuid::Uuid;

use crate::db::schema::reminder_jobs;

/// The channel a reminder goes out on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Channel {
    /// A phone call with a DTMF menu.
    Voice,
    /// A text message with a Yes/No reply.
    Sms,
}

impl Channel {
    /// Returns the stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Voice => "voice",
            Self::Sms => "sms",
        }
    }

    /// Returns the channel stored as `name`.
    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "voice" => Some(Self::Voice),
            "sms" => Some(Self::Sms),
            _ => None,
        }
    }

    /// Returns the channel of a protobuf value; `Unspecified` has none.
    pub fn from_proto(channel: v1::Channel) -> Option<Self> {
        match channel {
            v1::Channel::Voice => Some(Self::Voice),
            v1::Channel::Sms => Some(Self::Sms),
            v1::Channel::Unspecified => None,
        }
    }

    /// Returns the protobuf value.
    pub fn to_proto(self) -> v1::Channel {
        match self {
            Self::Voice => v1::Channel::Voice,
            Self::Sms => v1::Channel::Sms,
        }
    }
}

/// What a reminder is for: it decides the message, when the job may still fire, and whether
/// the channel awaits an answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ReminderKind {
    /// Before the start; asks for an answer.
    Reminder,
    /// After the appointment; informational. Dropped once a no-show is recorded.
    FollowUp,
    /// Sent when a no-show is recorded; informational.
    NoShow,
}

impl ReminderKind {
    /// Every kind.
    pub const ALL: [Self; 3] = [Self::Reminder, Self::FollowUp, Self::NoShow];

    /// Returns the stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Reminder => "reminder",
            Self::FollowUp => "follow_up",
            Self::NoShow => "no_show",
        }
    }

    /// Returns the kind stored as `name`.
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|kind| kind.as_str() == name)
    }

    /// Returns the kind of a protobuf value; `Unspecified` (events older than kinds) is a
    /// reminder.
    pub fn from_proto(kind: v1::ReminderKind) -> Self {
        match kind {
            v1::ReminderKind::Unspecified | v1::ReminderKind::Reminder => Self::Reminder,
            v1::ReminderKind::FollowUp => Self::FollowUp,
            v1::ReminderKind::NoShow => Self::NoShow,
        }
    }

    /// Returns the protobuf value.
    pub fn to_proto(self) -> v1::ReminderKind {
        match self {
            Self::Reminder => v1::ReminderKind::Reminder,
            Self::FollowUp => v1::ReminderKind::FollowUp,
            Self::NoShow => v1::ReminderKind::NoShow,
        }
    }

    /// Returns whether the job is meant to fire after the appointment started (a follow-up or
    /// the no-show message), so that a started appointment does not expire it.
    pub fn fires_after_start(self) -> bool {
        matches!(self, Self::FollowUp | Self::NoShow)
    }
}

/// Where a job is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum JobStatus {
    /// Waiting for its due time.
    Pending,
    /// `reminder.due` was written to the outbox; waiting for the channel's outcome.
    Dispatched,
    /// The channel reported an outcome.
    Completed,
    /// Dropped before it fired: its appointment was cancelled or rescheduled.
    Cancelled,
    /// Its appointment had already started when it came due; nothing was sent.
    Expired,
}

impl JobStatus {
    /// Every status, in life-cycle order.
    pub const ALL: [Self; 5] = [
        Self::Pending,
        Self::Dispatched,
        Self::Completed,
        Self::Cancelled,
        Self::Expired,
    ];

    /// Returns the stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Dispatched => "dispatched",
            Self::Completed => "completed",
            Self::Cancelled => "cancelled",
            Self::Expired => "expired",
        }
    }

    /// Returns the status stored as `name`.
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|status| status.as_str() == name)
    }
}

impl fmt::Display for JobStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a job was cancelled before it fired.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CancelReason {
    /// A reschedule replaced it with a new plan.
    Superseded,
    /// Its appointment was cancelled.
    AppointmentCancelled,
    /// Its appointment was marked a no-show: reminders and follow-ups still pending are moot.
    NoShow,
}

impl CancelReason {
    /// Returns the stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Superseded => "superseded",
            Self::AppointmentCancelled => "appointment_cancelled",
            Self::NoShow => "no_show",
        }
    }

    /// Returns the reason stored as `name`.
    pub fn parse(name: &str) -> Option<Self> {
        [Self::Superseded, Self::AppointmentCancelled, Self::NoShow]
            .into_iter()
            .find(|reason| reason.as_str() == name)
    }
}

/// How a dispatched reminder ended, as the channel reported it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The recipient confirmed the appointment.
    Confirmed,
    /// The recipient asked to move the appointment.
    RescheduleRequested,
    /// The recipient cancelled the appointment.
    Cancelled,
    /// Answered or rang out without a usable answer.
    NoAnswer,
    /// The line was busy.
    Busy,
    /// The carrier could not deliver it, finally.
    Failed,
    /// The recipient asked to stop reminders on this channel.
    OptedOut,
    /// An answering machine picked up.
    Machine,
    /// The message was handed to the carrier (SMS); an answer may follow, but the job is done.
    Sent,
    /// Not sent: the recipient had opted out of the channel.
    Suppressed,
}

impl Outcome {
    const ALL: [Self; 10] = [
        Self::Confirmed,
        Self::RescheduleRequested,
        Self::Cancelled,
        Self::NoAnswer,
        Self::Busy,
        Self::Failed,
        Self::OptedOut,
        Self::Machine,
        Self::Sent,
        Self::Suppressed,
    ];

    /// Returns the stored snake_case name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Confirmed => "confirmed",
            Self::RescheduleRequested => "reschedule_requested",
            Self::Cancelled => "cancelled",
            Self::NoAnswer => "no_answer",
            Self::Busy => "busy",
            Self::Failed => "failed",
            Self::OptedOut => "opted_out",
            Self::Machine => "machine",
            Self::Sent => "sent",
            Self::Suppressed => "suppressed",
        }
    }

    /// Returns the outcome stored as `name`.
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|outcome| outcome.as_str() == name)
    }

    /// Returns whether the recipient answered (confirmed, asked to reschedule, cancelled or
    /// opted out): a final outcome no retry follows.
    pub fn is_answer(self) -> bool {
        matches!(
            self,
            Self::Confirmed | Self::RescheduleRequested | Self::Cancelled | Self::OptedOut
        )
    }

    /// Returns the protobuf value.
    pub fn to_proto(self) -> v1::ReminderOutcomeKind {
        use v1::ReminderOutcomeKind as Kind;
        match self {
            Self::Confirmed => Kind::Confirmed,
            Self::RescheduleRequested => Kind::RescheduleRequested,
            Self::Cancelled => Kind::Cancelled,
            Self::NoAnswer => Kind::NoAnswer,
            Self::Busy => Kind::Busy,
            Self::Failed => Kind::Failed,
            Self::OptedOut => Kind::OptedOut,
            Self::Machine => Kind::Machine,
            Self::Sent => Kind::Sent,
            Self::Suppressed => Kind::Suppressed,
        }
    }

    /// Returns the outcome of a protobuf value; `Unspecified` has none.
    pub fn from_proto(kind: v1::ReminderOutcomeKind) -> Option<Self> {
        use v1::ReminderOutcomeKind as Kind;
        match kind {
            Kind::Confirmed => Some(Self::Confirmed),
            Kind::RescheduleRequested => Some(Self::RescheduleRequested),
            Kind::Cancelled => Some(Self::Cancelled),
            Kind::NoAnswer => Some(Self::NoAnswer),
            Kind::Busy => Some(Self::Busy),
            Kind::Failed => Some(Self::Failed),
            Kind::OptedOut => Some(Self::OptedOut),
            Kind::Machine => Some(Self::Machine),
            Kind::Sent => Some(Self::Sent),
            Kind::Suppressed => Some(Self::Suppressed),
            // Expiry is the scheduler's own verdict, never a channel's report; an unparsable
            // reply is progress between `sent` and an answer, which the scheduler has no use for.
            Kind::Expired | Kind::Unparsable | Kind::Unspecified => None,
        }
    }
}

/// What a reminder needs to know about its appointment, copied into each of its jobs so that
/// `reminder.due` carries it without a call back to booking-service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppointmentSnapshot {
    /// The appointment.
    pub appointment_id: Uuid,
    /// Its tenant.
    pub tenant_id: Uuid,
    /// The business the recipient has the appointment with.
    pub business_name: String,
    /// The recipient's name.
    pub recipient_name: String,
    /// The recipient's E.164 number; never logged.
    pub recipient_phone: Secret,
    /// The recipient's BCP 47 language tag.
    pub recipient_locale: String,
    /// The recipient's IANA time zone.
    pub recipient_time_zone: String,
    /// When the appointment starts.
    pub start: DateTime<Utc>,
    /// Where, free text (may be empty).
    pub location: String,
    /// Who or what it is with, free text (may be empty).
    pub participant: String,
    /// The business's IANA time zone (may be empty).
    pub business_time_zone: String,
    /// The recipient's given name when the integrator sent it apart (may be empty).
    pub recipient_first_name: String,
    /// The recipient's family name when the integrator sent it apart (may be empty).
    pub recipient_last_name: String,
    /// The integrator's values for `{metadata.key}` placeholders.
    pub metadata: BTreeMap<String, String>,
}

/// One reminder to fire for an appointment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannedReminder {
    /// Assigned by booking-service.
    pub reminder_id: Uuid,
    /// The channel.
    pub channel: Channel,
    /// When to fire.
    pub due_at: DateTime<Utc>,
    /// What it is for.
    pub kind: ReminderKind,
    /// The tenant's text; empty for the channel's built-in wording.
    pub template: String,
    /// The channel to try once when a voice attempt reaches nobody after its retries.
    pub fallback_channel: Option<Channel>,
    /// The text for the fallback channel; empty for its built-in wording.
    pub fallback_template: String,
}

/// A reminder job as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Job {
    /// The reminder's id, assigned by booking-service.
    pub reminder_id: Uuid,
    /// Its appointment.
    pub appointment_id: Uuid,
    /// Its tenant.
    pub tenant_id: Uuid,
    /// The channel it goes out on.
    pub channel: Channel,
    /// When it fires.
    pub due_at: DateTime<Utc>,
    /// Where it is in its life.
    pub status: JobStatus,
    /// 1 for the first attempt.
    pub attempt: u32,
    /// The recipient's name.
    pub recipient_name: String,
    /// The recipient's E.164 number; never logged.
    pub recipient_phone: Secret,
    /// The recipient's BCP 47 language tag.
    pub recipient_locale: String,
    /// The recipient's IANA time zone.
    pub recipient_time_zone: String,
    /// The business the appointment is with.
    pub business_name: String,
    /// When the appointment starts.
    pub appointment_start: DateTime<Utc>,
    /// Where, free text.
    pub location: String,
    /// Who or what it is with, free text.
    pub participant: String,
    /// The business's IANA time zone (may be empty).
    pub business_time_zone: String,
    /// What it is for.
    pub kind: ReminderKind,
    /// The text of the current attempt (the fallback's text once it fell back); empty for the
    /// channel's built-in wording.
    pub template: String,
    /// The channel still available as a fallback; `None` when there is none or it was used.
    pub fallback_channel: Option<Channel>,
    /// The text for the fallback channel.
    pub fallback_template: String,
    /// The channel it started on, once it fell back.
    pub fell_back_from: Option<Channel>,
    /// The integrator's values for `{metadata.key}` placeholders.
    pub metadata: BTreeMap<String, String>,
    /// The recipient's given name when sent apart (may be empty).
    pub recipient_first_name: String,
    /// The recipient's family name when sent apart (may be empty).
    pub recipient_last_name: String,
    /// Trace context of the event that planned the job.
    pub traceparent: Option<String>,
    /// Why it was cancelled, when it was.
    pub cancel_reason: Option<CancelReason>,
    /// How it ended, when it completed.
    pub outcome: Option<Outcome>,
    /// When it was stored.
    pub created_at: DateTime<Utc>,
    /// When it last changed.
    pub updated_at: DateTime<Utc>,
    /// When `reminder.due` was written.
    pub dispatched_at: Option<DateTime<Utc>>,
    /// When the outcome occurred.
    pub completed_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Queryable, Selectable, QueryableByName)]
#[diesel(table_name = reminder_jobs, check_for_backend(diesel::pg::Pg))]
struct JobRow {
    reminder_id: Uuid,
    appointment_id: Uuid,
    tenant_id: Uuid,
    channel: String,
    due_at: DateTime<Utc>,
    status: String,
    attempt: i32,
    recipient_name: String,
    recipient_phone: String,
    recipient_locale: String,
    recipient_time_zone: String,
    business_name: String,
    appointment_start: DateTime<Utc>,
    location: String,
    traceparent: Option<String>,
    cancel_reason: Option<String>,
    outcome: Option<String>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
    dispatched_at: Option<DateTime<Utc>>,
    completed_at: Option<DateTime<Utc>>,
    participant: String,
    business_time_zone: String,
    kind: String,
    template: String,
    fallback_channel: Option<String>,
    fallback_template: String,
    fell_back_from: Option<String>,
    metadata: serde_json::Value,
    recipient_first_name: String,
    recipient_last_name: String,
}

/// A stored value the code does not know; the table's CHECK constraints make it a bug.
#[derive(Debug, thiserror::Error)]
#[error("reminder_jobs.{column} holds an unknown value {value:?}")]
struct UnknownValue {
    column: &'static str,
    value: String,
}

fn unknown(column: &'static str, value: &str) -> diesel::result::Error {
    diesel::result::Error::DeserializationError(Box::new(UnknownValue {
        column,
        value: value.to_owned(),
    }))
}

impl TryFrom<JobRow> for Job {
    type Error = diesel::result::Error;

    fn try_from(row: JobRow) -> Result<Self, Self::Error> {
        let channel =
            Channel::parse(&row.channel).ok_or_else(|| unknown("channel", &row.channel))?;
        let status = JobStatus::parse(&row.status).ok_or_else(|| unknown("status", &row.status))?;
        let cancel_reason = match row.cancel_reason.as_deref() {
            None => None,
            Some(reason) => {
                Some(CancelReason::parse(reason).ok_or_else(|| unknown("cancel_reason", reason))?)
            }
        };
        let outcome = match row.outcome.as_deref() {
            None => None,
            Some(outcome) => {
                Some(Outcome::parse(outcome).ok_or_else(|| unknown("outcome", outcome))?)
            }
        };
        let attempt =
            u32::try_from(row.attempt).map_err(|_| unknown("attempt", &row.attempt.to_string()))?;
        let kind = ReminderKind::parse(&row.kind).ok_or_else(|| unknown("kind", &row.kind))?;
        let optional_channel = |column: &'static str, value: Option<&str>| match value {
            None => Ok(None),
            Some(name) => Channel::parse(name)
                .map(Some)
                .ok_or_else(|| unknown(column, name)),
        };
        let fallback_channel =
            optional_channel("fallback_channel", row.fallback_channel.as_deref())?;
        let fell_back_from = optional_channel("fell_back_from", row.fell_back_from.as_deref())?;
        Ok(Self {
            reminder_id: row.reminder_id,
            appointment_id: row.appointment_id,
            tenant_id: row.tenant_id,
            channel,
            due_at: row.due_at,
            status,
            attempt,
            recipient_name: row.recipient_name,
            recipient_phone: Secret::new(row.recipient_phone),
            recipient_locale: row.recipient_locale,
            recipient_time_zone: row.recipient_time_zone,
            business_name: row.business_name,
            appointment_start: row.appointment_start,
            location: row.location,
            participant: row.participant,
            business_time_zone: row.business_time_zone,
            kind,
            template: row.template,
            fallback_channel,
            fallback_template: row.fallback_template,
            fell_back_from,
            metadata: metadata_from_json(row.metadata),
            recipient_first_name: row.recipient_first_name,
            recipient_last_name: row.recipient_last_name,
            traceparent: row.traceparent,
            cancel_reason,
            outcome,
            created_at: row.created_at,
            updated_at: row.updated_at,
            dispatched_at: row.dispatched_at,
            completed_at: row.completed_at,
        })
    }
}

/// Returns the metadata map stored as a JSON object; a value that is not a string (never
/// written by this service) is kept as its JSON text.
fn metadata_from_json(value: serde_json::Value) -> BTreeMap<String, String> {
    match value {
        serde_json::Value::Object(entries) => entries
            .into_iter()
            .map(|(key, value)| match value {
                serde_json::Value::String(text) => (key, text),
                other => (key, other.to_string()),
            })
            .collect(),
        _ => BTreeMap::new(),
    }
}

fn metadata_to_json(metadata: &BTreeMap<String, String>) -> serde_json::Value {
    serde_json::Value::Object(
        metadata
            .iter()
            .map(|(key, value)| (key.clone(), serde_json::Value::String(value.clone())))
            .collect(),
    )
}

#[derive(Insertable)]
#[diesel(table_name = reminder_jobs)]
struct NewJob<'a> {
    reminder_id: Uuid,
    appointment_id: Uuid,
    tenant_id: Uuid,
    channel: &'static str,
    due_at: DateTime<Utc>,
    recipient_name: &'a str,
    recipient_phone: &'a str,
    recipient_locale: &'a str,
    recipient_time_zone: &'a str,
    business_name: &'a str,
    appointment_start: DateTime<Utc>,
    location: &'a str,
    participant: &'a str,
    business_time_zone: &'a str,
    kind: &'static str,
    template: &'a str,
    fallback_channel: Option<&'static str>,
    fallback_template: &'a str,
    metadata: serde_json::Value,
    recipient_first_name: &'a str,
    recipient_last_name: &'a str,
    traceparent: Option<&'a str>,
}

fn new_jobs<'a>(
    appointment: &'a AppointmentSnapshot,
    plans: &'a [PlannedReminder],
    traceparent: Option<&'a str>,
) -> Vec<NewJob<'a>> {
    let metadata = metadata_to_json(&appointment.metadata);
    plans
        .iter()
        .map(|plan| NewJob {
            reminder_id: plan.reminder_id,
            appointment_id: appointment.appointment_id,
            tenant_id: appointment.tenant_id,
            channel: plan.channel.as_str(),
            due_at: plan.due_at,
            recipient_name: &appointment.recipient_name,
            recipient_phone: appointment.recipient_phone.expose(),
            recipient_locale: &appointment.recipient_locale,
            recipient_time_zone: &appointment.recipient_time_zone,
            business_name: &appointment.business_name,
            appointment_start: appointment.start,
            location: &appointment.location,
            participant: &appointment.participant,
            business_time_zone: &appointment.business_time_zone,
            kind: plan.kind.as_str(),
            template: &plan.template,
            fallback_channel: plan.fallback_channel.map(Channel::as_str),
            fallback_template: &plan.fallback_template,
            metadata: metadata.clone(),
            recipient_first_name: &appointment.recipient_first_name,
            recipient_last_name: &appointment.recipient_last_name,
            traceparent,
        })
        .collect()
}

/// Stores one pending job per plan; a reminder id already stored keeps its job as it is, so
/// a repeated `appointment.scheduled` creates nothing twice. Returns how many were new.
#[tracing::instrument(skip_all, fields(appointment_id = %appointment.appointment_id, plans = plans.len()))]
pub async fn insert_plans(
    connection: &mut AsyncPgConnection,
    appointment: &AppointmentSnapshot,
    plans: &[PlannedReminder],
) -> QueryResult<usize> {
    if plans.is_empty() {
        return Ok(0);
    }
    let traceparent = attend_runtime::telemetry::current_traceparent();
    diesel::insert_into(reminder_jobs::table)
        .values(new_jobs(appointment, plans, traceparent.as_deref()))
        .on_conflict_do_nothing()
        .execute(connection)
        .await
}

/// Makes `plans` the appointment's pending jobs: a new reminder id becomes a pending job, a
/// reminder id that is still pending takes the new due time and appointment data, and one
/// that already fired stays as it is. Run it with [`cancel_pending`] for the jobs left out.
/// Returns how many jobs were inserted or updated.
#[tracing::instrument(skip_all, fields(appointment_id = %appointment.appointment_id, plans = plans.len()))]
pub async fn upsert_pending_plans(
    connection: &mut AsyncPgConnection,
    appointment: &AppointmentSnapshot,
    plans: &[PlannedReminder],
) -> QueryResult<usize> {
    if plans.is_empty() {
        return Ok(0);
    }
    let traceparent = attend_runtime::telemetry::current_traceparent();
    let upsert = diesel::insert_into(reminder_jobs::table)
        .values(new_jobs(appointment, plans, traceparent.as_deref()))
        .on_conflict(reminder_jobs::reminder_id)
        .do_update()
        .set((
            reminder_jobs::channel.eq(excluded(reminder_jobs::channel)),
            reminder_jobs::due_at.eq(excluded(reminder_jobs::due_at)),
            reminder_jobs::recipient_name.eq(excluded(reminder_jobs::recipient_name)),
            reminder_jobs::recipient_phone.eq(excluded(reminder_jobs::recipient_phone)),
            reminder_jobs::recipient_locale.eq(excluded(reminder_jobs::recipient_locale)),
            reminder_jobs::recipient_time_zone.eq(excluded(reminder_jobs::recipient_time_zone)),
            reminder_jobs::business_name.eq(excluded(reminder_jobs::business_name)),
            reminder_jobs::appointment_start.eq(excluded(reminder_jobs::appointment_start)),
            reminder_jobs::location.eq(excluded(reminder_jobs::location)),
            reminder_jobs::participant.eq(excluded(reminder_jobs::participant)),
            reminder_jobs::business_time_zone.eq(excluded(reminder_jobs::business_time_zone)),
            reminder_jobs::kind.eq(excluded(reminder_jobs::kind)),
            reminder_jobs::template.eq(excluded(reminder_jobs::template)),
            reminder_jobs::fallback_channel.eq(excluded(reminder_jobs::fallback_channel)),
            reminder_jobs::fallback_template.eq(excluded(reminder_jobs::fallback_template)),
            reminder_jobs::metadata.eq(excluded(reminder_jobs::metadata)),
            reminder_jobs::recipient_first_name.eq(excluded(reminder_jobs::recipient_first_name)),
            reminder_jobs::recipient_last_name.eq(excluded(reminder_jobs::recipient_last_name)),
            reminder_jobs::traceparent.eq(excluded(reminder_jobs::traceparent)),
            reminder_jobs::updated_at.eq(diesel::dsl::now),
        ));
    // A reminder id of another appointment, or one that already fired, is left alone. The
    // upsert's `filter` (its `WHERE`) is not `QueryDsl::filter`, hence the qualified call.
    let only_pending_of_this_appointment = reminder_jobs::appointment_id
        .eq(excluded(reminder_jobs::appointment_id))
        .and(reminder_jobs::status.eq(JobStatus::Pending.as_str()));
    diesel::query_dsl::methods::FilterDsl::filter(upsert, only_pending_of_this_appointment)
        .execute(connection)
        .await
}

/// Cancels every pending job of the appointment except those in `keep`. Returns how many.
#[tracing::instrument(skip_all, fields(appointment_id = %appointment_id, reason = reason.as_str()))]
pub async fn cancel_pending(
    connection: &mut AsyncPgConnection,
    appointment_id: Uuid,
    reason: CancelReason,
    keep: &[Uuid],
) -> QueryResult<usize> {
    // A plain UPDATE, never `SKIP LOCKED`: a job a dispatch round holds must be waited for, so
    // that its `reminder.due` commits before this cancel does (the UPDATE then re-reads the
    // row, finds it `dispatched` and leaves it). Skipping it would let the cancel commit while
    // the dispatch is still in flight, and the reminder would go out after the cancellation.
    diesel::update(
        reminder_jobs::table
            .filter(reminder_jobs::appointment_id.eq(appointment_id))
            .filter(reminder_jobs::status.eq(JobStatus::Pending.as_str()))
            .filter(reminder_jobs::reminder_id.ne_all(keep)),
    )
    .set((
        reminder_jobs::status.eq(JobStatus::Cancelled.as_str()),
        reminder_jobs::cancel_reason.eq(reason.as_str()),
        reminder_jobs::updated_at.eq(diesel::dsl::now),
    ))
    .execute(connection)
    .await
}

/// Claims up to `limit` due pending jobs: locks them (`FOR UPDATE SKIP LOCKED`) for the rest
/// of the caller's transaction and returns them with the database's current time. The caller
/// then moves each one out of `pending` ([`mark_dispatched`], [`mark_expired`]) or to a later
/// due time ([`defer`]) in the same transaction.
///
/// `SKIP LOCKED` makes concurrent claimers (other instances) take disjoint rows, and the
/// caller's status change means no later claim sees them again once the transaction commits;
/// a rolled-back transaction leaves them pending. Call it inside the transaction that writes
/// the matching `reminder.due` events to the outbox.
#[tracing::instrument(skip_all, fields(limit))]
pub async fn claim_due(
    connection: &mut AsyncPgConnection,
    limit: i64,
) -> QueryResult<(DateTime<Utc>, Vec<Job>)> {
    // Walking the partial index in `due_at` order is the only plan that stays cheap when many
    // jobs are due: it stops after `limit` rows. Without fresh statistics (a burst of jobs
    // stored since the last autoanalyze) the planner believes few rows are due and prefers a
    // bitmap scan of *every* due job plus a sort, once per round: 190 ms a round at 100,000
    // due jobs against 0.3 ms, so a burst cost O(n²) (docs/benchmarks.md, item 3). Ruling
    // out the sort for this transaction leaves the index walk.
    connection
        .batch_execute("SET LOCAL enable_sort = off")
        .await?;
    // `'pending'` is written literally, not bound, so the planner can use the partial index.
    let rows: Vec<JobRow> = diesel::sql_query(
        "SELECT *
         FROM reminder_jobs
         WHERE status = 'pending' AND due_at <= now()
         ORDER BY due_at
         LIMIT $1
         FOR UPDATE SKIP LOCKED",
    )
    .bind::<BigInt, _>(limit)
    .load(connection)
    .await?;
    // now() is the transaction's start time: the same instant the claim compared against.
    let database_now: DateTime<Utc> = diesel::select(diesel::dsl::sql::<Timestamptz>("now()"))
        .get_result(connection)
        .await?;
    let jobs = rows
        .into_iter()
        .map(Job::try_from)
        .collect::<QueryResult<Vec<_>>>()?;
    Ok((database_now, jobs))
}

/// Moves claimed jobs to `dispatched`. Returns how many.
#[tracing::instrument(skip_all, fields(jobs = reminder_ids.len()))]
pub async fn mark_dispatched(
    connection: &mut AsyncPgConnection,
    reminder_ids: &[Uuid],
) -> QueryResult<usize> {
    if reminder_ids.is_empty() {
        return Ok(0);
    }
    diesel::update(
        reminder_jobs::table
            .filter(reminder_jobs::reminder_id.eq_any(reminder_ids))
            .filter(reminder_jobs::status.eq(JobStatus::Pending.as_str())),
    )
    .set((
        reminder_jobs::status.eq(JobStatus::Dispatched.as_str()),
        reminder_jobs::dispatched_at.eq(diesel::dsl::sql::<Nullable<Timestamptz>>("now()")),
        reminder_jobs::updated_at.eq(diesel::dsl::now),
    ))
    .execute(connection)
    .await
}

/// Moves claimed jobs to `expired`: they will never be sent. Returns how many.
#[tracing::instrument(skip_all, fields(jobs = reminder_ids.len()))]
pub async fn mark_expired(
    connection: &mut AsyncPgConnection,
    reminder_ids: &[Uuid],
) -> QueryResult<usize> {
    if reminder_ids.is_empty() {
        return Ok(0);
    }
    diesel::update(
        reminder_jobs::table
            .filter(reminder_jobs::reminder_id.eq_any(reminder_ids))
            .filter(reminder_jobs::status.eq(JobStatus::Pending.as_str())),
    )
    .set((
        reminder_jobs::status.eq(JobStatus::Expired.as_str()),
        reminder_jobs::updated_at.eq(diesel::dsl::now),
    ))
    .execute(connection)
    .await
}

/// Moves a claimed pending job's due time to `due_at` (the calling window's next opening);
/// it stays pending.
#[tracing::instrument(skip_all, fields(reminder_id = %reminder_id, %due_at))]
pub async fn defer(
    connection: &mut AsyncPgConnection,
    reminder_id: Uuid,
    due_at: DateTime<Utc>,
) -> QueryResult<usize> {
    diesel::update(
        reminder_jobs::table
            .filter(reminder_jobs::reminder_id.eq(reminder_id))
            .filter(reminder_jobs::status.eq(JobStatus::Pending.as_str())),
    )
    .set((
        reminder_jobs::due_at.eq(due_at),
        reminder_jobs::updated_at.eq(diesel::dsl::now),
    ))
    .execute(connection)
    .await
}

/// Returns the appointment of the job of `reminder_id` (which never changes), unlocked.
#[tracing::instrument(skip_all, fields(reminder_id = %reminder_id))]
pub async fn appointment_of(
    connection: &mut AsyncPgConnection,
    reminder_id: Uuid,
) -> QueryResult<Option<Uuid>> {
    reminder_jobs::table
        .find(reminder_id)
        .select(reminder_jobs::appointment_id)
        .first(connection)
        .await
        .optional()
}

/// Returns the job of `reminder_id` locked `FOR UPDATE` for the rest of the transaction, so
/// an outcome and a dispatch round of the same job take turns.
#[tracing::instrument(skip_all, fields(reminder_id = %reminder_id))]
pub async fn lock(
    connection: &mut AsyncPgConnection,
    reminder_id: Uuid,
) -> QueryResult<Option<Job>> {
    let row: Option<JobRow> = reminder_jobs::table
        .find(reminder_id)
        .select(JobRow::as_select())
        .for_update()
        .first(connection)
        .await
        .optional()?;
    row.map(Job::try_from).transpose()
}

/// The job of `reminder_id`, if it is still open (`pending` or `dispatched`) at `attempt`:
/// the target of every update that moves a job on from one attempt's outcome.
type OpenAtAttempt = diesel::dsl::Filter<
    diesel::dsl::Filter<
        diesel::dsl::Filter<
            reminder_jobs::table,
            diesel::dsl::Eq<reminder_jobs::reminder_id, Uuid>,
        >,
        diesel::dsl::Eq<reminder_jobs::attempt, i32>,
    >,
    diesel::dsl::EqAny<reminder_jobs::status, [&'static str; 2]>,
>;

fn open_at_attempt(reminder_id: Uuid, attempt: u32) -> OpenAtAttempt {
    let attempt = i32::try_from(attempt).unwrap_or(i32::MAX);
    let open = [JobStatus::Pending.as_str(), JobStatus::Dispatched.as_str()];
    reminder_jobs::table
        .filter(reminder_jobs::reminder_id.eq(reminder_id))
        .filter(reminder_jobs::attempt.eq(attempt))
        .filter(reminder_jobs::status.eq_any(open))
}

/// Puts a locked job of attempt `current_attempt` back to `pending` as attempt
/// `current_attempt + 1`, due at `due_at`. Returns whether it did (the attempt still matched).
#[tracing::instrument(skip_all, fields(reminder_id = %reminder_id, current_attempt, %due_at))]
pub async fn schedule_retry(
    connection: &mut AsyncPgConnection,
    reminder_id: Uuid,
    current_attempt: u32,
    due_at: DateTime<Utc>,
) -> QueryResult<bool> {
    let current = i32::try_from(current_attempt).unwrap_or(i32::MAX);
    let updated = diesel::update(open_at_attempt(reminder_id, current_attempt))
        .set((
            reminder_jobs::status.eq(JobStatus::Pending.as_str()),
            reminder_jobs::attempt.eq(current.saturating_add(1)),
            reminder_jobs::due_at.eq(due_at),
            reminder_jobs::updated_at.eq(diesel::dsl::now),
        ))
        .execute(connection)
        .await?;
    Ok(updated > 0)
}

/// Turns a locked job of attempt `current_attempt` into attempt `current_attempt + 1` on
/// `channel` (its fallback), due now, with the fallback's text; the fallback is used up.
/// Returns whether it did (the attempt still matched and the job was open).
#[tracing::instrument(skip_all, fields(reminder_id = %reminder_id, current_attempt, channel = channel.as_str()))]
pub async fn fall_back(
    connection: &mut AsyncPgConnection,
    reminder_id: Uuid,
    current_attempt: u32,
    channel: Channel,
) -> QueryResult<bool> {
    let current = i32::try_from(current_attempt).unwrap_or(i32::MAX);
    // The right-hand columns read the row before the update: the old channel and the stored
    // fallback text.
    let updated = diesel::update(open_at_attempt(reminder_id, current_attempt))
        .set((
            reminder_jobs::status.eq(JobStatus::Pending.as_str()),
            reminder_jobs::attempt.eq(current.saturating_add(1)),
            reminder_jobs::fell_back_from.eq(reminder_jobs::channel.nullable()),
            reminder_jobs::channel.eq(channel.as_str()),
            reminder_jobs::template.eq(reminder_jobs::fallback_template),
            reminder_jobs::fallback_channel.eq(None::<String>),
            reminder_jobs::due_at.eq(diesel::dsl::now),
            reminder_jobs::updated_at.eq(diesel::dsl::now),
        ))
        .execute(connection)
        .await?;
    Ok(updated > 0)
}

#[derive(QueryableByName)]
struct NextDue {
    #[diesel(sql_type = Nullable<Timestamptz>)]
    next_due_at: Option<DateTime<Utc>>,
    #[diesel(sql_type = Timestamptz)]
    database_now: DateTime<Utc>,
}

/// Returns how long until the earliest pending job is due (zero if one is due already), by
/// the database's clock; `None` when nothing is pending.
#[tracing::instrument(skip_all)]
pub async fn next_due_in(
    connection: &mut AsyncPgConnection,
) -> QueryResult<Option<std::time::Duration>> {
    let next: NextDue = diesel::sql_query(
        "SELECT min(due_at) AS next_due_at, now() AS database_now
         FROM reminder_jobs
         WHERE status = 'pending'",
    )
    .get_result(connection)
    .await?;
    Ok(next.next_due_at.map(|due_at| {
        (due_at - next.database_now)
            .to_std()
            .unwrap_or(std::time::Duration::ZERO)
    }))
}

/// What recording an outcome did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Completion {
    /// The job is now completed with the outcome.
    Completed,
    /// The job had already reached a final status, which it keeps.
    AlreadyFinal(JobStatus),
    /// No job has this reminder id.
    UnknownReminder,
}

/// Marks a pending or dispatched job completed with `outcome`, which occurred at
/// `occurred_at`; a job in a final status stays as it is.
#[tracing::instrument(skip_all, fields(reminder_id = %reminder_id, outcome = outcome.as_str()))]
pub async fn complete(
    connection: &mut AsyncPgConnection,
    reminder_id: Uuid,
    outcome: Outcome,
    occurred_at: DateTime<Utc>,
) -> QueryResult<Completion> {
    let open = [JobStatus::Pending.as_str(), JobStatus::Dispatched.as_str()];
    let updated = diesel::update(
        reminder_jobs::table
            .filter(reminder_jobs::reminder_id.eq(reminder_id))
            .filter(reminder_jobs::status.eq_any(open)),
    )
    .set(completed_with(outcome, occurred_at))
    .execute(connection)
    .await?;
    if updated > 0 {
        return Ok(Completion::Completed);
    }
    let status: Option<String> = reminder_jobs::table
        .find(reminder_id)
        .select(reminder_jobs::status)
        .first(connection)
        .await
        .optional()?;
    match status {
        None => Ok(Completion::UnknownReminder),
        Some(status) => {
            let status = JobStatus::parse(&status).ok_or_else(|| unknown("status", &status))?;
            Ok(Completion::AlreadyFinal(status))
        }
    }
}

/// The columns of a job completed with `outcome` at `occurred_at`, as one changeset.
type CompletedWith = (
    diesel::dsl::Eq<reminder_jobs::status, &'static str>,
    diesel::dsl::Eq<reminder_jobs::outcome, &'static str>,
    diesel::dsl::Eq<reminder_jobs::completed_at, DateTime<Utc>>,
    diesel::dsl::Eq<reminder_jobs::updated_at, diesel::dsl::now>,
);

fn completed_with(outcome: Outcome, occurred_at: DateTime<Utc>) -> CompletedWith {
    (
        reminder_jobs::status.eq(JobStatus::Completed.as_str()),
        reminder_jobs::outcome.eq(outcome.as_str()),
        reminder_jobs::completed_at.eq(occurred_at),
        reminder_jobs::updated_at.eq(diesel::dsl::now),
    )
}

/// Completes the job of `reminder_id` with `outcome` if it is still open at `attempt`, in one
/// conditional update that needs no lock taken first. Returns whether it did; `false` means
/// the job is final already, at another attempt, or unknown.
#[tracing::instrument(skip_all, fields(reminder_id = %reminder_id, attempt))]
pub async fn complete_attempt(
    connection: &mut AsyncPgConnection,
    reminder_id: Uuid,
    attempt: u32,
    outcome: Outcome,
    occurred_at: DateTime<Utc>,
) -> QueryResult<bool> {
    let updated = diesel::update(open_at_attempt(reminder_id, attempt))
        .set(completed_with(outcome, occurred_at))
        .execute(connection)
        .await?;
    Ok(updated > 0)
}

/// Returns the job of `reminder_id`, if any.
#[tracing::instrument(skip_all, fields(reminder_id = %reminder_id))]
pub async fn find(
    connection: &mut AsyncPgConnection,
    reminder_id: Uuid,
) -> QueryResult<Option<Job>> {
    let row: Option<JobRow> = reminder_jobs::table
        .find(reminder_id)
        .select(JobRow::as_select())
        .first(connection)
        .await
        .optional()?;
    row.map(Job::try_from).transpose()
}

/// Returns how many jobs are in each status, every status included.
#[tracing::instrument(skip_all)]
pub async fn count_by_status(
    connection: &mut AsyncPgConnection,
) -> QueryResult<Vec<(JobStatus, i64)>> {
    let rows: Vec<(String, i64)> = reminder_jobs::table
        .group_by(reminder_jobs::status)
        .select((reminder_jobs::status, diesel::dsl::count_star()))
        .load(connection)
        .await?;
    let mut counts: Vec<(JobStatus, i64)> =
        JobStatus::ALL.iter().map(|status| (*status, 0)).collect();
    for (name, count) in rows {
        let status = JobStatus::parse(&name).ok_or_else(|| unknown("status", &name))?;
        if let Some(slot) = counts.iter_mut().find(|(known, _)| *known == status) {
            slot.1 = count;
        }
    }
    Ok(counts)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stored_names_round_trip() {
        for status in JobStatus::ALL {
            assert_eq!(JobStatus::parse(status.as_str()), Some(status));
        }
        for outcome in Outcome::ALL {
            assert_eq!(Outcome::parse(outcome.as_str()), Some(outcome));
            assert_eq!(Outcome::from_proto(outcome.to_proto()), Some(outcome));
        }
        for channel in [Channel::Voice, Channel::Sms] {
            assert_eq!(Channel::parse(channel.as_str()), Some(channel));
            assert_eq!(Channel::from_proto(channel.to_proto()), Some(channel));
        }
        for reason in [
            CancelReason::Superseded,
            CancelReason::AppointmentCancelled,
            CancelReason::NoShow,
        ] {
            assert_eq!(CancelReason::parse(reason.as_str()), Some(reason));
        }
        for kind in ReminderKind::ALL {
            assert_eq!(ReminderKind::parse(kind.as_str()), Some(kind));
            assert_eq!(ReminderKind::from_proto(kind.to_proto()), kind);
        }
        assert_eq!(
            ReminderKind::from_proto(v1::ReminderKind::Unspecified),
            ReminderKind::Reminder
        );
    }

    #[test]
    fn unspecified_protobuf_values_have_no_domain_value() {
        assert_eq!(Channel::from_proto(v1::Channel::Unspecified), None);
        assert_eq!(
            Outcome::from_proto(v1::ReminderOutcomeKind::Unspecified),
            None
        );
        assert_eq!(
            Outcome::from_proto(v1::ReminderOutcomeKind::RescheduleRequested),
            Some(Outcome::RescheduleRequested)
        );
    }

    #[test]
    fn the_phone_number_does_not_print() {
        let snapshot = AppointmentSnapshot {
            appointment_id: Uuid::nil(),
            tenant_id: Uuid::nil(),
            business_name: "Clinic".to_owned(),
            recipient_name: "Ada".to_owned(),
            recipient_phone: Secret::new("+15550100001"),
            recipient_locale: "en".to_owned(),
            recipient_time_zone: "Europe/Berlin".to_owned(),
            start: DateTime::UNIX_EPOCH,
            location: String::new(),
            participant: String::new(),
            business_time_zone: String::new(),
            recipient_first_name: String::new(),
            recipient_last_name: String::new(),
            metadata: BTreeMap::new(),
        };
        assert!(!format!("{snapshot:?}").contains("5550100001"));
    }
}
