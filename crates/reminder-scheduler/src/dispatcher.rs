//! The dispatcher: fires each due reminder job exactly once, even with several scheduler
//! instances on one database.
//!
//! Each round claims a batch of due pending jobs (`FOR UPDATE SKIP LOCKED`), moves them out of
//! `pending`, and writes one `reminder.due.*` per dispatched job to the outbox, all in one
//! transaction: either the jobs leave `pending` and their events exist, or neither happens.
//! The outbox relay publishes the events afterwards.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use attend_events::{to_timestamp, v1};
use attend_runtime::db::DbPool;
use attend_runtime::metrics::Metrics;
use attend_runtime::outbox;
use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use diesel_async::AsyncConnection;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use crate::jobs::{self, Job};
use crate::policy::{self, Timing};

/// The longest pause after a failed round (database down), doubling from 100 ms.
const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// What one dispatch round did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RoundReport {
    /// Jobs claimed.
    pub claimed: usize,
    /// Jobs whose `reminder.due` was written.
    pub dispatched: usize,
    /// Jobs outside the calling window, moved to its next opening.
    pub deferred: usize,
    /// Jobs dropped because no calling window opens before their appointment starts.
    pub expired: usize,
}

/// Fires due reminder jobs.
pub struct Dispatcher {
    pool: DbPool,
    wake: Arc<Notify>,
    poll_interval: Duration,
    batch_size: i64,
    metrics: Metrics,
}

impl Dispatcher {
    /// Returns a dispatcher claiming `batch_size` jobs per transaction, sleeping at most
    /// `poll_interval`, and woken early through `wake` when new jobs are stored.
    pub fn new(
        pool: DbPool,
        wake: Arc<Notify>,
        poll_interval: Duration,
        batch_size: i64,
        metrics: Metrics,
    ) -> Self {
        Self {
            pool,
            wake,
            poll_interval,
            batch_size,
            metrics,
        }
    }

    /// Dispatches until `cancel` fires. After a full batch it goes on at once; otherwise it
    /// sleeps until the next job is due, the poll interval passes, or it is woken. Database
    /// failures are logged and retried with backoff: unclaimed jobs simply wait.
    pub async fn run(self, cancel: CancellationToken) -> anyhow::Result<()> {
        tracing::info!(
            poll_ms = self.poll_interval.as_millis(),
            batch_size = self.batch_size,
            "dispatcher started"
        );
        let mut backoff = Duration::from_millis(100);
        while !cancel.is_cancelled() {
            let pause = match self.dispatch_round().await {
                Ok(report)
                    if report.claimed >= usize::try_from(self.batch_size).unwrap_or(usize::MAX) =>
                {
                    backoff = Duration::from_millis(100);
                    continue;
                }
                Ok(_) => {
                    backoff = Duration::from_millis(100);
                    self.time_until_next_due().await
                }
                Err(error) => {
                    tracing::warn!(error.message = %error, error.cause_chain = ?error, "dispatch round failed, retrying");
                    let pause = backoff;
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                    pause
                }
            };
            tokio::select! {
                () = cancel.cancelled() => break,
                () = self.wake.notified() => {},
                () = tokio::time::sleep(pause) => {},
            }
        }
        tracing::info!("dispatcher stopped");
        Ok(())
    }

    /// Returns how long to sleep: until the next pending job is due, at most the poll
    /// interval (which also covers jobs another instance stores, since only this instance's
    /// consumers wake it).
    async fn time_until_next_due(&self) -> Duration {
        let next_due = async {
            let mut connection = self.pool.get().await.context("no database connection")?;
            jobs::next_due_in(&mut connection)
                .await
                .context("failed to read the next due time")
        }
        .await;
        match next_due {
            Ok(Some(wait)) => wait.min(self.poll_interval),
            Ok(None) => self.poll_interval,
            Err(error) => {
                tracing::warn!(error.message = %error, "cannot tell when the next reminder is due, polling");
                self.poll_interval
            }
        }
    }

