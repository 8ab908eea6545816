//! The `reminders` table: one row per reminder attempt, the conversation a reply belongs to,
//! and its `reminder.outcome` events (outbox, in the caller's transaction).

use std::collections::BTreeMap;

use attend_events::{Event, to_timestamp, v1};
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

use crate::db::schema::reminders;

/// Returns a filter on `tenant_id` when one is given, else one that keeps every row.
fn of_tenant(
    tenant_id: Option<Uuid>,
) -> diesel::dsl::Or<
    diesel::dsl::Eq<diesel::dsl::Nullable<reminders::tenant_id>, Option<Uuid>>,
    diesel::dsl::AsExprOf<bool, diesel::sql_types::Bool>,
> {
    use diesel::IntoSql;
    reminders::tenant_id
        .nullable()
        .eq(tenant_id)
        .or(tenant_id.is_none().into_sql::<diesel::sql_types::Bool>())
}

/// What a reminder attempt is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReminderKind {
    /// Before the appointment; asks for Yes / No.
    Reminder,
    /// After the appointment; informational.
    FollowUp,
    /// The customer did not come; informational.
    NoShow,
}

impl ReminderKind {
    /// Returns the stored name, which is also the text's template name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Reminder => "reminder",
            Self::FollowUp => "follow_up",
            Self::NoShow => "no_show",
        }
    }

    /// Returns the kind of a protobuf value; unspecified (older producers) is a reminder.
    pub fn from_proto(kind: v1::ReminderKind) -> Self {
        match kind {
            v1::ReminderKind::Unspecified | v1::ReminderKind::Reminder => Self::Reminder,
            v1::ReminderKind::FollowUp => Self::FollowUp,
            v1::ReminderKind::NoShow => Self::NoShow,
        }
    }

    /// Returns the kind stored as `name`; the CHECK constraint allows no other, and anything
    /// else reads as a reminder.
    pub fn parse(name: &str) -> Self {
        match name {
            "follow_up" => Self::FollowUp,
            "no_show" => Self::NoShow,
            _ => Self::Reminder,
        }
    }

    /// Returns whether a reply is applied to it: only a reminder asks for an answer.
    pub fn awaits_answer(self) -> bool {
        self == Self::Reminder
    }

    /// Returns the kind of text that delivers it.
    pub fn message_kind(self) -> crate::outbound::MessageKind {
        use crate::outbound::MessageKind;
        match self {
            Self::Reminder => MessageKind::Reminder,
            Self::FollowUp => MessageKind::FollowUp,
            Self::NoShow => MessageKind::NoShow,
        }
    }
}

/// Where a reminder is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReminderStatus {
    /// Waiting for the sender (or for the sending window, or for a retry).
    Queued,
    /// Being handed to the carrier: committed before the request goes out, until the
    /// carrier's answer is recorded. A reply may already come back (a fast recipient, a slow
    /// commit), so it is applied as to a sent reminder.
    Sending,
    /// Handed to the carrier; a reply may follow.
    Sent,
    /// The carrier could not take it, finally.
    Failed,
    /// Not sent: the number opted out.
    Suppressed,
    /// Not sent: no sending window was left before the appointment, or it had started.
    Expired,
    /// Not sent: the appointment was cancelled.
    Cancelled,
}

impl ReminderStatus {
    /// Returns the stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Queued => "queued",
            Self::Sending => "sending",
            Self::Sent => "sent",
            Self::Failed => "failed",
            Self::Suppressed => "suppressed",
            Self::Expired => "expired",
            Self::Cancelled => "cancelled",
        }
    }
}

/// The recipient's final answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answer {
    /// Replied yes.
    Confirmed,
    /// Replied no.
    Cancelled,
    /// Replied STOP (or an equivalent).
    OptedOut,
}

impl Answer {
    /// Returns the stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Confirmed => "confirmed",
            Self::Cancelled => "cancelled",
            Self::OptedOut => "opted_out",
        }
    }

    fn kind(self) -> v1::ReminderOutcomeKind {
        match self {
            Self::Confirmed => v1::ReminderOutcomeKind::Confirmed,
            Self::Cancelled => v1::ReminderOutcomeKind::Cancelled,
            Self::OptedOut => v1::ReminderOutcomeKind::OptedOut,
        }
    }
}

