//! The sender: claims queued texts, records them as `sending` (committed) before it asks the
//! carrier, then records what the carrier said. Reminders are checked once more at claim
//! time: the sending window in the recipient's zone, the appointment, the number's consent.
//!
//! A reminder goes `sending` with its text, and a reply may be applied to it before the
//! carrier's answer is recorded (see [`crate::conversations::latest_outstanding`]). Recording
//! that answer therefore moves only the reminder's status and never its answer: `sending` to
//! `sent`, `failed` or `suppressed`, or back to `queued` for a retry. A reminder answered while
//! it was being sent is not tried again after a retryable failure: the recipient answered, and
//! a second "reply Yes to confirm" after their confirmation would only confuse them.
//!
//! A send that fails with a retryable error (unreachable, 429, 5xx, timeout) is tried again
//! with exponential backoff and jitter, up to `SMS_MAX_TRIES`; its final failure is an
//! outcome (`failed`), never silence. A text left `sending` by a crash is not sent again: it
//! is settled `failed` once its lease ends (at most once beats a duplicate reminder).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use attend_events::v1;
use attend_runtime::calling_window::CallingWindow;
use attend_runtime::db::DbPool;
use attend_runtime::mask;
use chrono::Utc;
use diesel::QueryResult;
use diesel_async::{AsyncConnection, AsyncPgConnection};
use futures_util::StreamExt;
use tokio::sync::{Mutex, Notify};
use tokio::time::{Interval, MissedTickBehavior};
use tokio_util::sync::CancellationToken;
use tracing::Instrument;
use uuid::Uuid;

use crate::carrier::{OutboundSms, SendSmsError, SentSms, SmsCarrier};
use crate::config::SenderConfig;
use crate::conversations::{self, ReminderStatus};
use crate::outbound::{self, MessageStatus, OutboundMessage};
use crate::{consent, reminders, settings};

/// The longest pause between two tries of one text.
const MAX_BACKOFF: Duration = Duration::from_secs(600);
/// Stale texts settled per transaction.
const STALE_BATCH: i64 = 100;

/// Sends queued texts through the carrier.
pub struct Sender {
    pool: DbPool,
    carrier: Arc<dyn SmsCarrier>,
    config: SenderConfig,
    wake: Arc<Notify>,
    pacer: Mutex<Interval>,
}

impl Sender {
    /// Returns a sender using `carrier`; `wake` makes it look for work at once.
    pub fn new(
        pool: DbPool,
        carrier: Arc<dyn SmsCarrier>,
        config: SenderConfig,
        wake: Arc<Notify>,
    ) -> Self {
        let period = Duration::from_secs(1) / config.per_second.max(1);
        let mut pacer = tokio::time::interval(period);
        // After a quiet spell the sender resumes at its pace instead of bursting.
        pacer.set_missed_tick_behavior(MissedTickBehavior::Delay);
        Self {
            pool,
            carrier,
            config,
            wake,
            pacer: Mutex::new(pacer),
        }
    }

    /// Sends until `cancel` fires: whenever woken, and at least every poll interval. A batch
    /// in flight is finished (each request is bounded by its timeout) so its results are
    /// recorded.
    pub async fn run(self, cancel: CancellationToken) -> anyhow::Result<()> {
        tracing::info!(carrier = self.carrier.name(), "sms sender started");
        while !cancel.is_cancelled() {
            if let Err(error) = self.settle_stale().await {
                tracing::warn!(error.message = %error, error.cause_chain = ?error, "failed to settle stale texts");
            }
            if let Err(error) = self.send_due(&cancel).await {
                tracing::warn!(error.message = %error, error.cause_chain = ?error, "sending failed, retrying");
            }
            tokio::select! {
                () = cancel.cancelled() => break,
                () = self.wake.notified() => {},
                () = tokio::time::sleep(self.config.poll_interval) => {},
            }
        }
        Ok(())
    }

