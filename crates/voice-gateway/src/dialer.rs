//! The dialer: claims queued attempts, records them as `placing` (committed) before it asks
//! the carrier for the call, then records what the carrier said. A request whose outcome is
//! unknown is never sent again; a final failure is an outcome, never silence.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use attend_runtime::db::DbPool;
use chrono::Utc;
use diesel::QueryResult;
use diesel_async::{AsyncConnection, AsyncPgConnection};
use futures_util::StreamExt;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use crate::attempts::{self, AttemptStatus, CallAttempt, Outcome};
use crate::carrier::{CallRequest, PlaceCallError, PlacedCall, VoiceCarrier};
use crate::config::DialerConfig;
use crate::{mask, settings};

/// The longest pause between two tries of one call.
const MAX_BACKOFF: Duration = Duration::from_secs(600);
/// Overdue attempts settled per transaction.
const OVERDUE_BATCH: i64 = 100;
/// The detail of an attempt whose make-call request may or may not have placed a call.
pub const OUTCOME_UNKNOWN_DETAIL: &str = "carrier outcome unknown";

/// Places the calls of queued attempts.
pub struct Dialer {
    pool: DbPool,
    carrier: Arc<dyn VoiceCarrier>,
    config: DialerConfig,
    public_url: String,
    wake: Arc<Notify>,
}

impl Dialer {
    /// Returns a dialer placing calls through `carrier`; `wake` makes it look for work at once.
    pub fn new(
        pool: DbPool,
        carrier: Arc<dyn VoiceCarrier>,
        config: DialerConfig,
        public_url: String,
        wake: Arc<Notify>,
    ) -> Self {
        Self {
            pool,
            carrier,
            config,
            public_url,
            wake,
        }
    }

    /// Dials until `cancel` fires: whenever woken, and at least every poll interval. A batch
    /// in flight is finished (each request is bounded by its timeout) so its results are
    /// recorded.
    pub async fn run(self, cancel: CancellationToken) -> anyhow::Result<()> {
        tracing::info!(carrier = self.carrier.name(), "dialer started");
        while !cancel.is_cancelled() {
            if let Err(error) = self.settle_overdue().await {
                tracing::warn!(
                    error.message = %error,
                    error.cause_chain = ?error,
                    "failed to settle overdue attempts"
                );
            }
            if let Err(error) = self.dial_due(&cancel).await {
                tracing::warn!(
                    error.message = %error,
                    error.cause_chain = ?error,
                    "dialing failed, retrying"
                );
            }
            tokio::select! {
                () = cancel.cancelled() => break,
                () = self.wake.notified() => {},
                () = tokio::time::sleep(self.config.poll_interval) => {},
            }
        }
        Ok(())
    }

    /// Claims and places batches of due attempts until none is left.
    async fn dial_due(&self, cancel: &CancellationToken) -> anyhow::Result<()> {
        let batch_size = i64::try_from(self.config.concurrency).unwrap_or(8);
        while !cancel.is_cancelled() {
            let give_up_at =
                Utc::now() + self.config.outcome_unknown_grace + self.config.retry_base;
            let mut connection = self.pool.get().await.context("no database connection")?;
            // Committed before any request goes out: from here on the attempt exists, and a
            // crash leaves a `placing` row that is settled as unknown, never dialed again.
            let claimed = connection
                .transaction::<_, anyhow::Error, _>(async |connection| {
                    let claimed = attempts::claim_due(connection, batch_size, give_up_at).await?;
                    Ok(hold_outside_window(connection, claimed).await?)
                })
                .await
                .context("failed to claim due attempts")?;
            drop(connection);
            let Some(claimed) = claimed else {
                return Ok(());
            };
            futures_util::stream::iter(claimed)
                .for_each_concurrent(self.config.concurrency, |attempt| self.place(attempt))
                .await;
        }
        Ok(())
    }

