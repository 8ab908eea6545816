//! Tenant policies: the calling window in the recipient's zone (deferral, expiry with an
//! EXPIRED outcome), voice retries by attempt, and settings versions.

use attend_events::{from_timestamp, v1};
use chrono::{DateTime, NaiveDate, TimeZone, Timelike, Utc};
use chrono_tz::Tz;
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use reminder_scheduler::db::schema::tenant_policies;
use reminder_scheduler::jobs::{JobStatus, Outcome};
use uuid::Uuid;

use crate::helpers::{
    Appointment, ObservedDue, OutcomeObserver, PATIENCE, TestApp, in_seconds, now, outcome_of,
    plan, settings, zone_where_local_hour_is,
};

use v1::ReminderOutcomeKind as Kind;

const WHOLE_DAY: (u32, u32) = (0, 24 * 60);

/// Returns the instant `zone`'s wall clock shows `minute_of_day` on `date`.
fn local(zone: Tz, date: NaiveDate, minute_of_day: u32) -> anyhow::Result<DateTime<Utc>> {
    let wall_clock =
        date.and_time(chrono::NaiveTime::MIN) + chrono::Duration::minutes(minute_of_day.into());
    let instant = zone
        .from_local_datetime(&wall_clock)
        .single()
        .ok_or_else(|| anyhow::anyhow!("{wall_clock} is not one instant in {zone}"))?;
    Ok(instant.with_timezone(&Utc))
}

async fn wait_for_attempt(
    app: &TestApp,
    reminder_id: Uuid,
    attempt: u32,
) -> anyhow::Result<ObservedDue> {
    let id = reminder_id.to_string();
    attend_test_support::wait_until(
        PATIENCE,
        &format!("reminder.due attempt {attempt} of {reminder_id}"),
        || async {
            app.observer
                .drain()
                .await
                .ok()?
                .into_iter()
                .find(|observed| {
                    observed.event.reminder_id == id && observed.event.attempt == attempt
                })
        },
    )
    .await
}