    /// Claims and sends batches of due texts until none is left.
    async fn send_due(&self, cancel: &CancellationToken) -> anyhow::Result<()> {
        let batch_size = i64::try_from(self.config.concurrency * 4).unwrap_or(64);
        while !cancel.is_cancelled() {
            let lease_until = Utc::now() + self.config.sending_lease;
            let mut connection = self.pool.get().await.context("no database connection")?;
            // Committed before any request goes out: a crash leaves a `sending` row, which is
            // settled when its lease ends and never sent again.
            let claimed = connection
                .transaction::<_, anyhow::Error, _>(async |connection| {
                    let claimed = outbound::claim_due(connection, batch_size, lease_until).await?;
                    if claimed.is_empty() {
                        return Ok(None);
                    }
                    Ok(Some(hold_back(connection, claimed).await?))
                })
                .await
                .context("failed to claim due texts")?;
            drop(connection);
            let Some(claimed) = claimed else {
                return Ok(());
            };
            futures_util::stream::iter(claimed)
                .for_each_concurrent(self.config.concurrency, |message| self.send(message))
                .await;
        }
        Ok(())
    }

    async fn send(&self, message: OutboundMessage) {
        let span = tracing::info_span!(
            "send_sms",
            message_id = %message.id,
            kind = %message.kind,
            to = %mask::number(&message.to_number),
            try_number = message.tries,
        );
        async {
            self.pacer.lock().await.tick().await;
            let request = OutboundSms {
                message_id: message.id,
                from: message.from_number.clone(),
                to: message.to_number.clone(),
                body: message.body.clone(),
                status_callback_url: None,
            };
            let result = self.carrier.send(&request).await;
            if let Err(error) = self.record(&message, result).await {
                // The row stays `sending` until its lease ends and is then settled failed.
                tracing::error!(error.message = %error, error.cause_chain = ?error, "failed to record the carrier's answer");
            }
        }
        .instrument(span)
        .await;
    }

    async fn record(
        &self,
        message: &OutboundMessage,
        result: Result<SentSms, SendSmsError>,
    ) -> anyhow::Result<()> {
        let mut connection = self.pool.get().await.context("no database connection")?;
        let error = match result {
            Ok(sent) => return Ok(record_sent(&mut connection, message, &sent).await?),
            Err(error) => error,
        };
        let config = &self.config;
        connection
            .transaction::<_, anyhow::Error, _>(async |connection| {
                let Some(current) = outbound::lock(connection, message.id).await? else {
                    return Ok(());
                };
                if current.status != MessageStatus::Sending.as_str() {
                    // Settled as stale meanwhile: its outcome is already out.
                    tracing::warn!(status = %current.status, "carrier answer after the lease, keeping the state");
                    return Ok(());
                }
                Ok(apply_failure(connection, config, &current, error).await?)
            })
            .await
    }

    /// Settles texts left `sending` past their lease as failed.
    async fn settle_stale(&self) -> anyhow::Result<()> {
        let mut connection = self.pool.get().await.context("no database connection")?;
        loop {
            let settled = connection
                .transaction::<_, anyhow::Error, _>(async |connection| {
                    let stale = outbound::lock_stale_sending(connection, STALE_BATCH).await?;
                    for message in &stale {
                        tracing::warn!(message_id = %message.id, "text left sending past its lease, reporting failed");
                        fail(
                            connection,
                            message,
                            "carrier outcome unknown: the service stopped while sending; not sent again",
                        )
                        .await?;
                    }
                    Ok(stale.len())
                })
                .await
                .context("failed to settle stale texts")?;
            if settled < usize::try_from(STALE_BATCH).unwrap_or(usize::MAX) {
                return Ok(());
            }
        }
    }
}

