//! Reminder outcomes close jobs; a final job keeps its outcome; an unknown reminder is not an
//! error.

use attend_events::{to_timestamp, v1};
use reminder_scheduler::jobs::{JobStatus, Outcome};
use uuid::Uuid;

use crate::helpers::{Appointment, TestApp, in_seconds, now, plan};

fn outcome(
    appointment: &Appointment,
    reminder_id: Uuid,
    kind: v1::ReminderOutcomeKind,
) -> v1::ReminderOutcome {
    v1::ReminderOutcome {
        reminder_id: reminder_id.to_string(),
        appointment_id: appointment.appointment_id.to_string(),
        tenant_id: appointment.tenant_id.to_string(),
        channel: v1::Channel::Voice.into(),
        outcome: kind.into(),
        detail: "digit 1".to_owned(),
        occurred_at: Some(to_timestamp(now())),
        provider_ref: "CALL-1".to_owned(),
        attempt: 1,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_outcome_completes_the_job_and_a_later_one_changes_nothing() -> anyhow::Result<()> {
    let app = TestApp::spawn().await?;
    let appointment = Appointment::starting_at(in_seconds(3600));
    let reminder_id = Uuid::now_v7();
    app.publish(
        appointment.tenant_id,
        &appointment.scheduled(vec![plan(reminder_id, v1::Channel::Voice, in_seconds(-60))]),
    )
    .await?;
    app.observer.wait_for(reminder_id).await?;

    let confirmed = outcome(
        &appointment,
        reminder_id,
        v1::ReminderOutcomeKind::Confirmed,
    );
    app.publish(appointment.tenant_id, &confirmed).await?;
    let job = app
        .wait_for_status(reminder_id, JobStatus::Completed)
        .await?;
    assert_eq!(job.outcome, Some(Outcome::Confirmed));
    assert_eq!(job.completed_at.map(to_timestamp), confirmed.occurred_at);

    let late = app
        .publish(
            appointment.tenant_id,
            &outcome(&appointment, reminder_id, v1::ReminderOutcomeKind::NoAnswer),
        )
        .await?;
    app.wait_for_inbox(late).await?;
    let job = app.job(reminder_id).await?.expect("the job exists");
    assert_eq!(
        (job.status, job.outcome),
        (JobStatus::Completed, Some(Outcome::Confirmed))
    );
    app.stop().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_outcome_for_an_unknown_reminder_is_acknowledged() -> anyhow::Result<()> {
    let app = TestApp::spawn().await?;
    let appointment = Appointment::starting_at(in_seconds(3600));
    let unknown = Uuid::now_v7();
    let event_id = app
        .publish(
            appointment.tenant_id,
            &outcome(&appointment, unknown, v1::ReminderOutcomeKind::Busy),
        )
        .await?;

    // Recorded in the inbox means applied and acknowledged, not retried or dead-lettered.
    app.wait_for_inbox(event_id).await?;
    assert!(app.job(unknown).await?.is_none());
    assert_eq!(app.queue_len("scheduler.reminder-outcomes.dlq").await?, 0);
    app.stop().await
}