    /// Claims one batch of due jobs and, in the same transaction, applies each tenant's
    /// calling window in the recipient's zone: a job inside it is dispatched (its
    /// `reminder.due` written to the outbox), one outside it waits for the next opening, and
    /// one whose appointment starts before that opening expires (its `reminder.outcome`
    /// EXPIRED written to the outbox, so booking-service learns it went unsent).
    pub async fn dispatch_round(&self) -> anyhow::Result<RoundReport> {
        let mut connection = self.pool.get().await.context("no database connection")?;
        let batch_size = self.batch_size;
        let report = connection
            .transaction::<RoundReport, anyhow::Error, _>(async |connection| {
                let (now, claimed) = jobs::claim_due(connection, batch_size).await.context("failed to claim due jobs")?;
                let mut report = RoundReport { claimed: claimed.len(), ..RoundReport::default() };
                if claimed.is_empty() {
                    return Ok(report);
                }
                let mut tenant_ids: Vec<_> = claimed.iter().map(|job| job.tenant_id).collect();
                tenant_ids.sort_unstable();
                tenant_ids.dedup();
                let policies = policy::policies_of(connection, &tenant_ids).await.context("failed to read tenant policies")?;
                let mut to_dispatch = Vec::new();
                let mut to_expire = Vec::new();
                for job in &claimed {
                    let window = policies.get(&job.tenant_id).map(|policy| policy.window).unwrap_or_default();
                    let zone = recipient_zone(job);
                    let timing = if job.kind.fires_after_start() {
                        policy::after_start_timing(window, zone, now, job.due_at)
                    } else {
                        policy::dispatch_timing(window, zone, now, job.appointment_start)
                    };
                    match timing {
                        Timing::Now => to_dispatch.push(job),
                        Timing::Defer(opening) => {
                            jobs::defer(connection, job.reminder_id, opening).await.context("failed to defer a job")?;
                            tracing::info!(reminder_id = %job.reminder_id, due_at = %opening, "outside the calling window, reminder deferred");
                            report.deferred += 1;
                        }
                        Timing::Expire => to_expire.push(job),
                    }
                }
                let expired_ids: Vec<_> = to_expire.iter().map(|job| job.reminder_id).collect();
                jobs::mark_expired(connection, &expired_ids).await.context("failed to expire jobs")?;
                let mut expired_events = Vec::with_capacity(to_expire.len());
                for job in &to_expire {
                    tracing::info!(reminder_id = %job.reminder_id, appointment_id = %job.appointment_id, kind = job.kind.as_str(), reason = expiry_reason(job), "reminder expired");
                    expired_events.push(outbox::PendingEvent::new(Some(job.tenant_id), &expired_outcome(job, now)));
                }
                // One INSERT for the whole batch: one round trip per event made a round of
                // 500 reminders cost ~500 round trips (docs/benchmarks.md, item 3).
                report.expired = outbox::enqueue_all(connection, &expired_events)
                    .await
                    .context("failed to write reminder.outcome to the outbox")?;
                let dispatched_ids: Vec<_> = to_dispatch.iter().map(|job| job.reminder_id).collect();
                jobs::mark_dispatched(connection, &dispatched_ids).await.context("failed to mark jobs dispatched")?;
                let mut due_events = Vec::with_capacity(to_dispatch.len());
                for job in &to_dispatch {
                    // Continue the trace of the event that planned the job, hours ago maybe.
                    let span = tracing::info_span!(
                        "dispatch_reminder",
                        reminder_id = %job.reminder_id,
                        appointment_id = %job.appointment_id,
                        channel = job.channel.as_str(),
                        attempt = job.attempt,
                    );
                    if let Some(traceparent) = &job.traceparent {
                        attend_runtime::telemetry::set_remote_parent(&span, traceparent);
                    }
                    due_events.push(span.in_scope(|| outbox::PendingEvent::new(Some(job.tenant_id), &reminder_due(job))));
                }
                report.dispatched = outbox::enqueue_all(connection, &due_events)
                    .await
                    .context("failed to write reminder.due to the outbox")?;
                Ok(report)
            })
            .instrument(tracing::debug_span!("dispatch_round", batch_size))
            .await?;
        if report.claimed > 0 {
            tracing::info!(
                dispatched = report.dispatched,
                deferred = report.deferred,
                expired = report.expired,
                "due reminders handled"
            );
        }
        for _ in 0..report.dispatched {
            self.metrics.count("reminder_dispatched");
        }
        for _ in 0..report.deferred {
            self.metrics.count("reminder_deferred");
        }
        for _ in 0..report.expired {
            self.metrics.count("reminder_expired");
        }
        Ok(report)
    }
}

/// Returns the recipient's zone; a name that is not an IANA zone falls back to UTC (the
/// scheduler knows no other zone of the tenant), logged so the row can be fixed.
pub fn recipient_zone(job: &Job) -> Tz {
    policy::zone_of(&job.recipient_time_zone).unwrap_or_else(|| {
        tracing::warn!(reminder_id = %job.reminder_id, time_zone = %job.recipient_time_zone, "unknown recipient time zone, using UTC for the calling window");
        Tz::UTC
    })
}

/// Returns why a job expires: a reminder has no calling window left before its appointment, a
/// follow-up or no-show message came due too long ago.
fn expiry_reason(job: &Job) -> &'static str {
    if job.kind.fires_after_start() {
        "more than 24 hours past its due time"
    } else {
        "no calling window left before the appointment"
    }
}