/// Checks claimed reminder texts once more before they go out, in the claim's transaction;
/// returns the texts to send now. Texts that answer a reply go out at once.
///
/// The round's reminders are locked, and their appointments, consent and tenants' sending
/// windows read, a statement each for the whole round: one per text made these checks a
/// fifth of a reminder's statements.
async fn hold_back(
    connection: &mut AsyncPgConnection,
    claimed: Vec<OutboundMessage>,
) -> QueryResult<Vec<OutboundMessage>> {
    let now = Utc::now();
    let reminder_ids: Vec<Uuid> = claimed.iter().filter_map(reminder_row_of).collect();
    let mut locked = conversations::lock_many(connection, &reminder_ids).await?;
    let appointment_ids: Vec<Uuid> = locked
        .values()
        .map(|reminder| reminder.appointment_id)
        .collect();
    let cancelled = reminders::cancelled_among(connection, &appointment_ids).await?;
    let recipients: Vec<(Uuid, &str)> = locked
        .values()
        .map(|reminder| (reminder.tenant_id, reminder.to_number.as_str()))
        .collect();
    let opted_out = consent::opted_out_among(connection, &recipients).await?;
    let mut windows: HashMap<Uuid, CallingWindow> = HashMap::new();
    let mut sending: Vec<Uuid> = Vec::new();
    let mut to_send = Vec::with_capacity(claimed.len());
    for message in claimed {
        // The locked rows' statuses are kept as this round changes them, so a second text of
        // one reminder sees what the first left, as a lock per text did.
        let Some(reminder) = reminder_row_of(&message).and_then(|id| locked.get_mut(&id)) else {
            to_send.push(message);
            continue;
        };
        if reminder.status != ReminderStatus::Queued.as_str() {
            let detail = "the reminder ended before it was sent";
            outbound::finish(connection, message.id, MessageStatus::Cancelled, detail).await?;
            continue;
        }
        if cancelled.contains(&reminder.appointment_id) {
            outbound::finish(
                connection,
                message.id,
                MessageStatus::Cancelled,
                "appointment cancelled",
            )
            .await?;
            conversations::set_status(connection, reminder.id, ReminderStatus::Cancelled).await?;
            reminder.status = ReminderStatus::Cancelled.as_str().to_owned();
            continue;
        }
        if opted_out.contains(&(reminder.tenant_id, reminder.to_number.clone())) {
            let detail = "the recipient opted out before it was sent";
            outbound::finish(connection, message.id, MessageStatus::Cancelled, detail).await?;
            conversations::set_status(connection, reminder.id, ReminderStatus::Suppressed).await?;
            reminder.status = ReminderStatus::Suppressed.as_str().to_owned();
            conversations::report(
                connection,
                reminder,
                v1::ReminderOutcomeKind::Suppressed,
                detail,
                None,
            )
            .await?;
            continue;
        }
        let window = match windows.get(&reminder.tenant_id) {
            Some(window) => *window,
            None => {
                let window = settings::load(connection, reminder.tenant_id).await?.window;
                windows.insert(reminder.tenant_id, window);
                window
            }
        };
        let opening = window.opening_after(now, &reminder.time_zone);
        // A follow-up or no-show message is meant for after the start: the window defers it
        // without a deadline (the scheduler already dropped one that came due too long ago).
        let too_late = match opening {
            _ if !reminder.reminder_kind().awaits_answer() => false,
            _ if reminder.appointment_start <= now => true,
            Some(opening) => opening >= reminder.appointment_start,
            None => false,
        };
        if too_late {
            let detail = "no sending window is left before the appointment";
            outbound::finish(connection, message.id, MessageStatus::Cancelled, detail).await?;
            conversations::set_status(connection, reminder.id, ReminderStatus::Expired).await?;
            reminder.status = ReminderStatus::Expired.as_str().to_owned();
            conversations::report(
                connection,
                reminder,
                v1::ReminderOutcomeKind::Expired,
                detail,
                None,
            )
            .await?;
            tracing::info!(message_id = %message.id, "outside the sending window until the appointment, expired");
            continue;
        }
        if let Some(opening) = opening {
            outbound::requeue(connection, message.id, opening, None, true).await?;
            tracing::info!(message_id = %message.id, %opening, "outside the sending window, waiting");
            continue;
        }
        reminder.status = ReminderStatus::Sending.as_str().to_owned();
        sending.push(reminder.id);
        to_send.push(message);
    }
    // Committed with the claim: from here on a reply from the number is about these texts.
    conversations::mark_sending(connection, &sending).await?;
    Ok(to_send)
}