    async fn place(&self, attempt: CallAttempt) {
        let span = tracing::info_span!(
            "place_call",
            attempt_id = %attempt.id,
            reminder_id = %attempt.reminder_id,
            to = %mask::number(&attempt.to_number),
            try_number = attempt.tries,
        );
        if let Some(traceparent) = &attempt.traceparent {
            attend_runtime::telemetry::set_remote_parent(&span, traceparent);
        }
        async {
            let request = CallRequest {
                attempt_id: attempt.id,
                to: attempt.to_number.clone(),
                answer_url: format!("{}/voice/answer?attempt={}", self.public_url, attempt.id),
                hangup_url: format!("{}/voice/hangup?attempt={}", self.public_url, attempt.id),
                machine_detection_url: format!(
                    "{}/voice/machine?attempt={}",
                    self.public_url, attempt.id
                ),
            };
            let result = self.carrier.place_call(&request).await;
            if let Err(error) = self.record(&attempt, result).await {
                // The row stays `placing` until its deadline and is then settled as unknown.
                tracing::error!(
                    error.message = %error,
                    error.cause_chain = ?error,
                    "failed to record the carrier's answer"
                );
            }
        }
        .instrument(span)
        .await;
    }

    /// Records what the carrier answered, unless a webhook moved the attempt on meanwhile
    /// (the carrier may call back before its make-call answer arrives).
    async fn record(
        &self,
        attempt: &CallAttempt,
        result: Result<PlacedCall, PlaceCallError>,
    ) -> anyhow::Result<()> {
        let mut connection = self.pool.get().await.context("no database connection")?;
        let config = &self.config;
        connection
            .transaction::<_, anyhow::Error, _>(async |connection| {
                let Some(current) = attempts::lock(connection, attempt.id).await? else {
                    return Ok(());
                };
                Ok(apply_answer(connection, config, &current, result).await?)
            })
            .await
    }

    /// Settles attempts that waited on the carrier past their deadline as `failed`.
    async fn settle_overdue(&self) -> anyhow::Result<()> {
        let mut connection = self.pool.get().await.context("no database connection")?;
        loop {
            let settled = connection
                .transaction::<_, anyhow::Error, _>(async |connection| {
                    let overdue = attempts::lock_overdue(connection, OVERDUE_BATCH).await?;
                    for attempt in &overdue {
                        let detail = overdue_detail(attempt.status);
                        tracing::warn!(
                            attempt_id = %attempt.id,
                            status = attempt.status.as_str(),
                            detail,
                            "attempt overdue, reporting failed"
                        );
                        fail(connection, attempt, detail).await?;
                    }
                    Ok(overdue.len())
                })
                .await
                .context("failed to settle overdue attempts")?;
            if settled < usize::try_from(OVERDUE_BATCH).unwrap_or(usize::MAX) {
                return Ok(());
            }
        }
    }
}

/// Applies the carrier's answer to the locked attempt `current`.
async fn apply_answer(
    connection: &mut AsyncPgConnection,
    config: &DialerConfig,
    current: &CallAttempt,
    result: Result<PlacedCall, PlaceCallError>,
) -> QueryResult<()> {
    let still_placing = current.status == AttemptStatus::Placing;
    let error = match result {
        Ok(placed) => {
            if let Some(call_uuid) = &placed.provider_ref {
                attempts::record_call_uuid(connection, current.id, call_uuid).await?;
            }
            if still_placing {
                let watchdog = Utc::now() + config.call_watchdog;
                attempts::set_status(
                    connection,
                    current.id,
                    AttemptStatus::Placed,
                    watchdog,
                    None,
                )
                .await?;
            }
            let call_uuid = placed.provider_ref.as_deref().unwrap_or_default();
            tracing::info!(call_uuid, "call placed");
            return Ok(());
        }
        Err(error) => error,
    };
    if !still_placing {
        let status = current.status.as_str();
        tracing::warn!(
            error.message = %error,
            status,
            "carrier answer after a webhook, keeping the state"
        );
        return Ok(());
    }
    match error {
        PlaceCallError::Retryable(detail) if current.tries < config.max_tries => {
            let delay = backoff(config.retry_base, current.tries);
            let next_try = Utc::now() + delay;
            let status = AttemptStatus::Queued;
            attempts::set_status(connection, current.id, status, next_try, Some(&detail)).await?;
            let retry_in_ms = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX);
            tracing::warn!(detail, retry_in_ms, "carrier unavailable, will try again");
        }
        PlaceCallError::Retryable(detail) => {
            let tries = current.tries;
            fail(
                connection,
                current,
                &format!("carrier unavailable after {tries} tries: {detail}"),
            )
            .await?;
        }
        PlaceCallError::Refused(detail) => {
            fail(
                connection,
                current,
                &format!("carrier refused the call: {detail}"),
            )
            .await?;
        }
        PlaceCallError::OutcomeUnknown(detail) => {
            // Never sent again: the call may exist. A webhook for this attempt moves it on;
            // otherwise the deadline settles it as failed.
            let deadline = Utc::now() + config.outcome_unknown_grace;
            let status = AttemptStatus::Unknown;
            attempts::set_status(connection, current.id, status, deadline, Some(&detail)).await?;
            tracing::warn!(detail, "carrier outcome unknown, waiting for a webhook");
        }
    }
    Ok(())
}