/// A stored reminder attempt.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = reminders, check_for_backend(diesel::pg::Pg))]
pub struct Reminder {
    /// Row id (also the conversation id).
    pub id: Uuid,
    /// The reminder, as booking-service named it.
    pub reminder_id: Uuid,
    /// 1 for the first attempt.
    pub attempt: i32,
    /// Its appointment.
    pub appointment_id: Uuid,
    /// Its tenant.
    pub tenant_id: Uuid,
    /// The recipient, E.164; never logged in clear.
    pub to_number: String,
    /// The sender, E.164.
    pub from_number: String,
    /// The recipient's name.
    pub recipient_name: String,
    /// The recipient's BCP 47 language tag.
    pub locale: String,
    /// The recipient's IANA zone.
    pub time_zone: String,
    /// The business.
    pub business_name: String,
    /// The business's IANA zone (may be empty).
    pub business_time_zone: String,
    /// When the appointment starts.
    pub appointment_start: DateTime<Utc>,
    /// Where (may be empty).
    pub location: String,
    /// With whom (may be empty).
    pub participant: String,
    /// `queued`, `sent`, …
    pub status: String,
    /// The final answer, once given.
    pub answer: Option<String>,
    /// When it was given.
    pub answered_at: Option<DateTime<Utc>>,
    /// Replies that were not an answer.
    pub unparsable_replies: i32,
    /// When the carrier took it.
    pub sent_at: Option<DateTime<Utc>>,
    /// Trace context of the `reminder.due` that created it.
    pub traceparent: Option<String>,
    /// When it was stored.
    pub created_at: DateTime<Utc>,
    /// When it last changed.
    pub updated_at: DateTime<Utc>,
    /// `reminder`, `follow_up` or `no_show` (see [`ReminderKind`]).
    pub kind: String,
    /// The tenant's text the event carried; empty for the saved or built-in one.
    pub template: String,
    /// The recipient's given name, when sent apart.
    pub first_name: String,
    /// The recipient's family name, when sent apart.
    pub last_name: String,
    /// `{"key": "value"}` for `{metadata.key}`.
    pub metadata: serde_json::Value,
}

impl Reminder {
    /// Returns what the attempt is for.
    pub fn reminder_kind(&self) -> ReminderKind {
        ReminderKind::parse(&self.kind)
    }

    /// Returns the metadata values; a value that is not a string (never stored by this
    /// service) is skipped.
    pub fn metadata_values(&self) -> BTreeMap<String, String> {
        self.metadata
            .as_object()
            .into_iter()
            .flatten()
            .filter_map(|(key, value)| Some((key.clone(), value.as_str()?.to_owned())))
            .collect()
    }
}

/// A reminder attempt to store.
#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = reminders)]
pub struct NewReminder {
    /// Row id.
    pub id: Uuid,
    /// The reminder.
    pub reminder_id: Uuid,
    /// The attempt number.
    pub attempt: i32,
    /// Its appointment.
    pub appointment_id: Uuid,
    /// Its tenant.
    pub tenant_id: Uuid,
    /// The recipient, E.164 (or what the event carried, when it is not a number).
    pub to_number: String,
    /// The sender, E.164.
    pub from_number: String,
    /// The recipient's name.
    pub recipient_name: String,
    /// The recipient's language tag.
    pub locale: String,
    /// The recipient's zone.
    pub time_zone: String,
    /// The business.
    pub business_name: String,
    /// The business's zone.
    pub business_time_zone: String,
    /// When the appointment starts.
    pub appointment_start: DateTime<Utc>,
    /// Where.
    pub location: String,
    /// With whom.
    pub participant: String,
    /// The initial status.
    pub status: &'static str,
    /// Trace context.
    pub traceparent: Option<String>,
    /// What it is for ([`ReminderKind::as_str`]).
    pub kind: &'static str,
    /// The tenant's text from the event (may be empty).
    pub template: String,
    /// The recipient's given name (may be empty).
    pub first_name: String,
    /// The recipient's family name (may be empty).
    pub last_name: String,
    /// `{"key": "value"}`.
    pub metadata: serde_json::Value,
}

