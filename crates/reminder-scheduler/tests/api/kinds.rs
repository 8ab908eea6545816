//! Issue 6 on the scheduler's side: follow-ups fire after the start (inside the calling
//! window), a no-show drops every pending reminder and follow-up and sends its message, and a
//! voice reminder that reaches nobody falls back to SMS once its retries are used up.

use anyhow::Context;
use attend_events::v1;
use reminder_scheduler::jobs::{CancelReason, Channel, JobStatus, Outcome, ReminderKind};
use uuid::Uuid;

use crate::helpers::{
    Appointment, TestApp, in_seconds, now, outcome_of, plan, plan_of_kind, plan_with_sms_fallback,
    settings, zone_where_local_hour_is,
};

use v1::ReminderOutcomeKind as Kind;

const WHOLE_DAY: (u32, u32) = (0, 24 * 60);
const FOLLOW_UP_TEXT: &str = "Thanks {first_name}, we hope room {metadata.room} was fine.";
const FALLBACK_TEXT: &str = "{first_name}, we could not reach you by phone. Reply YES to confirm.";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_follow_up_fires_after_the_start_with_its_template_names_and_metadata()
-> anyhow::Result<()> {
    let app = TestApp::spawn().await?;
    let appointment = Appointment::starting_at(in_seconds(-3600));
    let follow_up = Uuid::now_v7();
    let late_reminder = Uuid::now_v7();
    app.publish(
        appointment.tenant_id,
        &appointment.scheduled(vec![
            plan_of_kind(
                follow_up,
                v1::Channel::Sms,
                in_seconds(-60),
                v1::ReminderKind::FollowUp,
                FOLLOW_UP_TEXT,
            ),
            plan(late_reminder, v1::Channel::Sms, in_seconds(-120)),
        ]),
    )
    .await?;

    let due = app.observer.wait_for(follow_up).await?;
    assert_eq!(due.routing_key, "reminder.due.sms");
    assert_eq!(due.event.kind(), v1::ReminderKind::FollowUp);
    assert_eq!(due.event.template, FOLLOW_UP_TEXT);
    assert_eq!(
        due.event.metadata.get("room").map(String::as_str),
        Some("B12")
    );
    let recipient = due.event.recipient.clone().context("no recipient")?;
    assert_eq!(
        (recipient.first_name.as_str(), recipient.last_name.as_str()),
        ("Ada", "Lovelace")
    );
    let job = app
        .wait_for_status(follow_up, JobStatus::Dispatched)
        .await?;
    assert_eq!(job.kind, ReminderKind::FollowUp);

    // A reminder of the same started appointment still expires: only follow-ups outlive the start.
    app.wait_for_status(late_reminder, JobStatus::Expired)
        .await?;
    app.wait_until_settled().await?;
    assert_eq!(
        app.observer.counts().await?.get(&late_reminder.to_string()),
        None
    );
    app.stop().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_follow_up_outside_the_calling_window_waits_for_the_opening_instead_of_expiring()
-> anyhow::Result<()> {
    let app = TestApp::spawn().await?;
    // 03:00 for the recipient: the default window (08:00-21:00) opens in five hours.
    let appointment =
        Appointment::starting_at(in_seconds(-3600)).in_zone(zone_where_local_hour_is(3));
    let follow_up = Uuid::now_v7();
    app.publish(
        appointment.tenant_id,
        &appointment.scheduled(vec![plan_of_kind(
            follow_up,
            v1::Channel::Sms,
            in_seconds(-60),
            v1::ReminderKind::FollowUp,
            "",
        )]),
    )
    .await?;
    let deferred = attend_test_support::wait_until(
        crate::helpers::PATIENCE,
        "the follow-up deferred to the window's opening",
        || async {
            app.job(follow_up)
                .await
                .ok()
                .flatten()
                .filter(|job| job.status == JobStatus::Pending && job.due_at > now())
        },
    )
    .await?;
    let wait = deferred.due_at - now();
    assert!(
        wait > chrono::Duration::hours(4) && wait <= chrono::Duration::hours(5),
        "deferred by {wait}"
    );
    assert_eq!(
        app.observer.counts().await?.get(&follow_up.to_string()),
        None
    );
    app.stop().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_follow_up_is_skipped_after_a_no_show_and_the_no_show_message_goes_out_once()
-> anyhow::Result<()> {
    let app = TestApp::spawn().await?;
    let appointment = Appointment::starting_at(in_seconds(-900));
    let follow_up = Uuid::now_v7();
    let follow_up_due = in_seconds(2);
    app.publish(
        appointment.tenant_id,
        &appointment.scheduled(vec![plan_of_kind(
            follow_up,
            v1::Channel::Sms,
            follow_up_due,
            v1::ReminderKind::FollowUp,
            FOLLOW_UP_TEXT,
        )]),
    )
    .await?;
    app.wait_for_status(follow_up, JobStatus::Pending).await?;

    let message = Uuid::now_v7();
    let no_show = appointment.no_show(Some(plan_of_kind(
        message,
        v1::Channel::Sms,
        now(),
        v1::ReminderKind::NoShow,
        "",
    )));
    let applied = app.publish(appointment.tenant_id, &no_show).await?;
    app.wait_for_inbox(applied).await?;
    let dropped = app
        .job(follow_up)
        .await?
        .context("the follow-up vanished")?;
    assert_eq!(
        (dropped.status, dropped.cancel_reason),
        (JobStatus::Cancelled, Some(CancelReason::NoShow))
    );
    let due = app.observer.wait_for(message).await?;
    assert_eq!(due.routing_key, "reminder.due.sms");
    assert_eq!(due.event.kind(), v1::ReminderKind::NoShow);
    assert_eq!(
        due.event.metadata.get("room").map(String::as_str),
        Some("B12")
    );

    // The same no-show republished (a new event id), then a late reschedule with a new
    // follow-up: a no-show is final, neither adds anything.
    let again = app.publish(appointment.tenant_id, &no_show).await?;
    let late_follow_up = Uuid::now_v7();
    let (_, rescheduled) = appointment.rescheduled(
        in_seconds(-600),
        vec![plan_of_kind(
            late_follow_up,
            v1::Channel::Sms,
            in_seconds(1),
            v1::ReminderKind::FollowUp,
            "",
        )],
    );
    let reschedule = app.publish(appointment.tenant_id, &rescheduled).await?;
    app.wait_for_inbox(again).await?;
    app.wait_for_inbox(reschedule).await?;
    assert!(app.job(late_follow_up).await?.is_none());

    // Past the follow-up's due time, nothing but the message went out.
    let past_due = (follow_up_due - now()).to_std().unwrap_or_default();
    tokio::time::sleep(past_due + std::time::Duration::from_millis(500)).await;
    app.wait_until_settled().await?;
    let counts = app.observer.counts().await?;
    assert_eq!(counts.get(&follow_up.to_string()), None, "{counts:?}");
    assert_eq!(counts.get(&message.to_string()), Some(&1), "{counts:?}");
    assert_eq!(counts.len(), 1, "{counts:?}");
    assert_eq!(app.queue_len("scheduler.appointment-events.dlq").await?, 0);
    app.stop().await
}

/// Schedules a voice reminder due now for a tenant with `max_retries` one-second retries on
/// busy, and waits until its first attempt went out.
async fn dispatched_voice(
    app: &TestApp,
    plan_for: impl FnOnce(Uuid) -> v1::ReminderPlan,
    max_retries: u32,
) -> anyhow::Result<(Appointment, Uuid)> {
    let appointment = Appointment::starting_at(in_seconds(3600));
    let settings_id = app
        .publish(
            appointment.tenant_id,
            &settings(
                appointment.tenant_id,
                1,
                WHOLE_DAY,
                max_retries,
                1,
                &[Kind::Busy, Kind::NoAnswer],
            ),
        )
        .await?;
    app.wait_for_inbox(settings_id).await?;
    let reminder_id = Uuid::now_v7();
    app.publish(
        appointment.tenant_id,
        &appointment.scheduled(vec![plan_for(reminder_id)]),
    )
    .await?;
    app.observer.wait_for_attempt(reminder_id, 1).await?;
    app.wait_for_status(reminder_id, JobStatus::Dispatched)
        .await?;
    Ok((appointment, reminder_id))
}

fn with_fallback(reminder_id: Uuid) -> v1::ReminderPlan {
    plan_with_sms_fallback(reminder_id, in_seconds(-60), FALLBACK_TEXT)
}

fn voice_only(reminder_id: Uuid) -> v1::ReminderPlan {
    plan(reminder_id, v1::Channel::Voice, in_seconds(-60))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_voice_reminder_nobody_answered_falls_back_to_sms_once_its_retries_are_used_up()
-> anyhow::Result<()> {
    let app = TestApp::spawn().await?;
    let (appointment, reminder_id) = dispatched_voice(&app, with_fallback, 0).await?;
    app.publish(
        appointment.tenant_id,
        &outcome_of(&appointment, reminder_id, Kind::NoAnswer, 1),
    )
    .await?;

    let fallback = app.observer.wait_for_attempt(reminder_id, 2).await?;
    assert_eq!(fallback.routing_key, "reminder.due.sms");
    assert_eq!(fallback.event.channel(), v1::Channel::Sms);
    assert_eq!(fallback.event.template, FALLBACK_TEXT);
    assert_eq!(fallback.event.kind(), v1::ReminderKind::Reminder);
    let job = app
        .wait_for_status(reminder_id, JobStatus::Dispatched)
        .await?;
    assert_eq!(
        (
            job.channel,
            job.fell_back_from,
            job.fallback_channel,
            job.attempt
        ),
        (Channel::Sms, Some(Channel::Voice), None, 2)
    );

    // The SMS attempt's outcome completes the job.
    let sent = v1::ReminderOutcome {
        channel: v1::Channel::Sms.into(),
        ..outcome_of(&appointment, reminder_id, Kind::Sent, 2)
    };
    app.publish(appointment.tenant_id, &sent).await?;
    let job = app
        .wait_for_status(reminder_id, JobStatus::Completed)
        .await?;
    assert_eq!((job.outcome, job.attempt), (Some(Outcome::Sent), 2));
    app.wait_until_settled().await?;
    assert_eq!(app.observer.counts().await?[&reminder_id.to_string()], 2);
    app.stop().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn voice_retries_come_before_the_sms_fallback() -> anyhow::Result<()> {
    let app = TestApp::spawn().await?;
    let (appointment, reminder_id) = dispatched_voice(&app, with_fallback, 1).await?;
    app.publish(
        appointment.tenant_id,
        &outcome_of(&appointment, reminder_id, Kind::Busy, 1),
    )
    .await?;
    let retry = app.observer.wait_for_attempt(reminder_id, 2).await?;
    assert_eq!(retry.routing_key, "reminder.due.voice");
    app.wait_for_status(reminder_id, JobStatus::Dispatched)
        .await?;
    app.publish(
        appointment.tenant_id,
        &outcome_of(&appointment, reminder_id, Kind::Busy, 2),
    )
    .await?;
    let fallback = app.observer.wait_for_attempt(reminder_id, 3).await?;
    assert_eq!(fallback.routing_key, "reminder.due.sms");
    assert_eq!(fallback.event.template, FALLBACK_TEXT);
    app.stop().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_fallback_or_with_an_answer_the_voice_outcome_completes_the_job()
-> anyhow::Result<()> {
    let app = TestApp::spawn().await?;
    let (plain, plain_id) = dispatched_voice(&app, voice_only, 0).await?;
    app.publish(
        plain.tenant_id,
        &outcome_of(&plain, plain_id, Kind::NoAnswer, 1),
    )
    .await?;
    let (answered, answered_id) = dispatched_voice(&app, with_fallback, 0).await?;
    app.publish(
        answered.tenant_id,
        &outcome_of(&answered, answered_id, Kind::Confirmed, 1),
    )
    .await?;

    let job = app.wait_for_status(plain_id, JobStatus::Completed).await?;
    assert_eq!(
        (job.outcome, job.channel),
        (Some(Outcome::NoAnswer), Channel::Voice)
    );
    let job = app
        .wait_for_status(answered_id, JobStatus::Completed)
        .await?;
    assert_eq!(
        (job.outcome, job.channel, job.fell_back_from),
        (Some(Outcome::Confirmed), Channel::Voice, None)
    );
    app.wait_until_settled().await?;
    let counts = app.observer.counts().await?;
    assert_eq!(counts[&plain_id.to_string()], 1);
    assert_eq!(counts[&answered_id.to_string()], 1);
    app.stop().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_fallback_for_a_call_whose_appointment_was_cancelled_while_it_rang() -> anyhow::Result<()>
{
    let app = TestApp::spawn().await?;
    let (appointment, reminder_id) = dispatched_voice(&app, with_fallback, 0).await?;
    let cancel = app
        .publish(appointment.tenant_id, &appointment.cancelled())
        .await?;
    app.wait_for_inbox(cancel).await?;
    let no_answer = app
        .publish(
            appointment.tenant_id,
            &outcome_of(&appointment, reminder_id, Kind::NoAnswer, 1),
        )
        .await?;
    app.wait_for_inbox(no_answer).await?;
    let job = app.job(reminder_id).await?.context("the job vanished")?;
    assert_eq!(
        (job.status, job.outcome, job.channel),
        (
            JobStatus::Completed,
            Some(Outcome::NoAnswer),
            Channel::Voice
        )
    );
    app.wait_until_settled().await?;
    assert_eq!(app.observer.counts().await?[&reminder_id.to_string()], 1);
    app.stop().await
}
