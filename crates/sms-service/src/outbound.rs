//! The `outbound_messages` table: every text the service sends, queued in the transaction
//! that decided to send it and claimed by the [`crate::sender`].

use attend_runtime::db::literal_in;
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

use crate::db::schema::outbound_messages;

/// What a text is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MessageKind {
    /// The reminder itself (asks for an answer).
    Reminder,
    /// A follow-up after the appointment (informational).
    FollowUp,
    /// The message sent when a no-show was recorded (informational).
    NoShow,
    /// The answer to a yes.
    Confirmed,
    /// The answer to a no.
    Cancelled,
    /// The answer to a reply that was not one.
    Unparsable,
    /// The one confirmation of an opt-out.
    OptedOut,
    /// The confirmation of an opt-in.
    OptedIn,
    /// The answer to HELP.
    Help,
    /// The answer to a reply with nothing to answer.
    NoPending,
}

impl MessageKind {
    /// Returns the stored name, which is also the template's name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Reminder => "reminder",
            Self::FollowUp => "follow_up",
            Self::NoShow => "no_show",
            Self::Confirmed => "confirmed",
            Self::Cancelled => "cancelled",
            Self::Unparsable => "unparsable",
            Self::OptedOut => "opted_out",
            Self::OptedIn => "opted_in",
            Self::Help => "help",
            Self::NoPending => "no_pending",
        }
    }
}

/// Where a text is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MessageStatus {
    /// Waiting for the sender.
    Queued,
    /// Claimed: the send request may be on its way (committed before it is).
    Sending,
    /// The carrier took it.
    Sent,
    /// Not sent, finally.
    Failed,
    /// Not sent: no longer wanted.
    Cancelled,
}

impl MessageStatus {
    /// Returns the stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Queued => "queued",
            Self::Sending => "sending",
            Self::Sent => "sent",
            Self::Failed => "failed",
            Self::Cancelled => "cancelled",
        }
    }
}

/// A stored text.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = outbound_messages, check_for_backend(diesel::pg::Pg))]
pub struct OutboundMessage {
    /// Row id; also sent to the carrier as our reference.
    pub id: Uuid,
    /// Its tenant.
    pub tenant_id: Uuid,
    /// The conversation it belongs to.
    pub reminder_row_id: Option<Uuid>,
    /// `reminder`, `confirmed`, …
    pub kind: String,
    /// The sender, E.164.
    pub from_number: String,
    /// The recipient, E.164; never logged in clear.
    pub to_number: String,
    /// The text.
    pub body: String,
    /// `queued`, `sending`, …
    pub status: String,
    /// Send requests made.
    pub tries: i32,
    /// When it is due (queued) or when its lease ends (sending).
    pub next_try_at: DateTime<Utc>,
    /// The carrier's id.
    pub provider_ref: Option<String>,
    /// Segments the carrier billed, when it said.
    pub segments: Option<i32>,
    /// The last error.
    pub last_error: Option<String>,
    /// When it was queued.
    pub created_at: DateTime<Utc>,
    /// When the carrier took it.
    pub sent_at: Option<DateTime<Utc>>,
}

impl OutboundMessage {
    /// Returns whether this is a reminder row's own text (a reminder, follow-up or no-show
    /// message): the texts held to the sending window, consent and cancellation checks, whose
    /// delivery is the reminder's outcome. Answers to replies are not.
    pub fn delivers_reminder(&self) -> bool {
        [
            MessageKind::Reminder,
            MessageKind::FollowUp,
            MessageKind::NoShow,
        ]
        .iter()
        .any(|kind| self.kind == kind.as_str())
    }
}

/// Queues a text for the sender; returns its id.
pub async fn enqueue(
    connection: &mut AsyncPgConnection,
    tenant_id: Uuid,
    reminder_row_id: Option<Uuid>,
    kind: MessageKind,
    from_number: &str,
    to_number: &str,
    body: &str,
) -> QueryResult<Uuid> {
    let id = Uuid::now_v7();
    diesel::insert_into(outbound_messages::table)
        .values((
            outbound_messages::id.eq(id),
            outbound_messages::tenant_id.eq(tenant_id),
            outbound_messages::reminder_row_id.eq(reminder_row_id),
            outbound_messages::kind.eq(kind.as_str()),
            outbound_messages::from_number.eq(from_number),
            outbound_messages::to_number.eq(to_number),
            outbound_messages::body.eq(body),
            outbound_messages::status.eq(MessageStatus::Queued.as_str()),
        ))
        .execute(connection)
        .await?;
    Ok(id)
}