/// Stores `reminder` unless its (reminder, attempt) is stored already; returns whether it is
/// new. A redelivered or republished `reminder.due` therefore sends nothing twice.
pub async fn insert(
    connection: &mut AsyncPgConnection,
    reminder: &NewReminder,
) -> QueryResult<bool> {
    let inserted = diesel::insert_into(reminders::table)
        .values(reminder)
        .on_conflict((reminders::reminder_id, reminders::attempt))
        .do_nothing()
        .execute(connection)
        .await?;
    Ok(inserted == 1)
}

/// Returns reminder row `id`, locked until the transaction ends.
pub async fn lock(connection: &mut AsyncPgConnection, id: Uuid) -> QueryResult<Option<Reminder>> {
    reminders::table
        .find(id)
        .for_update()
        .select(Reminder::as_select())
        .first(connection)
        .await
        .optional()
}

/// The statuses of a reminder whose text is with the sender: `sending`, and `queued` for texts
/// claimed before reminders had a `sending` status.
pub const IN_FLIGHT: [ReminderStatus; 2] = [ReminderStatus::Sending, ReminderStatus::Queued];

/// Moves reminder `id`, whose text was in flight (`sending`, or `queued` for texts claimed
/// before reminders had a `sending` status), to `sent` and returns it, in one statement; `None`
/// when it was settled meanwhile. A reply applied meanwhile keeps its answer: only the status
/// changes.
pub async fn settle_sent(
    connection: &mut AsyncPgConnection,
    id: Uuid,
) -> QueryResult<Option<Reminder>> {
    let in_flight = IN_FLIGHT.map(ReminderStatus::as_str);
    diesel::update(
        reminders::table
            .find(id)
            .filter(reminders::status.eq_any(in_flight)),
    )
    .set((
        reminders::status.eq(ReminderStatus::Sent.as_str()),
        reminders::sent_at.eq(diesel::dsl::now),
        reminders::updated_at.eq(diesel::dsl::now),
    ))
    .returning(Reminder::as_select())
    .get_result(connection)
    .await
    .optional()
}

/// Locks the reminders `ids` that exist, in id order (so two claimers never wait on each
/// other in a cycle); returns them by id. One statement for a claimed round of texts.
pub async fn lock_many(
    connection: &mut AsyncPgConnection,
    ids: &[Uuid],
) -> QueryResult<std::collections::HashMap<Uuid, Reminder>> {
    if ids.is_empty() {
        return Ok(std::collections::HashMap::new());
    }
    let locked: Vec<Reminder> = reminders::table
        .filter(reminders::id.eq_any(ids))
        .order(reminders::id)
        .for_update()
        .select(Reminder::as_select())
        .load(connection)
        .await?;
    Ok(locked
        .into_iter()
        .map(|reminder| (reminder.id, reminder))
        .collect())
}

/// Moves the reminders `ids` that are still `queued` to `sending`, in one statement; returns
/// how many moved.
pub async fn mark_sending(connection: &mut AsyncPgConnection, ids: &[Uuid]) -> QueryResult<usize> {
    if ids.is_empty() {
        return Ok(0);
    }
    diesel::update(
        reminders::table
            .filter(reminders::id.eq_any(ids))
            .filter(reminders::status.eq(ReminderStatus::Queued.as_str())),
    )
    .set((
        reminders::status.eq(ReminderStatus::Sending.as_str()),
        reminders::updated_at.eq(diesel::dsl::now),
    ))
    .execute(connection)
    .await
}

/// Returns the latest reminder sent, or being sent, to `to_number` from `from_number` (of
/// `tenant_id`, when given), locked: the conversation an inbound reply from that number to
/// that sender belongs to. Reminders never handed to the carrier (suppressed, expired, …) are
/// not conversations; one answered while it was being sent stays one, whatever the carrier
/// then said.
pub async fn latest_sent(
    connection: &mut AsyncPgConnection,
    to_number: &str,
    from_number: &str,
    tenant_id: Option<Uuid>,
) -> QueryResult<Option<Reminder>> {
    reminders::table
        .filter(reminders::to_number.eq(to_number))
        .filter(reminders::from_number.eq(from_number))
        .filter(
            reminders::sent_at
                .is_not_null()
                .or(reminders::status.eq(ReminderStatus::Sending.as_str()))
                .or(reminders::answer.is_not_null()),
        )
        .filter(of_tenant(tenant_id))
        .order(latest_handed_first())
        .limit(1)
        .for_update()
        .select(Reminder::as_select())
        .first(connection)
        .await
        .optional()
}

