//! What an inbound text does: it is recorded once (carriers deliver some webhooks twice),
//! parsed by whole words (attend-text's `replies`), and answers the latest outstanding
//! reminder sent (or still being sent: the reply can beat the carrier's answer to the send)
//! to its number from the number it was sent to, all in one transaction with the outcome
//! event and the answer text.
//!
//! - yes / no: the reminder's final answer (`confirmed` / `cancelled`), one answer text;
//! - STOP and the other opt-out words: the number opts out of the tenant's reminders on every
//!   channel (`subscriber.opted_out`), its queued reminders are suppressed, an outstanding
//!   one ends `opted_out`, and one confirmation text goes out, only when the opt-out is new;
//! - START / UNSTOP: the opt-out is withdrawn (`subscriber.opted_in`) with one confirmation;
//! - HELP / INFO: the help text;
//! - anything else: `unparsable`, answered for the first two such replies of a reminder.
//!
//! A reply to a reminder that already has its answer changes nothing and sends nothing. A
//! yes, no or unparsable reply with no reminder to answer gets the "no pending appointment"
//! text at most once a day per number, so an auto-responder cannot start a loop.

use attend_events::v1;
use attend_runtime::mask;
use attend_text::replies::{self, Reply};
use chrono::Utc;
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

use crate::conversations::{self, Answer, Reminder};
use crate::db::schema::{inbound_messages, no_pending_notices};
use crate::outbound::{self, MessageKind};
use crate::settings::{self, SmsSettings};
use crate::{consent, texts};

/// The unparsable answer goes out for this many unparsable replies per reminder.
pub const MAX_UNPARSABLE_ANSWERS: i32 = 2;

/// One inbound text, as a carrier webhook delivered it.
#[derive(Debug, Clone)]
pub struct InboundSms {
    /// `flowroute` or `twilio`.
    pub carrier: &'static str,
    /// The carrier's id of the message (deduplicates repeated webhooks).
    pub provider_ref: String,
    /// Who sent it, E.164.
    pub from: String,
    /// The number it was sent to (our sender), E.164.
    pub to: String,
    /// The text.
    pub body: String,
    /// Only this tenant's reminders are considered (the tenant's own webhook route).
    pub tenant_scope: Option<Uuid>,
}

/// What was done with an inbound text (stored with it, and logged).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Handling {
    /// The same webhook was handled already.
    Duplicate,
    /// The reminder was answered.
    Answered,
    /// The reminder already had its answer: nothing changed, nothing sent.
    AlreadyAnswered,
    /// Not an answer; the unparsable text went out.
    UnparsableAnswered,
    /// Not an answer, and the unparsable text was sent twice already.
    UnparsableIgnored,
    /// The number opted out (confirmation sent).
    OptedOut,
    /// The number had opted out already: nothing sent again.
    AlreadyOptedOut,
    /// The number opted back in (confirmation sent).
    OptedIn,
    /// START from a number that had not opted out.
    NotOptedOut,
    /// The help text went out.
    Help,
    /// Nothing to answer; the "no pending appointment" text went out.
    NoPending,
    /// Nothing to answer, and that was said today already.
    NoPendingAlreadySaid,
    /// No tenant ever texted this number from this sender: nobody to act for.
    UnknownSender,
}

impl Handling {
    /// Returns the stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Duplicate => "duplicate",
            Self::Answered => "answered",
            Self::AlreadyAnswered => "already_answered",
            Self::UnparsableAnswered => "unparsable_answered",
            Self::UnparsableIgnored => "unparsable_ignored",
            Self::OptedOut => "opted_out",
            Self::AlreadyOptedOut => "already_opted_out",
            Self::OptedIn => "opted_in",
            Self::NotOptedOut => "not_opted_out",
            Self::Help => "help",
            Self::NoPending => "no_pending",
            Self::NoPendingAlreadySaid => "no_pending_already_said",
            Self::UnknownSender => "unknown_sender",
        }
    }
}