/// Claims up to `limit` due queued texts (SKIP LOCKED, so replicas share the work), marks
/// them `sending` with one more try and a lease until `lease_until`. The caller commits
/// before any request goes out, so every send is on record before it exists.
pub async fn claim_due(
    connection: &mut AsyncPgConnection,
    limit: i64,
    lease_until: DateTime<Utc>,
) -> QueryResult<Vec<OutboundMessage>> {
    // Literal, so that every plan can use outbound_messages_queued_idx.
    let ids: Vec<Uuid> = outbound_messages::table
        .filter(literal_in(
            "outbound_messages.status",
            &[MessageStatus::Queued.as_str()],
        ))
        .filter(outbound_messages::next_try_at.le(diesel::dsl::now))
        .order(outbound_messages::next_try_at)
        .limit(limit)
        .for_update()
        .skip_locked()
        .select(outbound_messages::id)
        .load(connection)
        .await?;
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    diesel::update(outbound_messages::table.filter(outbound_messages::id.eq_any(&ids)))
        .set((
            outbound_messages::status.eq(MessageStatus::Sending.as_str()),
            outbound_messages::tries.eq(outbound_messages::tries + 1),
            outbound_messages::next_try_at.eq(lease_until),
        ))
        .returning(OutboundMessage::as_returning())
        .get_results(connection)
        .await
}

/// Returns text `id`, locked.
pub async fn lock(
    connection: &mut AsyncPgConnection,
    id: Uuid,
) -> QueryResult<Option<OutboundMessage>> {
    outbound_messages::table
        .find(id)
        .for_update()
        .select(OutboundMessage::as_select())
        .first(connection)
        .await
        .optional()
}

/// Returns up to `limit` texts left `sending` past their lease (a crash between claim and
/// record), locked.
pub async fn lock_stale_sending(
    connection: &mut AsyncPgConnection,
    limit: i64,
) -> QueryResult<Vec<OutboundMessage>> {
    // Literal, so that every plan can use outbound_messages_sending_idx.
    outbound_messages::table
        .filter(literal_in(
            "outbound_messages.status",
            &[MessageStatus::Sending.as_str()],
        ))
        .filter(outbound_messages::next_try_at.le(diesel::dsl::now))
        .order(outbound_messages::next_try_at)
        .limit(limit)
        .for_update()
        .skip_locked()
        .select(OutboundMessage::as_select())
        .load(connection)
        .await
}

/// Marks text `id` sent with the carrier's id and segment count if it is still `sending`, in
/// one statement; returns whether it was. A text settled as stale meanwhile (its lease ended
/// first) matches nothing and keeps its state: its outcome is already out.
pub async fn mark_sent_if_sending(
    connection: &mut AsyncPgConnection,
    id: Uuid,
    provider_ref: Option<&str>,
    segments: Option<i32>,
) -> QueryResult<bool> {
    let updated = diesel::update(
        outbound_messages::table
            .find(id)
            .filter(outbound_messages::status.eq(MessageStatus::Sending.as_str())),
    )
    .set((
        outbound_messages::status.eq(MessageStatus::Sent.as_str()),
        outbound_messages::provider_ref.eq(provider_ref),
        outbound_messages::segments.eq(segments),
        outbound_messages::sent_at.eq(diesel::dsl::now),
    ))
    .execute(connection)
    .await?;
    Ok(updated == 1)
}

/// Puts text `id` back in the queue until `next_try_at`; `uncount` gives back the try its
/// claim counted (a wait for the sending window is not a try).
pub async fn requeue(
    connection: &mut AsyncPgConnection,
    id: Uuid,
    next_try_at: DateTime<Utc>,
    error: Option<&str>,
    uncount: bool,
) -> QueryResult<()> {
    let tries_back = i32::from(uncount);
    diesel::update(outbound_messages::table.find(id))
        .set((
            outbound_messages::status.eq(MessageStatus::Queued.as_str()),
            outbound_messages::next_try_at.eq(next_try_at),
            outbound_messages::tries.eq(outbound_messages::tries - tries_back),
            outbound_messages::last_error.eq(error),
        ))
        .execute(connection)
        .await?;
    Ok(())
}

/// Ends text `id` as `status` (failed or cancelled) with `detail`.
pub async fn finish(
    connection: &mut AsyncPgConnection,
    id: Uuid,
    status: MessageStatus,
    detail: &str,
) -> QueryResult<()> {
    diesel::update(outbound_messages::table.find(id))
        .set((
            outbound_messages::status.eq(status.as_str()),
            outbound_messages::last_error.eq(detail),
        ))
        .execute(connection)
        .await?;
    Ok(())
}

/// Cancels the queued texts of conversation `reminder_row_id`; returns how many.
pub async fn cancel_queued_of(
    connection: &mut AsyncPgConnection,
    reminder_row_id: Uuid,
    detail: &str,
) -> QueryResult<usize> {
    diesel::update(
        outbound_messages::table
            .filter(outbound_messages::reminder_row_id.eq(reminder_row_id))
            .filter(outbound_messages::status.eq(MessageStatus::Queued.as_str())),
    )
    .set((
        outbound_messages::status.eq(MessageStatus::Cancelled.as_str()),
        outbound_messages::last_error.eq(detail),
    ))
    .execute(connection)
    .await
}
