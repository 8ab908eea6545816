//! Each tenant's reminder policy (calling window, voice retries), kept from
//! `tenant.settings_changed`, and the time arithmetic that applies it in the recipient's zone.
//!
//! The window is evaluated in the recipient's IANA zone at send time, not when the reminder
//! was planned (carriers.md §1.1), for both channels: the TCPA hours cover automated texts as
//! the industry applies them, not only calls.

use std::collections::HashMap;
use std::time::Duration;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use diesel::prelude::*;
use diesel::upsert::excluded;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

use crate::db::schema::tenant_policies;
use crate::jobs::Outcome;

pub use attend_runtime::calling_window::CallingWindow;

/// Returns the recipient's zone, or UTC when the stored name is not an IANA zone (booking-
/// service validates zones, so this is a legacy or broken row; UTC is logged by the caller).
pub fn zone_of(name: &str) -> Option<Tz> {
    name.parse::<Tz>().ok()
}

/// How undelivered voice reminders are tried again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts after the first.
    pub max_retries: u32,
    /// Pause between an attempt's outcome and the next attempt (before the window applies).
    pub interval: Duration,
    /// Delivery outcomes that earn another attempt.
    pub retry_on: Vec<Outcome>,
}

impl Default for RetryPolicy {
    /// Returns two retries, 15 minutes apart, on busy and no answer (templates.md defaults).
    fn default() -> Self {
        Self {
            max_retries: 2,
            interval: Duration::from_secs(15 * 60),
            retry_on: vec![Outcome::Busy, Outcome::NoAnswer],
        }
    }
}

impl RetryPolicy {
    /// Returns whether attempt `attempt` that ended with `outcome` earns another one.
    pub fn retries(&self, attempt: u32, outcome: Outcome) -> bool {
        self.retry_on.contains(&outcome) && attempt <= self.max_retries
    }
}

/// A tenant's reminder policy.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TenantPolicy {
    /// When reminders may reach people.
    pub window: CallingWindow,
    /// How voice reminders are retried.
    pub voice_retry: RetryPolicy,
}

/// What the dispatcher does with a due job now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Timing {
    /// Send it.
    Now,
    /// Outside the window: wait for its next opening, which is before the appointment.
    Defer(DateTime<Utc>),
    /// The appointment starts before the window opens again (or has started): never send.
    Expire,
}

/// Returns what to do at `now` with a job of an appointment starting at `appointment_start`.
pub fn dispatch_timing(
    window: CallingWindow,
    zone: Tz,
    now: DateTime<Utc>,
    appointment_start: DateTime<Utc>,
) -> Timing {
    if appointment_start <= now {
        return Timing::Expire;
    }
    let opening = window.next_open(zone, now);
    if opening <= now {
        Timing::Now
    } else if opening < appointment_start {
        Timing::Defer(opening)
    } else {
        Timing::Expire
    }
}

/// How late a follow-up or no-show message may still go out: one claimed more than this after
/// its due time (the scheduler was down, or its queue backed up) expires unsent. A day keeps
/// "thank you for your visit" from arriving a week later, while a message deferred overnight
/// by the calling window (its due time then moves to the opening) always goes out.
pub const AFTER_START_MAX_LATENESS: chrono::TimeDelta = chrono::TimeDelta::hours(24);

/// Returns what to do at `now` with a follow-up or no-show message due at `due_at`. Unlike a
/// reminder it is meant for after the appointment's start, so the start does not expire it;
/// the calling window still defers it (without an upper bound), and one more than
/// [`AFTER_START_MAX_LATENESS`] late expires.
pub fn after_start_timing(
    window: CallingWindow,
    zone: Tz,
    now: DateTime<Utc>,
    due_at: DateTime<Utc>,
) -> Timing {
    if now - due_at > AFTER_START_MAX_LATENESS {
        return Timing::Expire;
    }
    let opening = window.next_open(zone, now);
    if opening <= now {
        Timing::Now
    } else {
        Timing::Defer(opening)
    }
}