/// Handles `sms` in the caller's transaction; returns what was done.
pub async fn handle(connection: &mut AsyncPgConnection, sms: &InboundSms) -> QueryResult<Handling> {
    let parsed = replies::parse_with_keyword(&sms.body);
    let row_id = Uuid::now_v7();
    // Recorded first: of two deliveries of one message, the second waits on this row's key
    // and then finds it taken.
    let inserted = diesel::insert_into(inbound_messages::table)
        .values((
            inbound_messages::id.eq(row_id),
            inbound_messages::carrier.eq(sms.carrier),
            inbound_messages::provider_ref.eq(&sms.provider_ref),
            inbound_messages::tenant_id.eq(sms.tenant_scope),
            inbound_messages::from_number.eq(&sms.from),
            inbound_messages::to_number.eq(&sms.to),
            inbound_messages::body.eq(&sms.body),
            inbound_messages::reply.eq(reply_name(parsed.reply)),
            inbound_messages::handling.eq("pending"),
        ))
        .on_conflict((inbound_messages::carrier, inbound_messages::provider_ref))
        .do_nothing()
        .execute(connection)
        .await?;
    if inserted == 0 {
        tracing::info!(carrier = sms.carrier, provider_ref = %sms.provider_ref, "inbound text seen before, ignored");
        return Ok(Handling::Duplicate);
    }
    let keyword = parsed.keyword.clone().unwrap_or_default();
    let (handling, reminder_row_id, tenant_id) = match parsed.reply {
        Reply::OptOut => opt_out(connection, sms, &keyword).await?,
        Reply::OptIn => opt_in(connection, sms, &keyword).await?,
        Reply::Help => help(connection, sms).await?,
        Reply::Confirm | Reply::Cancel | Reply::Unparsable => {
            answer(connection, sms, parsed.reply).await?
        }
    };
    diesel::update(inbound_messages::table.find(row_id))
        .set((
            inbound_messages::handling.eq(handling.as_str()),
            inbound_messages::reminder_row_id.eq(reminder_row_id),
            inbound_messages::tenant_id.eq(tenant_id.or(sms.tenant_scope)),
        ))
        .execute(connection)
        .await?;
    tracing::info!(
        carrier = sms.carrier,
        from = %mask::number(&sms.from),
        reply = reply_name(parsed.reply),
        handling = handling.as_str(),
        "inbound text handled"
    );
    Ok(handling)
}

type Handled = (Handling, Option<Uuid>, Option<Uuid>);

fn reply_name(reply: Reply) -> &'static str {
    match reply {
        Reply::Confirm => "confirm",
        Reply::Cancel => "cancel",
        Reply::OptOut => "opt_out",
        Reply::OptIn => "opt_in",
        Reply::Help => "help",
        Reply::Unparsable => "unparsable",
    }
}

/// A yes, a no, or an unparsable reply.
async fn answer(
    connection: &mut AsyncPgConnection,
    sms: &InboundSms,
    reply: Reply,
) -> QueryResult<Handled> {
    let outstanding =
        conversations::latest_outstanding(connection, &sms.from, &sms.to, sms.tenant_scope).await?;
    let Some(reminder) = outstanding else {
        return nothing_to_answer(connection, sms).await;
    };
    let settings = settings::load(connection, reminder.tenant_id).await?;
    let handled = |handling| Ok((handling, Some(reminder.id), Some(reminder.tenant_id)));
    let (answer, kind) = match reply {
        Reply::Confirm => (Answer::Confirmed, MessageKind::Confirmed),
        Reply::Cancel => (Answer::Cancelled, MessageKind::Cancelled),
        _ => {
            let count = conversations::count_unparsable(connection, &reminder).await?;
            conversations::report(
                connection,
                &reminder,
                v1::ReminderOutcomeKind::Unparsable,
                "the reply was not an answer",
                None,
            )
            .await?;
            if count > MAX_UNPARSABLE_ANSWERS {
                return handled(Handling::UnparsableIgnored);
            }
            send_about(connection, &reminder, MessageKind::Unparsable, &settings).await?;
            return handled(Handling::UnparsableAnswered);
        }
    };
    if !conversations::record_answer(connection, &reminder, answer, "replied by text").await? {
        return handled(Handling::AlreadyAnswered);
    }
    outbound::cancel_queued_of(connection, reminder.id, "answered").await?;
    send_about(connection, &reminder, kind, &settings).await?;
    handled(Handling::Answered)
}

/// A yes, no or unparsable reply with no outstanding reminder.
async fn nothing_to_answer(
    connection: &mut AsyncPgConnection,
    sms: &InboundSms,
) -> QueryResult<Handled> {
    let latest =
        conversations::latest_sent(connection, &sms.from, &sms.to, sms.tenant_scope).await?;
    let Some(latest) = latest else {
        return Ok((Handling::UnknownSender, None, None));
    };
    if latest.answer.is_some() {
        // A final answer is final: a later reply neither flips it nor starts a conversation.
        return Ok((
            Handling::AlreadyAnswered,
            Some(latest.id),
            Some(latest.tenant_id),
        ));
    }
    let today = Utc::now().date_naive();
    let first_today = diesel::insert_into(no_pending_notices::table)
        .values((
            no_pending_notices::to_number.eq(&sms.from),
            no_pending_notices::from_number.eq(&sms.to),
            no_pending_notices::day.eq(today),
        ))
        .on_conflict_do_nothing()
        .execute(connection)
        .await?
        == 1;
    if !first_today {
        return Ok((
            Handling::NoPendingAlreadySaid,
            Some(latest.id),
            Some(latest.tenant_id),
        ));
    }
    let settings = settings::load(connection, latest.tenant_id).await?;
    send_general(connection, &latest, MessageKind::NoPending, &settings).await?;
    Ok((Handling::NoPending, Some(latest.id), Some(latest.tenant_id)))
}