/// Returns the `reminder.outcome` EXPIRED of a job that will never be sent.
pub fn expired_outcome(job: &Job, now: DateTime<Utc>) -> v1::ReminderOutcome {
    v1::ReminderOutcome {
        reminder_id: job.reminder_id.to_string(),
        appointment_id: job.appointment_id.to_string(),
        tenant_id: job.tenant_id.to_string(),
        channel: job.channel.to_proto().into(),
        outcome: v1::ReminderOutcomeKind::Expired.into(),
        detail: expiry_reason(job).to_owned(),
        occurred_at: Some(to_timestamp(now)),
        provider_ref: String::new(),
        attempt: job.attempt,
    }
}

/// Returns the `reminder.due` event of a dispatched job.
pub fn reminder_due(job: &Job) -> v1::ReminderDue {
    v1::ReminderDue {
        reminder_id: job.reminder_id.to_string(),
        appointment_id: job.appointment_id.to_string(),
        tenant_id: job.tenant_id.to_string(),
        channel: job.channel.to_proto().into(),
        recipient: Some(v1::Recipient {
            name: job.recipient_name.clone(),
            phone_e164: job.recipient_phone.expose().to_owned(),
            locale: job.recipient_locale.clone(),
            time_zone: job.recipient_time_zone.clone(),
            first_name: job.recipient_first_name.clone(),
            last_name: job.recipient_last_name.clone(),
        }),
        business_name: job.business_name.clone(),
        appointment_start: Some(to_timestamp(job.appointment_start)),
        location: job.location.clone(),
        due_at: Some(to_timestamp(job.due_at)),
        attempt: job.attempt,
        spoken_when: String::new(),
        participant: job.participant.clone(),
        business_time_zone: job.business_time_zone.clone(),
        kind: job.kind.to_proto().into(),
        template: job.template.clone(),
        metadata: job
            .metadata
            .iter()
            .map(|(key, value)| (key.clone(), value.clone()))
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use attend_events::Event;
    use attend_runtime::Secret;
    use uuid::Uuid;

    use super::*;
    use crate::jobs::{Channel, JobStatus, ReminderKind};

    fn job(channel: Channel) -> Job {
        let now = DateTime::from_timestamp(1_800_000_000, 0).unwrap_or_else(Utc::now);
        Job {
            reminder_id: Uuid::now_v7(),
            appointment_id: Uuid::now_v7(),
            tenant_id: Uuid::now_v7(),
            channel,
            due_at: now,
            status: JobStatus::Dispatched,
            attempt: 1,
            recipient_name: "Ada".to_owned(),
            recipient_phone: Secret::new("+15550100001"),
            recipient_locale: "en".to_owned(),
            recipient_time_zone: "Europe/Berlin".to_owned(),
            business_name: "Clinic".to_owned(),
            appointment_start: now + chrono::Duration::hours(24),
            location: "Main St 1".to_owned(),
            participant: "Dr. Who".to_owned(),
            business_time_zone: "Europe/Berlin".to_owned(),
            kind: ReminderKind::FollowUp,
            template: "Thanks {first_name}, see you in {metadata.room}".to_owned(),
            fallback_channel: None,
            fallback_template: String::new(),
            fell_back_from: None,
            metadata: [("room".to_owned(), "B12".to_owned())]
                .into_iter()
                .collect(),
            recipient_first_name: "Ada".to_owned(),
            recipient_last_name: "Lovelace".to_owned(),
            traceparent: None,
            cancel_reason: None,
            outcome: None,
            created_at: now,
            updated_at: now,
            dispatched_at: Some(now),
            completed_at: None,
        }
    }

    #[test]
    fn the_routing_key_follows_the_channel() {
        assert_eq!(
            reminder_due(&job(Channel::Voice)).routing_key(),
            "reminder.due.voice"
        );
        assert_eq!(
            reminder_due(&job(Channel::Sms)).routing_key(),
            "reminder.due.sms"
        );
    }

    #[test]
    fn the_event_carries_recipient_and_appointment() {
        let job = job(Channel::Voice);
        let event = reminder_due(&job);
        assert_eq!(event.reminder_id, job.reminder_id.to_string());
        assert_eq!(
            event.recipient.as_ref().map(|r| r.phone_e164.as_str()),
            Some("+15550100001")
        );
        assert_eq!(
            event.appointment_start,
            Some(to_timestamp(job.appointment_start))
        );
        assert_eq!(event.attempt, 1);
        assert_eq!(event.kind(), v1::ReminderKind::FollowUp);
        assert_eq!(event.template, job.template);
        assert_eq!(event.metadata.get("room").map(String::as_str), Some("B12"));
        let recipient = event.recipient.unwrap_or_default();
        assert_eq!(
            (recipient.first_name.as_str(), recipient.last_name.as_str()),
            ("Ada", "Lovelace")
        );
    }
}