/// Returns the reminder row `message` delivers, if it delivers one.
fn reminder_row_of(message: &OutboundMessage) -> Option<Uuid> {
    message
        .reminder_row_id
        .filter(|_| message.delivers_reminder())
}

/// Records a text the carrier took: the text `sent` and, for a reminder text, the reminder
/// `sent` with its outcome. Conditional updates stand in for the locks the failure path takes:
/// a text settled as stale meanwhile, or a reminder settled while its text was in flight,
/// matches nothing and keeps its state. A reminder text is one transaction of three
/// statements, any other text one statement; this was a transaction of five or three.
async fn record_sent(
    connection: &mut AsyncPgConnection,
    message: &OutboundMessage,
    sent: &SentSms,
) -> QueryResult<()> {
    let provider_ref = sent.provider_ref.as_deref();
    let segments = sent
        .segments
        .and_then(|segments| i32::try_from(segments).ok());
    // Whether the text was still `sending`: one settled as stale meanwhile keeps its state.
    let mark_sent = async |connection: &mut AsyncPgConnection| -> QueryResult<bool> {
        let marked =
            outbound::mark_sent_if_sending(connection, message.id, provider_ref, segments).await?;
        if !marked {
            tracing::warn!("carrier answer after the lease, keeping the state");
        }
        Ok(marked)
    };
    let Some(reminder_row_id) = reminder_row_of(message) else {
        if mark_sent(connection).await? {
            tracing::info!(provider_ref = provider_ref.unwrap_or_default(), "text sent");
        }
        return Ok(());
    };
    connection
        .transaction(async |connection| {
            if !mark_sent(connection).await? {
                return Ok(());
            }
            match conversations::settle_sent(connection, reminder_row_id).await? {
                // Also after a reply applied meanwhile: booking-service keeps the answer (a
                // delivery outcome never replaces a reply) and the carrier's id is on record.
                Some(reminder) => {
                    conversations::report(
                        connection,
                        &reminder,
                        v1::ReminderOutcomeKind::Sent,
                        "handed to the carrier",
                        provider_ref,
                    )
                    .await?;
                }
                None => {
                    tracing::warn!(%reminder_row_id, "reminder settled while its text was in flight, keeping its state");
                }
            }
            tracing::info!(provider_ref = provider_ref.unwrap_or_default(), "text sent");
            Ok(())
        })
        .await
}