/// Orders conversations newest first. A reminder still being sent has no `sent_at` yet and is
/// the newest text to its number, so it comes first; ties go to the later created.
fn latest_handed_first() -> (
    diesel::dsl::NullsFirst<diesel::dsl::Desc<reminders::sent_at>>,
    diesel::dsl::Desc<reminders::created_at>,
) {
    (
        reminders::sent_at.desc().nulls_first(),
        reminders::created_at.desc(),
    )
}

/// Returns the latest outstanding reminder sent to `to_number` from `from_number`: a reminder
/// (follow-ups and no-show messages await no answer), sent or being sent, unanswered, its
/// appointment still ahead. Locked.
///
/// A `sending` reminder counts: its text is committed as handed to the carrier before the
/// request goes out and marked sent only after the carrier answers, and a recipient's reply
/// can arrive in between. A reply from that number to that sender can only be about it.
pub async fn latest_outstanding(
    connection: &mut AsyncPgConnection,
    to_number: &str,
    from_number: &str,
    tenant_id: Option<Uuid>,
) -> QueryResult<Option<Reminder>> {
    reminders::table
        .filter(reminders::to_number.eq(to_number))
        .filter(reminders::from_number.eq(from_number))
        .filter(reminders::kind.eq(ReminderKind::Reminder.as_str()))
        .filter(reminders::status.eq_any([
            ReminderStatus::Sending.as_str(),
            ReminderStatus::Sent.as_str(),
        ]))
        .filter(reminders::answer.is_null())
        .filter(reminders::appointment_start.gt(diesel::dsl::now))
        .filter(of_tenant(tenant_id))
        .order(latest_handed_first())
        .limit(1)
        .for_update()
        .select(Reminder::as_select())
        .first(connection)
        .await
        .optional()
}

/// Returns the latest reminder to `to_number` from `from_number` (of `tenant_id`, when
/// given), sent or not, locked: whose business and consent a keyword from that number
/// concerns.
pub async fn latest_any(
    connection: &mut AsyncPgConnection,
    to_number: &str,
    from_number: &str,
    tenant_id: Option<Uuid>,
) -> QueryResult<Option<Reminder>> {
    reminders::table
        .filter(reminders::to_number.eq(to_number))
        .filter(reminders::from_number.eq(from_number))
        .filter(of_tenant(tenant_id))
        .order(reminders::created_at.desc())
        .limit(1)
        .for_update()
        .select(Reminder::as_select())
        .first(connection)
        .await
        .optional()
}

/// Moves reminder `id` to `status`; `sent` also stamps when it was sent. The answer columns
/// are never touched: a reply applied meanwhile keeps its answer whatever the status.
pub async fn set_status(
    connection: &mut AsyncPgConnection,
    id: Uuid,
    status: ReminderStatus,
) -> QueryResult<()> {
    let target = reminders::table.find(id);
    if status == ReminderStatus::Sent {
        diesel::update(target)
            .set((
                reminders::status.eq(status.as_str()),
                reminders::sent_at.eq(diesel::dsl::now),
                reminders::updated_at.eq(diesel::dsl::now),
            ))
            .execute(connection)
            .await?;
    } else {
        diesel::update(target)
            .set((
                reminders::status.eq(status.as_str()),
                reminders::updated_at.eq(diesel::dsl::now),
            ))
            .execute(connection)
            .await?;
    }
    Ok(())
}