/// Returns when the next attempt may go out, no earlier than `earliest` and inside the window,
/// or `None` when that is not before the appointment.
pub fn retry_due_at(
    window: CallingWindow,
    zone: Tz,
    earliest: DateTime<Utc>,
    appointment_start: DateTime<Utc>,
) -> Option<DateTime<Utc>> {
    let opening = window.next_open(zone, earliest);
    (opening < appointment_start).then_some(opening)
}

#[derive(Debug, Queryable, Selectable)]
#[diesel(table_name = tenant_policies, check_for_backend(diesel::pg::Pg))]
struct PolicyRow {
    tenant_id: Uuid,
    window_start_minute: i32,
    window_end_minute: i32,
    voice_max_retries: i32,
    voice_retry_interval_seconds: i32,
    voice_retry_on: Vec<String>,
}

impl PolicyRow {
    /// Returns the policy; a value the table's CHECKs let through but the code cannot use
    /// falls back to its default rather than stopping dispatch for the tenant.
    fn into_policy(self) -> (Uuid, TenantPolicy) {
        let defaults = TenantPolicy::default();
        let window = u32::try_from(self.window_start_minute)
            .ok()
            .zip(u32::try_from(self.window_end_minute).ok())
            .and_then(|(start, end)| CallingWindow::new(start, end))
            .unwrap_or(defaults.window);
        let voice_retry = RetryPolicy {
            max_retries: u32::try_from(self.voice_max_retries)
                .unwrap_or(defaults.voice_retry.max_retries),
            interval: u64::try_from(self.voice_retry_interval_seconds)
                .map(Duration::from_secs)
                .unwrap_or(defaults.voice_retry.interval),
            retry_on: self
                .voice_retry_on
                .iter()
                .filter_map(|name| Outcome::parse(name))
                .collect(),
        };
        (
            self.tenant_id,
            TenantPolicy {
                window,
                voice_retry,
            },
        )
    }
}

/// Returns the stored policies of `tenant_ids`; a tenant missing from the map has the defaults.
#[tracing::instrument(skip_all, fields(tenants = tenant_ids.len()))]
pub async fn policies_of(
    connection: &mut AsyncPgConnection,
    tenant_ids: &[Uuid],
) -> QueryResult<HashMap<Uuid, TenantPolicy>> {
    if tenant_ids.is_empty() {
        return Ok(HashMap::new());
    }
    let rows: Vec<PolicyRow> = tenant_policies::table
        .filter(tenant_policies::tenant_id.eq_any(tenant_ids))
        .select(PolicyRow::as_select())
        .load(connection)
        .await?;
    Ok(rows.into_iter().map(PolicyRow::into_policy).collect())
}

/// Returns the tenant's policy, the defaults when it never saved settings.
#[tracing::instrument(skip_all, fields(tenant_id = %tenant_id))]
pub async fn policy_of(
    connection: &mut AsyncPgConnection,
    tenant_id: Uuid,
) -> QueryResult<TenantPolicy> {
    let mut policies = policies_of(connection, &[tenant_id]).await?;
    Ok(policies.remove(&tenant_id).unwrap_or_default())
}

/// Returns the version of the tenant's stored policy; `None` when it has the defaults.
#[tracing::instrument(skip_all, fields(tenant_id = %tenant_id))]
pub async fn stored_version(
    connection: &mut AsyncPgConnection,
    tenant_id: Uuid,
) -> QueryResult<Option<i64>> {
    tenant_policies::table
        .find(tenant_id)
        .select(tenant_policies::version)
        .first(connection)
        .await
        .optional()
}