/// Applies the carrier's refusal or failure to the locked `message`, still `sending`.
async fn apply_failure(
    connection: &mut AsyncPgConnection,
    config: &SenderConfig,
    message: &OutboundMessage,
    error: SendSmsError,
) -> QueryResult<()> {
    let tries = u32::try_from(message.tries).unwrap_or(u32::MAX);
    match error {
        SendSmsError::Retryable(detail)
            if tries < config.max_tries && !answered_meanwhile(connection, message).await? =>
        {
            if let Some(reminder) = reminder_of(connection, message).await? {
                leave_in_flight(connection, &reminder, ReminderStatus::Queued).await?;
            }
            let delay = backoff(config.retry_base, tries);
            let next_try = Utc::now() + delay;
            let detail = mask::digits_in(&detail);
            outbound::requeue(connection, message.id, next_try, Some(&detail), false).await?;
            let retry_in_ms = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX);
            tracing::warn!(detail, retry_in_ms, "carrier unavailable, will try again");
        }
        SendSmsError::Retryable(detail) if tries < config.max_tries => {
            let detail = format!(
                "carrier unavailable: {}; not tried again, the recipient answered meanwhile",
                mask::digits_in(&detail)
            );
            fail(connection, message, &detail).await?;
        }
        SendSmsError::Retryable(detail) => {
            let detail = format!(
                "carrier unavailable after {tries} tries: {}",
                mask::digits_in(&detail)
            );
            fail(connection, message, &detail).await?;
        }
        SendSmsError::Refused(detail) => {
            let detail = format!("carrier refused the text: {}", mask::digits_in(&detail));
            fail(connection, message, &detail).await?;
        }
        SendSmsError::RecipientOptedOut(detail) => {
            // The number blocked this sender at the carrier (Twilio 21610): that is a
            // revocation we must honour on every channel, exactly as a STOP reply.
            let detail = format!(
                "the recipient blocked the sender: {}",
                mask::digits_in(&detail)
            );
            outbound::finish(connection, message.id, MessageStatus::Failed, &detail).await?;
            let tenant_id = message.tenant_id;
            if consent::record_opt_out(
                connection,
                tenant_id,
                &message.to_number,
                consent::source::CARRIER,
                "STOP",
            )
            .await?
            {
                consent::publish_opted_out(
                    connection,
                    tenant_id,
                    &message.to_number,
                    consent::source::CARRIER,
                    "STOP",
                )
                .await?;
            }
            let reminder = reminder_of(connection, message).await?;
            if let Some(reminder) = reminder
                && leave_in_flight(connection, &reminder, ReminderStatus::Suppressed).await?
            {
                conversations::report(
                    connection,
                    &reminder,
                    v1::ReminderOutcomeKind::Suppressed,
                    &detail,
                    None,
                )
                .await?;
            }
            tracing::warn!("recipient blocked the sender at the carrier, opted out");
        }
    }
    Ok(())
}

/// Returns the reminder `message` delivers, locked, when it is a reminder text.
async fn reminder_of(
    connection: &mut AsyncPgConnection,
    message: &OutboundMessage,
) -> QueryResult<Option<conversations::Reminder>> {
    match message
        .reminder_row_id
        .filter(|_| message.delivers_reminder())
    {
        Some(id) => conversations::lock(connection, id).await,
        None => Ok(None),
    }
}

/// Moves the locked `reminder`, whose text was in flight, to `status`; returns whether it
/// moved. A reply applied meanwhile keeps its answer: only the status changes.
async fn leave_in_flight(
    connection: &mut AsyncPgConnection,
    reminder: &conversations::Reminder,
    status: ReminderStatus,
) -> QueryResult<bool> {
    let moved =
        conversations::move_status(connection, reminder.id, &conversations::IN_FLIGHT, status)
            .await?;
    if !moved {
        tracing::warn!(reminder_row_id = %reminder.id, status = %reminder.status, "reminder settled while its text was in flight, keeping its state");
    }
    Ok(moved)
}

/// Returns whether the reminder `message` delivers got its final answer while the text was
/// being sent.
async fn answered_meanwhile(
    connection: &mut AsyncPgConnection,
    message: &OutboundMessage,
) -> QueryResult<bool> {
    let reminder = reminder_of(connection, message).await?;
    Ok(reminder.is_some_and(|reminder| reminder.answer.is_some()))
}

/// Marks `message` failed and, for a reminder text, reports the reminder failed. A reply
/// applied while it was being sent keeps its answer; the failure is still reported (the text
/// did fail) and booking-service keeps the answer, which a delivery outcome never replaces.
async fn fail(
    connection: &mut AsyncPgConnection,
    message: &OutboundMessage,
    detail: &str,
) -> QueryResult<()> {
    outbound::finish(connection, message.id, MessageStatus::Failed, detail).await?;
    let reminder = reminder_of(connection, message).await?;
    if let Some(reminder) = reminder
        && leave_in_flight(connection, &reminder, ReminderStatus::Failed).await?
    {
        conversations::report(
            connection,
            &reminder,
            v1::ReminderOutcomeKind::Failed,
            detail,
            None,
        )
        .await?;
    }
    tracing::warn!(message_id = %message.id, detail, "text failed");
    Ok(())
}

fn backoff(base: Duration, tries: u32) -> Duration {
    attend_runtime::backoff::jittered(base, tries, MAX_BACKOFF)
}
