//! The dialer: claims queued attempts, records them as `placing` (committed) before it asks
//! the carrier for the call, then records what the carrier said. A request whose outcome is
//! unknown is never sent again; a final failure is an outcome, never silence.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use attend_runtime::db::DbPool;
use chrono::{DateTime, Utc};
use diesel::QueryResult;
use diesel::prelude::*;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use tokio::sync::{Notify, Semaphore};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::Instrument;
use uuid::Uuid;

use crate::attempts::{self, AttemptStatus, CallAttempt, Outcome};
use crate::batches::{self, CallResult};
use crate::carrier::{CallRequest, PlaceCallError, PlacedCall, VoiceCarrier};
use crate::config::{CarrierLimits, DialerConfig};
use crate::db::schema::dial_pacer;
use crate::mask;
use crate::settings::{self, CallingWindow};

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

    /// Dials until `cancel` fires: whenever woken, and at least every poll interval, never
    /// faster than the carrier's pace and caps allow. Requests in flight are finished (each is
    /// bounded by its timeout) so their results are recorded.
    pub async fn run(self, cancel: CancellationToken) -> anyhow::Result<()> {
        tracing::info!(carrier = self.carrier.name(), limits = ?self.config.limits, "dialer started");
        let dialer = Arc::new(self);
        let requests = Arc::new(Semaphore::new(dialer.config.concurrency.max(1)));
        let in_flight = TaskTracker::new();
        let mut overdue_checked: Option<tokio::time::Instant> = None;
        while !cancel.is_cancelled() {
            if overdue_checked.is_none_or(|at| at.elapsed() >= dialer.config.poll_interval) {
                overdue_checked = Some(tokio::time::Instant::now());
                if let Err(error) = dialer.settle_overdue().await {
                    tracing::warn!(
                        error.message = %error,
                        error.cause_chain = ?error,
                        "failed to settle overdue attempts"
                    );
                }
            }
            // One free request slot at least before claiming: a claimed call is sent at once.
            let first = tokio::select! {
                () = cancel.cancelled() => break,
                permit = requests.clone().acquire_owned() => permit?,
            };
            let free = requests.available_permits() + 1;
            let round = match dialer.claim(free).await {
                Ok(round) => round,
                Err(error) => {
                    tracing::warn!(
                        error.message = %error,
                        error.cause_chain = ?error,
                        "dialing failed, retrying"
                    );
                    Round::Idle
                }
            };
            let pause = match round {
                Round::Claimed(claimed) => {
                    let mut permit = Some(first);
                    for attempt in claimed {
                        let permit = match permit.take() {
                            Some(permit) => permit,
                            None => requests.clone().acquire_owned().await?,
                        };
                        let dialer = dialer.clone();
                        in_flight.spawn(async move {
                            dialer.place(attempt).await;
                            drop(permit);
                        });
                    }
                    continue;
                }
                Round::Paced(wait) => {
                    drop(first);
                    tokio::select! {
                        () = cancel.cancelled() => break,
                        () = tokio::time::sleep(wait) => {},
                    }
                    continue;
                }
                Round::Idle => {
                    drop(first);
                    dialer.config.poll_interval
                }
            };
            tokio::select! {
                () = cancel.cancelled() => break,
                () = dialer.wake.notified() => {},
                () = tokio::time::sleep(pause) => {},
            }
        }
        in_flight.close();
        in_flight.wait().await;
        Ok(())
    }

    /// Claims what may be dialed now, at most `limit`: reminders first, then batch calls
    /// shared fairly across tenants, within the carrier's pace and line caps. Everything is
    /// decided under the pacer's row lock, so replicas together keep the limits, and committed
    /// as `placing` before any request goes out.
    async fn claim(&self, limit: usize) -> anyhow::Result<Round> {
        let config = self.config.clone();
        let mut connection = self.pool.get().await.context("no database connection")?;
        // Committed before any request goes out: from here on the attempt exists, and a
        // crash leaves a `placing` row that is settled as unknown, never dialed again.
        let round = connection
            .transaction::<_, anyhow::Error, _>(async |connection| {
                let (arrival, now): (DateTime<Utc>, DateTime<Utc>) = dial_pacer::table
                    .find(1_i16)
                    .for_update()
                    .select((
                        dial_pacer::theoretical_arrival,
                        diesel::dsl::sql::<diesel::sql_types::Timestamptz>("now()"),
                    ))
                    .first(connection)
                    .await
                    .context("the dial pacer row is missing")?;
                let pace = Pace::new(&config.limits, limit);
                let allowed = match pace.allowance(arrival, now) {
                    Allowance::Wait(wait) => return Ok(Round::Paced(wait)),
                    Allowance::Now(allowed) => allowed,
                };
                let lines = attempts::count_lines_in_use(connection).await?;
                let free_lines = i64::from(config.limits.max_lines) - lines;
                let wanted = i64::try_from(allowed).unwrap_or(i64::MAX).min(free_lines);
                if wanted <= 0 {
                    return Ok(Round::Idle);
                }
                let give_up_at = now + config.outcome_unknown_grace + config.retry_base;
                let mut claimed = attempts::claim_due(connection, wanted, give_up_at).await?;
                let claimed_reminders = i64::try_from(claimed.len()).unwrap_or(0);
                let batch_lines = free_lines
                    - i64::from(config.limits.reserved_for_reminders)
                    - claimed_reminders;
                let batch_wanted = (wanted - claimed_reminders).min(batch_lines);
                claimed.extend(
                    attempts::claim_batch_calls(
                        connection,
                        batch_wanted,
                        i64::from(config.limits.batch_lines_per_tenant),
                        give_up_at,
                    )
                    .await?,
                );
                if claimed.is_empty() {
                    return Ok(Round::Idle);
                }
                let next_arrival = pace.after(arrival, now, claimed.len());
                diesel::update(dial_pacer::table.find(1_i16))
                    .set(dial_pacer::theoretical_arrival.eq(next_arrival))
                    .execute(connection)
                    .await?;
                let to_dial = hold_outside_window(connection, claimed).await?;
                Ok(Round::Claimed(to_dial.unwrap_or_default()))
            })
            .await
            .context("failed to claim due attempts")?;
        Ok(round)
    }

    async fn place(&self, attempt: CallAttempt) {
        let span = tracing::info_span!(
            "place_call",
            attempt_id = %attempt.id,
            reminder_id = ?attempt.reminder_id,
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
        let error = match result {
            Ok(placed) => {
                // The common case, in one statement: see `attempts::record_placed`.
                let watchdog = Utc::now() + config.call_watchdog;
                let call_uuid = placed.provider_ref.as_deref();
                attempts::record_placed(&mut connection, attempt.id, call_uuid, watchdog).await?;
                tracing::info!(call_uuid = call_uuid.unwrap_or_default(), "call placed");
                return Ok(());
            }
            Err(error) => error,
        };
        connection
            .transaction::<_, anyhow::Error, _>(async |connection| {
                let Some(current) = attempts::lock(connection, attempt.id).await? else {
                    return Ok(());
                };
                Ok(apply_failure(connection, config, &current, error).await?)
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

/// What one claim round found.
enum Round {
    /// Calls to place now.
    Claimed(Vec<CallAttempt>),
    /// The carrier's pace allows the next request after this pause.
    Paced(Duration),
    /// Nothing to dial, or no line free: wait for a wake-up.
    Idle,
}

/// The carrier's pace as a generic cell rate (GCRA): requests `interval` apart on average,
/// with bursts of up to `burst` requests.
#[derive(Debug, Clone, Copy)]
struct Pace {
    interval: chrono::TimeDelta,
    burst: u32,
}

/// What the pace allows now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Allowance {
    /// This many requests (at least 1).
    Now(usize),
    /// None before this pause.
    Wait(Duration),
}

impl Pace {
    /// A burst is a fifth of a second's requests (at least one, at most `limit`): a carrier
    /// that counts per second never sees more than its limit.
    fn new(limits: &CarrierLimits, limit: usize) -> Self {
        let per_second = limits.calls_per_second.max(1);
        let limit = u32::try_from(limit).unwrap_or(u32::MAX).max(1);
        Self {
            interval: chrono::TimeDelta::microseconds(1_000_000 / i64::from(per_second)),
            burst: (per_second / 5).clamp(1, limit),
        }
    }

    fn tolerance(&self) -> chrono::TimeDelta {
        self.interval * i32::try_from(self.burst - 1).unwrap_or(0)
    }

    /// Returns how many requests may go at `now` when the next is due at `arrival`.
    fn allowance(&self, arrival: DateTime<Utc>, now: DateTime<Utc>) -> Allowance {
        let start = arrival.max(now);
        let earliest = start - self.tolerance();
        if earliest > now {
            return Allowance::Wait((earliest - now).to_std().unwrap_or(Duration::ZERO));
        }
        let slack = now + self.tolerance() - start;
        let allowed = slack.num_microseconds().unwrap_or(0)
            / self.interval.num_microseconds().unwrap_or(1).max(1)
            + 1;
        Allowance::Now(
            usize::try_from(allowed)
                .unwrap_or(1)
                .min(self.burst as usize),
        )
    }

    /// Returns when the request after `sent` more ones is due.
    fn after(&self, arrival: DateTime<Utc>, now: DateTime<Utc>, sent: usize) -> DateTime<Utc> {
        arrival.max(now) + self.interval * i32::try_from(sent).unwrap_or(i32::MAX)
    }
}

/// Applies the carrier's refusal or failure to the locked attempt `current`.
async fn apply_failure(
    connection: &mut AsyncPgConnection,
    config: &DialerConfig,
    current: &CallAttempt,
    error: PlaceCallError,
) -> QueryResult<()> {
    let still_placing = current.status == AttemptStatus::Placing;
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
    // One lookup per round, not per call: a round is up to a fifth of a second's calls.
    let opted_out = attempts::opted_out_among(connection, &claimed).await?;
    let mut windows: HashMap<Uuid, CallingWindow> = HashMap::new();
    let mut to_dial = Vec::with_capacity(claimed.len());
    for attempt in claimed {
        // Queued before the number pressed 8 on another call: not called either.
        if opted_out.contains(&(attempt.tenant_id, attempt.to_number.clone())) {
            if attempt.is_batch_call() {
                attempts::drop_claimed(connection, attempt.id, OPTED_OUT_DETAIL).await?;
                // Consent covers every automated call of the tenant (FCC 24-18), not only
                // reminders: the batch reports the number as not called.
                batches::settle_call(
                    connection,
                    attempt.id,
                    CallResult::Failed,
                    OPTED_OUT_DETAIL,
                    None,
                )
                .await?;
            } else {
                let detail = "recipient opted out of reminder calls earlier";
                attempts::drop_claimed(connection, attempt.id, detail).await?;
                attempts::settle(connection, &attempt, Outcome::OptedOut, detail, None).await?;
            }
            tracing::info!(attempt_id = %attempt.id, "recipient opted out, not calling");
            continue;
        }
        if attempt.is_batch_call() {
            // A batch names no recipient zone: the integrator chooses when to send it.
            to_dial.push(attempt);
            continue;
        }
        let window = match windows.get(&attempt.tenant_id) {
            Some(window) => *window,
            None => {
                let window = settings::load(connection, attempt.tenant_id).await?.window;
                windows.insert(attempt.tenant_id, window);
                window
            }
        };
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

/// Why a number that opted out is not called.
const OPTED_OUT_DETAIL: &str = "recipient opted out of calls from this tenant earlier";

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
    if attempt.is_batch_call() {
        batches::settle_call(connection, attempt.id, CallResult::Failed, detail, None).await?;
    } else {
        attempts::settle(
            connection,
            attempt,
            Outcome::Failed,
            detail,
            attempt.call_uuid.as_deref(),
        )
        .await?;
    }
    tracing::warn!(attempt_id = %attempt.id, detail, "call attempt failed");
    Ok(())
}

fn backoff(base: Duration, tries: u32) -> Duration {
    attend_runtime::backoff::jittered(base, tries, MAX_BACKOFF)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(calls_per_second: u32) -> CarrierLimits {
        CarrierLimits {
            calls_per_second,
            max_lines: 50,
            batch_lines_per_tenant: 10,
            reserved_for_reminders: 5,
        }
    }

    #[test]
    fn the_pace_allows_a_burst_then_one_request_per_interval() {
        let now: DateTime<Utc> = "2026-11-25T10:00:00Z".parse().unwrap();
        let pace = Pace::new(&limits(10), 8);
        // 10 per second: 100 ms apart, bursts of 2.
        assert_eq!(pace.allowance(now, now), Allowance::Now(2));
        let next = pace.after(now, now, 2);
        assert_eq!(next, now + chrono::TimeDelta::milliseconds(200));
        assert_eq!(
            pace.allowance(next, now),
            Allowance::Wait(Duration::from_millis(100))
        );
        let later = now + chrono::TimeDelta::milliseconds(100);
        assert_eq!(pace.allowance(next, later), Allowance::Now(1));
        // An idle pacer does not bank more than one burst.
        let much_later = now + chrono::TimeDelta::seconds(60);
        assert_eq!(pace.allowance(next, much_later), Allowance::Now(2));
    }

    #[test]
    fn any_second_holds_at_most_the_rate_plus_one_burst() {
        let pace = Pace::new(&limits(50), 64);
        let start: DateTime<Utc> = "2026-11-25T10:00:00Z".parse().unwrap();
        let mut arrival = start;
        let mut now = start;
        let mut sent = Vec::new();
        while now < start + chrono::TimeDelta::seconds(3) {
            match pace.allowance(arrival, now) {
                Allowance::Now(allowed) => {
                    sent.extend(std::iter::repeat_n(now, allowed));
                    arrival = pace.after(arrival, now, allowed);
                }
                Allowance::Wait(wait) => now += chrono::TimeDelta::from_std(wait).unwrap(),
            }
        }
        for (index, first) in sent.iter().enumerate() {
            let within = sent[index..]
                .iter()
                .take_while(|at| **at < *first + chrono::TimeDelta::seconds(1))
                .count();
            assert!(within <= 50 + 10, "{within} requests within one second");
        }
        assert!(sent.len() >= 150, "only {} requests in 3 s", sent.len());
    }
}