/// Stores `policy` as version `version` of the tenant's policy unless a version at least as
/// high is stored already. Returns whether it was stored.
#[tracing::instrument(skip_all, fields(tenant_id = %tenant_id, version))]
pub async fn store_if_newer(
    connection: &mut AsyncPgConnection,
    tenant_id: Uuid,
    version: i64,
    policy: &TenantPolicy,
    changed_at: Option<DateTime<Utc>>,
) -> QueryResult<bool> {
    let retry = &policy.voice_retry;
    let retry_on: Vec<&str> = retry
        .retry_on
        .iter()
        .map(|outcome| outcome.as_str())
        .collect();
    let to_i32 = |value: u64| i32::try_from(value).unwrap_or(i32::MAX);
    let upsert = diesel::insert_into(tenant_policies::table)
        .values((
            tenant_policies::tenant_id.eq(tenant_id),
            tenant_policies::version.eq(version),
            tenant_policies::window_start_minute.eq(to_i32(policy.window.start_minute().into())),
            tenant_policies::window_end_minute.eq(to_i32(policy.window.end_minute().into())),
            tenant_policies::voice_max_retries.eq(to_i32(retry.max_retries.into())),
            tenant_policies::voice_retry_interval_seconds.eq(to_i32(retry.interval.as_secs())),
            tenant_policies::voice_retry_on.eq(retry_on),
            tenant_policies::changed_at.eq(changed_at),
        ))
        .on_conflict(tenant_policies::tenant_id)
        .do_update()
        .set((
            tenant_policies::version.eq(excluded(tenant_policies::version)),
            tenant_policies::window_start_minute.eq(excluded(tenant_policies::window_start_minute)),
            tenant_policies::window_end_minute.eq(excluded(tenant_policies::window_end_minute)),
            tenant_policies::voice_max_retries.eq(excluded(tenant_policies::voice_max_retries)),
            tenant_policies::voice_retry_interval_seconds
                .eq(excluded(tenant_policies::voice_retry_interval_seconds)),
            tenant_policies::voice_retry_on.eq(excluded(tenant_policies::voice_retry_on)),
            tenant_policies::changed_at.eq(excluded(tenant_policies::changed_at)),
            tenant_policies::updated_at.eq(diesel::dsl::now),
        ));
    // The upsert's `filter` (its `WHERE`) is not `QueryDsl::filter`, hence the qualified call.
    let only_newer = tenant_policies::version.lt(excluded(tenant_policies::version));
    let stored = diesel::query_dsl::methods::FilterDsl::filter(upsert, only_newer)
        .execute(connection)
        .await?;
    Ok(stored > 0)
}

#[cfg(test)]
mod tests {
    use chrono_tz::America::{Los_Angeles, New_York};
    use chrono_tz::Europe::Berlin;

    use super::*;

    fn utc(text: &str) -> DateTime<Utc> {
        text.parse().unwrap()
    }

    #[test]
    fn a_follow_up_after_the_start_is_not_expired_but_still_waits_for_the_window() {
        let window = CallingWindow::default();
        // 23:00 in Berlin: the appointment was hours ago, the follow-up is due now.
        let now = utc("2026-06-10T21:00:00Z");
        assert_eq!(
            after_start_timing(window, Berlin, now, now),
            Timing::Defer(utc("2026-06-11T06:00:00Z"))
        );
        let noon = utc("2026-06-10T10:00:00Z");
        assert_eq!(after_start_timing(window, Berlin, noon, noon), Timing::Now);
        assert_eq!(
            after_start_timing(window, Berlin, noon, noon - chrono::Duration::hours(23)),
            Timing::Now,
            "late but within a day"
        );
        assert_eq!(
            after_start_timing(window, Berlin, noon, noon - chrono::Duration::hours(25)),
            Timing::Expire,
            "more than a day late"
        );
    }

    #[test]
    fn inside_the_window_is_now() {
        let window = CallingWindow::default();
        let at = utc("2026-06-10T10:00:00Z"); // 12:00 in Berlin
        assert_eq!(window.next_open(Berlin, at), at);
        assert_eq!(
            dispatch_timing(window, Berlin, at, at + chrono::Duration::hours(5)),
            Timing::Now
        );
    }

    #[test]
    fn early_morning_in_los_angeles_waits_although_utc_is_daytime() {
        // 14:00 UTC is 07:00 PDT: an hour before the window opens in the recipient's zone.
        let window = CallingWindow::default();
        let now = utc("2026-06-10T14:00:00Z");
        let opening = utc("2026-06-10T15:00:00Z");
        assert_eq!(window.next_open(Los_Angeles, now), opening);
        assert_eq!(
            dispatch_timing(window, Los_Angeles, now, utc("2026-06-10T20:00:00Z")),
            Timing::Defer(opening)
        );
    }