async fn apply_settings(app: &TestApp, event: &v1::TenantSettingsChanged) -> anyhow::Result<()> {
    let tenant_id = event.tenant_id.parse()?;
    let id = app.publish(tenant_id, event).await?;
    app.wait_for_inbox(id).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reminder_outside_the_window_in_los_angeles_waits_for_the_opening() -> anyhow::Result<()>
{
    let app = TestApp::spawn().await?;
    let zone = chrono_tz::America::Los_Angeles;
    let appointment = Appointment::starting_at(in_seconds(2 * 86_400)).in_zone(zone);
    // A window that excludes the current Los Angeles time, whatever the UTC time is.
    let local_now = Utc::now().with_timezone(&zone);
    let minute_now = local_now.hour() * 60 + local_now.minute();
    let today = local_now.date_naive();
    let (window, expected_due) = if minute_now + 180 <= 24 * 60 {
        let window = (minute_now + 120, minute_now + 180);
        (window, local(zone, today, window.0)?)
    } else {
        let window = (minute_now - 180, minute_now - 120);
        (window, local(zone, today.succ_opt().unwrap(), window.0)?)
    };
    apply_settings(
        &app,
        &settings(appointment.tenant_id, 1, window, 2, 60, &[Kind::Busy]),
    )
    .await?;

    let reminder_id = Uuid::now_v7();
    app.publish(
        appointment.tenant_id,
        &appointment.scheduled(vec![plan(reminder_id, v1::Channel::Sms, in_seconds(-60))]),
    )
    .await?;
    let deferred = attend_test_support::wait_until(PATIENCE, "the job deferred", || async {
        app.job(reminder_id)
            .await
            .ok()
            .flatten()
            .filter(|job| job.due_at > now())
    })
    .await?;
    assert_eq!(deferred.status, JobStatus::Pending);
    assert_eq!(deferred.due_at, expected_due);
    assert!(
        !app.observer
            .counts()
            .await?
            .contains_key(&reminder_id.to_string())
    );
    app.stop().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reminder_whose_window_opens_after_the_start_expires_with_an_outcome()
-> anyhow::Result<()> {
    let app = TestApp::spawn().await?;
    let outcomes = OutcomeObserver::declare(&app).await?;
    // 03:xx local: the default window opens at 08:00, after the appointment two hours away.
    let appointment =
        Appointment::starting_at(in_seconds(2 * 3600)).in_zone(zone_where_local_hour_is(3));
    let reminder_id = Uuid::now_v7();
    app.publish(
        appointment.tenant_id,
        &appointment.scheduled(vec![plan(reminder_id, v1::Channel::Voice, in_seconds(-60))]),
    )
    .await?;

    let expired = outcomes.wait_for(reminder_id, Kind::Expired).await?;
    assert_eq!(expired.attempt, 1);
    assert_eq!(
        expired.appointment_id,
        appointment.appointment_id.to_string()
    );
    assert_eq!(expired.tenant_id, appointment.tenant_id.to_string());
    assert_eq!(expired.channel(), v1::Channel::Voice);
    let job = app.wait_for_status(reminder_id, JobStatus::Expired).await?;
    assert_eq!(job.outcome, None);
    app.wait_until_settled().await?;
    assert!(
        !app.observer
            .counts()
            .await?
            .contains_key(&reminder_id.to_string())
    );
    assert_eq!(app.queue_len("scheduler.reminder-outcomes.dlq").await?, 0);
    app.stop().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reminder_early_in_the_morning_waits_for_eight_oclock() -> anyhow::Result<()> {
    let app = TestApp::spawn().await?;
    let zone = zone_where_local_hour_is(3);
    let appointment = Appointment::starting_at(in_seconds(86_400)).in_zone(zone);
    let reminder_id = Uuid::now_v7();
    app.publish(
        appointment.tenant_id,
        &appointment.scheduled(vec![plan(reminder_id, v1::Channel::Voice, in_seconds(-60))]),
    )
    .await?;
    let today = Utc::now().with_timezone(&zone).date_naive();
    let eight = local(zone, today, 8 * 60)?;
    let job = attend_test_support::wait_until(PATIENCE, "the job deferred to 08:00", || async {
        app.job(reminder_id)
            .await
            .ok()
            .flatten()
            .filter(|job| job.due_at == eight)
    })
    .await?;
    assert_eq!(job.status, JobStatus::Pending);
    app.stop().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_busy_voice_reminder_is_retried_twice_then_completes_busy() -> anyhow::Result<()> {
    let app = TestApp::spawn().await?;
    let appointment = Appointment::starting_at(in_seconds(3600));
    apply_settings(
        &app,
        &settings(
            appointment.tenant_id,
            1,
            WHOLE_DAY,
            2,
            1,
            &[Kind::Busy, Kind::NoAnswer],
        ),
    )
    .await?;
    let reminder_id = Uuid::now_v7();
    app.publish(
        appointment.tenant_id,
        &appointment.scheduled(vec![plan(reminder_id, v1::Channel::Voice, in_seconds(-60))]),
    )
    .await?;

    for attempt in 1..=3 {
        let due = wait_for_attempt(&app, reminder_id, attempt).await?;
        let busy = outcome_of(&appointment, reminder_id, Kind::Busy, attempt);
        if attempt > 1 {
            let due_at = from_timestamp(due.event.due_at.as_ref())?;
            assert!(due_at > in_seconds(-30), "attempt {attempt} is due now-ish");
        }
        let occurred_at = from_timestamp(busy.occurred_at.as_ref())?;
        app.publish(appointment.tenant_id, &busy).await?;
        if attempt < 3 {
            let retried = attend_test_support::wait_until(
                PATIENCE,
                &format!("attempt {} scheduled", attempt + 1),
                || async {
                    app.job(reminder_id)
                        .await
                        .ok()
                        .flatten()
                        .filter(|job| job.attempt == attempt + 1)
                },
            )
            .await?;
            assert!(
                retried.due_at >= occurred_at + chrono::Duration::seconds(1),
                "the retry waits the interval"
            );
        }
    }
    let job = app
        .wait_for_status(reminder_id, JobStatus::Completed)
        .await?;
    assert_eq!((job.outcome, job.attempt), (Some(Outcome::Busy), 3));
    app.wait_until_settled().await?;
    assert_eq!(app.observer.counts().await?[&reminder_id.to_string()], 3);
    app.stop().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_answer_stops_the_retries() -> anyhow::Result<()> {
    let app = TestApp::spawn().await?;
    let appointment = Appointment::starting_at(in_seconds(3600));
    apply_settings(
        &app,
        &settings(appointment.tenant_id, 1, WHOLE_DAY, 5, 1, &[Kind::NoAnswer]),
    )
    .await?;
    let reminder_id = Uuid::now_v7();
    app.publish(
        appointment.tenant_id,
        &appointment.scheduled(vec![plan(reminder_id, v1::Channel::Voice, in_seconds(-60))]),
    )
    .await?;
    wait_for_attempt(&app, reminder_id, 1).await?;
    app.publish(
        appointment.tenant_id,
        &outcome_of(&appointment, reminder_id, Kind::NoAnswer, 1),
    )
    .await?;
    wait_for_attempt(&app, reminder_id, 2).await?;
    app.publish(
        appointment.tenant_id,
        &outcome_of(&appointment, reminder_id, Kind::Confirmed, 2),
    )
    .await?;
    let job = app
        .wait_for_status(reminder_id, JobStatus::Completed)
        .await?;
    assert_eq!((job.outcome, job.attempt), (Some(Outcome::Confirmed), 2));
    app.wait_until_settled().await?;
    assert_eq!(app.observer.counts().await?[&reminder_id.to_string()], 2);
    app.stop().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_settings_busy_is_retried_after_15_minutes_and_machine_is_final()
-> anyhow::Result<()> {
    let app = TestApp::spawn().await?;
    let appointment = Appointment::starting_at(in_seconds(3 * 3600));
    let busy_id = Uuid::now_v7();
    let machine_id = Uuid::now_v7();
    app.publish(
        appointment.tenant_id,
        &appointment.scheduled(vec![
            plan(busy_id, v1::Channel::Voice, in_seconds(-60)),
            plan(machine_id, v1::Channel::Voice, in_seconds(-60)),
        ]),
    )
    .await?;
    app.observer.wait_for(busy_id).await?;
    app.observer.wait_for(machine_id).await?;
    let busy = outcome_of(&appointment, busy_id, Kind::Busy, 1);
    app.publish(appointment.tenant_id, &busy).await?;
    app.publish(
        appointment.tenant_id,
        &outcome_of(&appointment, machine_id, Kind::Machine, 1),
    )
    .await?;

    let retried = attend_test_support::wait_until(PATIENCE, "the busy job retried", || async {
        app.job(busy_id)
            .await
            .ok()
            .flatten()
            .filter(|job| job.attempt == 2)
    })
    .await?;
    assert_eq!(retried.status, JobStatus::Pending);
    assert_eq!(
        retried.due_at,
        from_timestamp(busy.occurred_at.as_ref())? + chrono::Duration::minutes(15)
    );
    let machine = app
        .wait_for_status(machine_id, JobStatus::Completed)
        .await?;
    assert_eq!(machine.outcome, Some(Outcome::Machine));
    app.stop().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_outcome_of_an_older_attempt_changes_nothing() -> anyhow::Result<()> {
    let app = TestApp::spawn().await?;
    let appointment = Appointment::starting_at(in_seconds(3600));
    apply_settings(
        &app,
        &settings(appointment.tenant_id, 1, WHOLE_DAY, 2, 1, &[Kind::Busy]),
    )
    .await?;
    let reminder_id = Uuid::now_v7();
    app.publish(
        appointment.tenant_id,
        &appointment.scheduled(vec![plan(reminder_id, v1::Channel::Voice, in_seconds(-60))]),
    )
    .await?;
    wait_for_attempt(&app, reminder_id, 1).await?;
    app.publish(
        appointment.tenant_id,
        &outcome_of(&appointment, reminder_id, Kind::Busy, 1),
    )
    .await?;
    wait_for_attempt(&app, reminder_id, 2).await?;
    app.wait_for_status(reminder_id, JobStatus::Dispatched)
        .await?;

    // A repeated webhook of attempt 1, and a late answer of attempt 1: both stale.
    for kind in [Kind::Busy, Kind::Confirmed] {
        let late = app
            .publish(
                appointment.tenant_id,
                &outcome_of(&appointment, reminder_id, kind, 1),
            )
            .await?;
        app.wait_for_inbox(late).await?;
    }
    app.wait_until_settled().await?;
    let job = app.job(reminder_id).await?.expect("the job exists");
    assert_eq!(
        (job.status, job.attempt, job.outcome),
        (JobStatus::Dispatched, 2, None)
    );
    assert_eq!(app.observer.counts().await?[&reminder_id.to_string()], 2);
    app.stop().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_late_older_settings_version_is_ignored() -> anyhow::Result<()> {
    let app = TestApp::spawn().await?;
    let tenant_id = Uuid::now_v7();
    apply_settings(
        &app,
        &settings(tenant_id, 2, WHOLE_DAY, 3, 60, &[Kind::Machine]),
    )
    .await?;
    apply_settings(
        &app,
        &settings(tenant_id, 1, (8 * 60, 9 * 60), 0, 60, &[Kind::Busy]),
    )
    .await?;
    let read = async || -> anyhow::Result<(i64, i32, i32, i32, Vec<String>)> {
        let mut connection = app.instances[0].pool.get().await?;
        Ok(tenant_policies::table
            .find(tenant_id)
            .select((
                tenant_policies::version,
                tenant_policies::window_start_minute,
                tenant_policies::window_end_minute,
                tenant_policies::voice_max_retries,
                tenant_policies::voice_retry_on,
            ))
            .first(&mut connection)
            .await?)
    };
    assert_eq!(read().await?, (2, 0, 1440, 3, vec!["machine".to_owned()]));

    apply_settings(
        &app,
        &settings(tenant_id, 3, (9 * 60, 17 * 60), 1, 60, &[Kind::Busy]),
    )
    .await?;
    assert_eq!(read().await?, (3, 540, 1020, 1, vec!["busy".to_owned()]));

    let shown: serde_json::Value = app
        .api
        .get(format!("{}/v1/tenants/{tenant_id}/policy", app.address()))
        .send()
        .await?
        .json()
        .await?;
    assert_eq!(
        shown,
        serde_json::json!({
            "tenant_id": tenant_id, "version": 3,
            "window_start_minute": 540, "window_end_minute": 1020,
            "voice_max_retries": 1, "voice_retry_interval_seconds": 60,
            "voice_retry_on": ["busy"],
        })
    );
    let unknown = Uuid::now_v7();
    let defaults: serde_json::Value = app
        .api
        .get(format!("{}/v1/tenants/{unknown}/policy", app.address()))
        .send()
        .await?
        .json()
        .await?;
    assert_eq!(
        defaults,
        serde_json::json!({
            "tenant_id": unknown, "version": 0,
            "window_start_minute": 480, "window_end_minute": 1260,
            "voice_max_retries": 2, "voice_retry_interval_seconds": 900,
            "voice_retry_on": ["busy", "no_answer"],
        })
    );
    app.stop().await
}