async fn opt_out(
    connection: &mut AsyncPgConnection,
    sms: &InboundSms,
    keyword: &str,
) -> QueryResult<Handled> {
    let Some(latest) = latest_any(connection, sms).await? else {
        return Ok((Handling::UnknownSender, None, None));
    };
    let tenant_id = latest.tenant_id;
    let keyword = keyword.to_uppercase();
    let new = consent::record_opt_out(
        connection,
        tenant_id,
        &sms.from,
        consent::source::SMS_KEYWORD,
        &keyword,
    )
    .await?;
    consent::suppress_queued(connection, tenant_id, &sms.from).await?;
    let outstanding =
        conversations::latest_outstanding(connection, &sms.from, &sms.to, Some(tenant_id)).await?;
    if let Some(reminder) = &outstanding {
        conversations::record_answer(
            connection,
            reminder,
            Answer::OptedOut,
            "replied with an opt-out keyword",
        )
        .await?;
    }
    let reminder_row_id = outstanding
        .as_ref()
        .map(|reminder| reminder.id)
        .or(Some(latest.id));
    if !new {
        return Ok((Handling::AlreadyOptedOut, reminder_row_id, Some(tenant_id)));
    }
    consent::publish_opted_out(
        connection,
        tenant_id,
        &sms.from,
        consent::source::SMS_KEYWORD,
        &keyword,
    )
    .await?;
    let settings = settings::load(connection, tenant_id).await?;
    send_general(connection, &latest, MessageKind::OptedOut, &settings).await?;
    Ok((Handling::OptedOut, reminder_row_id, Some(tenant_id)))
}

async fn opt_in(
    connection: &mut AsyncPgConnection,
    sms: &InboundSms,
    keyword: &str,
) -> QueryResult<Handled> {
    let Some(latest) = latest_any(connection, sms).await? else {
        return Ok((Handling::UnknownSender, None, None));
    };
    let tenant_id = latest.tenant_id;
    if !consent::record_opt_in(connection, tenant_id, &sms.from).await? {
        return Ok((Handling::NotOptedOut, Some(latest.id), Some(tenant_id)));
    }
    consent::publish_opted_in(connection, tenant_id, &sms.from, &keyword.to_uppercase()).await?;
    let settings = settings::load(connection, tenant_id).await?;
    send_general(connection, &latest, MessageKind::OptedIn, &settings).await?;
    Ok((Handling::OptedIn, Some(latest.id), Some(tenant_id)))
}

async fn help(connection: &mut AsyncPgConnection, sms: &InboundSms) -> QueryResult<Handled> {
    let Some(latest) = latest_any(connection, sms).await? else {
        return Ok((Handling::UnknownSender, None, None));
    };
    let settings = settings::load(connection, latest.tenant_id).await?;
    send_general(connection, &latest, MessageKind::Help, &settings).await?;
    Ok((Handling::Help, Some(latest.id), Some(latest.tenant_id)))
}

/// Returns the latest reminder (sent or not) to the sender of `sms` from the number it wrote
/// to: whose business and consent a keyword concerns.
async fn latest_any(
    connection: &mut AsyncPgConnection,
    sms: &InboundSms,
) -> QueryResult<Option<Reminder>> {
    conversations::latest_any(connection, &sms.from, &sms.to, sms.tenant_scope).await
}

async fn send_about(
    connection: &mut AsyncPgConnection,
    reminder: &Reminder,
    kind: MessageKind,
    settings: &SmsSettings,
) -> QueryResult<()> {
    let body = texts::about_reminder(kind, reminder, settings);
    queue_reply(connection, reminder, kind, &body).await
}

async fn send_general(
    connection: &mut AsyncPgConnection,
    reminder: &Reminder,
    kind: MessageKind,
    settings: &SmsSettings,
) -> QueryResult<()> {
    let body = texts::general(
        kind,
        &reminder.locale,
        &reminder.business_name,
        &reminder.from_number,
        settings,
    );
    queue_reply(connection, reminder, kind, &body).await
}

/// Queues `body` to the recipient of `reminder`, from the number it came from.
async fn queue_reply(
    connection: &mut AsyncPgConnection,
    reminder: &Reminder,
    kind: MessageKind,
    body: &str,
) -> QueryResult<()> {
    outbound::enqueue(
        connection,
        reminder.tenant_id,
        Some(reminder.id),
        kind,
        &reminder.from_number,
        &reminder.to_number,
        body,
    )
    .await?;
    Ok(())
}