    #[test]
    fn after_the_window_closes_it_waits_for_the_next_morning() {
        let window = CallingWindow::default();
        // 21:30 in Berlin (CEST, UTC+2) on 10 June.
        let now = utc("2026-06-10T19:30:00Z");
        assert_eq!(
            window.next_open(Berlin, now),
            utc("2026-06-11T06:00:00Z"),
            "08:00 CEST the next day"
        );
        assert_eq!(
            window.next_open(Berlin, utc("2026-06-10T18:59:59Z")),
            utc("2026-06-10T18:59:59Z")
        );
        assert_eq!(
            window.next_open(Berlin, utc("2026-06-10T19:00:00Z")),
            utc("2026-06-11T06:00:00Z"),
            "21:00 is already outside [08:00, 21:00)"
        );
    }

    #[test]
    fn an_opening_after_the_appointment_expires_the_reminder() {
        let window = CallingWindow::default();
        let now = utc("2026-06-10T03:00:00Z"); // 05:00 in Berlin
        assert_eq!(
            dispatch_timing(window, Berlin, now, utc("2026-06-10T05:30:00Z")),
            Timing::Expire,
            "the appointment at 07:30 comes before the 08:00 opening"
        );
        assert_eq!(
            dispatch_timing(window, Berlin, now, utc("2026-06-10T06:00:00Z")),
            Timing::Expire,
            "an opening exactly at the start is too late"
        );
        assert_eq!(
            dispatch_timing(window, Berlin, now, now),
            Timing::Expire,
            "an appointment that has started"
        );
    }

    #[test]
    fn the_opening_on_a_spring_forward_day_uses_the_new_offset() {
        // New York springs forward on 2026-03-08 at 02:00 EST; 08:00 that day is EDT (UTC-4).
        let window = CallingWindow::default();
        let before_dawn = utc("2026-03-08T06:30:00Z"); // 01:30 EST
        assert_eq!(
            window.next_open(New_York, before_dawn),
            utc("2026-03-08T12:00:00Z")
        );
        // A window opening inside the gap (02:30 does not exist that day) opens at 03:00 EDT.
        let gap_window = CallingWindow::new(150, 600).unwrap();
        assert_eq!(
            gap_window.next_open(New_York, before_dawn),
            utc("2026-03-08T07:00:00Z")
        );
    }

    #[test]
    fn the_opening_on_a_fall_back_day_uses_the_new_offset() {
        // Berlin falls back on 2026-10-25 at 03:00 CEST to 02:00 CET; 08:00 is CET (UTC+1).
        let window = CallingWindow::default();
        assert_eq!(
            window.next_open(Berlin, utc("2026-10-24T20:00:00Z")),
            utc("2026-10-25T07:00:00Z")
        );
        // An opening at 02:30 exists twice that day: the earlier one (CEST) counts.
        let overlap_window = CallingWindow::new(150, 600).unwrap();
        assert_eq!(
            overlap_window.next_open(Berlin, utc("2026-10-24T22:00:00Z")),
            utc("2026-10-25T00:30:00Z")
        );
    }

    /// booking-service turns an offset into `due_at = start - offset` in UTC, and an ISO 8601
    /// day counts 24 hours (`P1D` = `PT24H` = 86 400 s), so the scheduler receives an instant.
    fn a_day_before(start: DateTime<Utc>) -> DateTime<Utc> {
        start - chrono::Duration::hours(24)
    }

    #[test]
    fn a_day_before_an_appointment_the_day_after_the_fall_back_fires_at_the_same_wall_clock_time() {
        // New York falls back on 2026-11-01 at 02:00 EDT to 01:00 EST. An appointment on
        // 2 November at 10:00 EST: 24 hours earlier is 1 November 10:00 EST, after the change.
        let window = CallingWindow::default();
        let start = utc("2026-11-02T15:00:00Z");
        let due = a_day_before(start);
        assert_eq!(due, utc("2026-11-01T15:00:00Z"));
        assert_eq!(
            due.with_timezone(&New_York).format("%F %R %Z").to_string(),
            "2026-11-01 10:00 EST"
        );
        assert_eq!(dispatch_timing(window, New_York, due, start), Timing::Now);
    }