/// Moves reminder `id` to `to` when it is in one of `from` (see [`set_status`]); returns
/// whether it moved. The sender's transitions of a text in flight go through here, so a late
/// carrier answer moves only a reminder still being sent and never rewrites a state settled
/// meanwhile.
pub async fn move_status(
    connection: &mut AsyncPgConnection,
    id: Uuid,
    from: &[ReminderStatus],
    to: ReminderStatus,
) -> QueryResult<bool> {
    let from: Vec<&str> = from.iter().map(|status| status.as_str()).collect();
    let target = reminders::table
        .find(id)
        .filter(reminders::status.eq_any(from));
    let moved = if to == ReminderStatus::Sent {
        diesel::update(target)
            .set((
                reminders::status.eq(to.as_str()),
                reminders::sent_at.eq(diesel::dsl::now),
                reminders::updated_at.eq(diesel::dsl::now),
            ))
            .execute(connection)
            .await?
    } else {
        diesel::update(target)
            .set((
                reminders::status.eq(to.as_str()),
                reminders::updated_at.eq(diesel::dsl::now),
            ))
            .execute(connection)
            .await?
    };
    Ok(moved == 1)
}

/// Records `answer` on the locked, unanswered `reminder` and writes its outcome. Returns
/// whether it was recorded (an answered reminder keeps its first answer).
pub async fn record_answer(
    connection: &mut AsyncPgConnection,
    reminder: &Reminder,
    answer: Answer,
    detail: &str,
) -> QueryResult<bool> {
    let updated = diesel::update(
        reminders::table
            .find(reminder.id)
            .filter(reminders::answer.is_null()),
    )
    .set((
        reminders::answer.eq(answer.as_str()),
        reminders::answered_at.eq(diesel::dsl::now),
        reminders::updated_at.eq(diesel::dsl::now),
    ))
    .execute(connection)
    .await?;
    if updated == 0 {
        return Ok(false);
    }
    report(connection, reminder, answer.kind(), detail, None).await?;
    Ok(true)
}

/// Counts one more unparsable reply on `reminder`; returns the new count.
pub async fn count_unparsable(
    connection: &mut AsyncPgConnection,
    reminder: &Reminder,
) -> QueryResult<i32> {
    diesel::update(reminders::table.find(reminder.id))
        .set((
            reminders::unparsable_replies.eq(reminders::unparsable_replies + 1),
            reminders::updated_at.eq(diesel::dsl::now),
        ))
        .returning(reminders::unparsable_replies)
        .get_result(connection)
        .await
}

/// Returns the queued reminders of `tenant_id` to `to_number`, locked (they are suppressed
/// when the number opts out).
pub async fn queued_to(
    connection: &mut AsyncPgConnection,
    tenant_id: Uuid,
    to_number: &str,
) -> QueryResult<Vec<Reminder>> {
    reminders::table
        .filter(reminders::tenant_id.eq(tenant_id))
        .filter(reminders::to_number.eq(to_number))
        .filter(reminders::status.eq(ReminderStatus::Queued.as_str()))
        .for_update()
        .select(Reminder::as_select())
        .load(connection)
        .await
}

/// Returns the queued reminders of `appointment_id`, locked.
pub async fn queued_of_appointment(
    connection: &mut AsyncPgConnection,
    appointment_id: Uuid,
) -> QueryResult<Vec<Reminder>> {
    reminders::table
        .filter(reminders::appointment_id.eq(appointment_id))
        .filter(reminders::status.eq(ReminderStatus::Queued.as_str()))
        .for_update()
        .select(Reminder::as_select())
        .load(connection)
        .await
}

/// Writes `reminder.outcome` for `reminder` to the outbox, in the caller's transaction.
pub async fn report(
    connection: &mut AsyncPgConnection,
    reminder: &Reminder,
    kind: v1::ReminderOutcomeKind,
    detail: &str,
    provider_ref: Option<&str>,
) -> QueryResult<()> {
    let event = v1::ReminderOutcome {
        reminder_id: reminder.reminder_id.to_string(),
        appointment_id: reminder.appointment_id.to_string(),
        tenant_id: reminder.tenant_id.to_string(),
        channel: v1::Channel::Sms.into(),
        outcome: kind.into(),
        detail: detail.to_owned(),
        occurred_at: Some(to_timestamp(Utc::now())),
        provider_ref: provider_ref.unwrap_or_default().to_owned(),
        attempt: u32::try_from(reminder.attempt).unwrap_or(1),
    };
    let event_id =
        attend_runtime::outbox::enqueue(connection, Some(reminder.tenant_id), &event).await?;
    tracing::info!(%event_id, reminder_id = %reminder.reminder_id, outcome = kind.as_str_name(), routing_key = event.routing_key(), "reminder outcome written");
    Ok(())
}