/// Drops claimed attempts whose number opted out meanwhile, and checks the rest against their
/// tenant's calling window in the recipient's zone
/// (defense in depth: the scheduler checks too). One outside it goes back to `queued` until
/// the next opening, unless its appointment starts before that opening: then it is settled
/// `expired`. Returns the attempts to dial now, or `None` when nothing was claimed.
async fn hold_outside_window(
    connection: &mut AsyncPgConnection,
    claimed: Vec<CallAttempt>,
) -> QueryResult<Option<Vec<CallAttempt>>> {
    if claimed.is_empty() {
        return Ok(None);
    }
    let now = Utc::now();
    let mut to_dial = Vec::with_capacity(claimed.len());
    for attempt in claimed {
        // Queued before the number pressed 8 on another call: not called either.
        if attempts::is_opted_out(connection, attempt.tenant_id, &attempt.to_number).await? {
            let detail = "recipient opted out of reminder calls earlier";
            attempts::drop_claimed(connection, attempt.id, detail).await?;
            attempts::settle(connection, &attempt, Outcome::OptedOut, detail, None).await?;
            tracing::info!(attempt_id = %attempt.id, "recipient opted out, not calling");
            continue;
        }
        let window = settings::load(connection, attempt.tenant_id).await?.window;
        let Some(opening) = window.opening_after(now, &attempt.time_zone) else {
            to_dial.push(attempt);
            continue;
        };
        if attempt
            .appointment_start
            .is_some_and(|start| start <= opening)
        {
            let detail = "outside the calling window until the appointment";
            attempts::drop_claimed(connection, attempt.id, detail).await?;
            attempts::settle(
                connection,
                &attempt,
                Outcome::Expired,
                "the calling window does not open again before the appointment",
                None,
            )
            .await?;
            tracing::info!(attempt_id = %attempt.id, "outside the calling window, expired");
        } else {
            attempts::requeue_uncounted(connection, attempt.id, opening).await?;
            tracing::info!(attempt_id = %attempt.id, %opening, "outside the calling window, waiting");
        }
    }
    Ok(Some(to_dial))
}

/// Returns why an attempt overdue in `status` failed.
fn overdue_detail(status: AttemptStatus) -> &'static str {
    match status {
        AttemptStatus::Placed | AttemptStatus::InProgress => "no hangup callback from the carrier",
        _ => OUTCOME_UNKNOWN_DETAIL,
    }
}

/// Marks the locked `attempt` failed and reports it, in the caller's transaction.
async fn fail(
    connection: &mut AsyncPgConnection,
    attempt: &CallAttempt,
    detail: &str,
) -> diesel::QueryResult<()> {
    attempts::set_status(
        connection,
        attempt.id,
        AttemptStatus::Failed,
        Utc::now(),
        Some(detail),
    )
    .await?;
    attempts::settle(
        connection,
        attempt,
        Outcome::Failed,
        detail,
        attempt.call_uuid.as_deref(),
    )
    .await?;
    tracing::warn!(attempt_id = %attempt.id, detail, "call attempt failed");
    Ok(())
}

fn backoff(base: Duration, tries: u32) -> Duration {
    attend_runtime::backoff::jittered(base, tries, MAX_BACKOFF)
}