    #[test]
    fn a_day_before_across_the_fall_back_is_24_elapsed_hours_not_the_same_wall_clock_time() {
        // An appointment on 1 November at 10:00 EST, the change in between: 24 hours earlier is
        // 31 October 11:00 EDT, an hour later on the wall clock than "the same time the day
        // before" (10:00 EDT). booking-service's offsets are elapsed time.
        let window = CallingWindow::default();
        let start = utc("2026-11-01T15:00:00Z");
        let due = a_day_before(start);
        assert_eq!(
            due.with_timezone(&New_York).format("%F %R %Z").to_string(),
            "2026-10-31 11:00 EDT"
        );
        assert_eq!(dispatch_timing(window, New_York, due, start), Timing::Now);
    }

    #[test]
    fn a_day_before_an_early_appointment_after_the_fall_back_waits_for_eight_oclock_est() {
        // An appointment on 2 November at 07:30 EST: a day before is 07:30 EST on the day of
        // the change, before the window. The opening is 08:00 EST (13:00 UTC); yesterday's
        // offset (EDT, UTC-4) would have put it at 12:00 UTC, i.e. 07:00 EST, outside.
        let window = CallingWindow::default();
        let start = utc("2026-11-02T12:30:00Z");
        let due = a_day_before(start);
        assert_eq!(
            dispatch_timing(window, New_York, due, start),
            Timing::Defer(utc("2026-11-01T13:00:00Z"))
        );
    }

    #[test]
    fn the_fall_back_night_defers_to_eight_oclock_est() {
        let window = CallingWindow::default();
        let start = utc("2026-11-01T17:00:00Z"); // 12:00 EST
        let opening = utc("2026-11-01T13:00:00Z"); // 08:00 EST
        for now in [
            utc("2026-11-01T02:00:00Z"), // 22:00 EDT on 31 October
            utc("2026-11-01T05:30:00Z"), // 01:30 EDT, the first of the two 01:30s
            utc("2026-11-01T06:30:00Z"), // 01:30 EST, the second
            utc("2026-11-01T12:59:00Z"), // 07:59 EST
        ] {
            assert_eq!(
                dispatch_timing(window, New_York, now, start),
                Timing::Defer(opening),
                "at {now}"
            );
        }
        assert_eq!(
            dispatch_timing(window, New_York, opening, start),
            Timing::Now
        );
        // The window closes at 21:00 EST, 02:00 UTC the next day.
        assert_eq!(
            window.next_open(New_York, utc("2026-11-02T01:59:00Z")),
            utc("2026-11-02T01:59:00Z")
        );
        assert_eq!(
            window.next_open(New_York, utc("2026-11-02T02:00:00Z")),
            utc("2026-11-02T13:00:00Z")
        );
    }

    #[test]
    fn a_retry_moves_into_the_window_or_gives_up() {
        let window = CallingWindow::default();
        let late_evening = utc("2026-06-10T18:55:00Z"); // 20:55 in Berlin
        let earliest = late_evening + chrono::Duration::minutes(15);
        assert_eq!(
            retry_due_at(window, Berlin, earliest, utc("2026-06-11T09:00:00Z")),
            Some(utc("2026-06-11T06:00:00Z"))
        );
        assert_eq!(
            retry_due_at(window, Berlin, earliest, utc("2026-06-11T05:00:00Z")),
            None
        );
    }

    #[test]
    fn windows_must_be_non_empty_and_within_a_day() {
        assert!(CallingWindow::new(480, 480).is_none());
        assert!(CallingWindow::new(600, 480).is_none());
        assert!(CallingWindow::new(0, 1441).is_none());
        assert!(CallingWindow::new(0, 1440).is_some());
    }

    #[test]
    fn retries_count_attempts_after_the_first() {
        let policy = RetryPolicy::default();
        assert!(policy.retries(1, Outcome::Busy));
        assert!(policy.retries(2, Outcome::NoAnswer));
        assert!(!policy.retries(3, Outcome::Busy), "two retries used");
        assert!(!policy.retries(1, Outcome::Machine), "not in retry_on");
    }

    #[test]
    fn unknown_zones_are_reported() {
        assert_eq!(zone_of("America/Los_Angeles"), Some(Los_Angeles));
        assert_eq!(zone_of("Mars/Olympus_Mons"), None);
    }
}
