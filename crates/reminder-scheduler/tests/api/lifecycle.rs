//! Appointment events that change the plan: cancel, reschedule, redeliveries, late events,
//! and events the scheduler cannot apply.

use attend_events::{Event, from_timestamp, routing_keys, v1};
use attend_runtime::amqp::OutgoingEvent;
use attend_test_support::wait_until;
use chrono::Utc;
use reminder_scheduler::jobs::{CancelReason, JobStatus};
use uuid::Uuid;

use crate::helpers::{Appointment, PATIENCE, TestApp, in_seconds, plan};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reminder_cancelled_before_its_due_time_never_fires() -> anyhow::Result<()> {
    let app = TestApp::spawn().await?;
    let appointment = Appointment::starting_at(in_seconds(3600));
    let reminder_id = Uuid::now_v7();
    let due_at = in_seconds(2);
    app.publish(
        appointment.tenant_id,
        &appointment.scheduled(vec![plan(reminder_id, v1::Channel::Voice, due_at)]),
    )
    .await?;
    app.publish(appointment.tenant_id, &appointment.cancelled())
        .await?;
    let job = app
        .wait_for_status(reminder_id, JobStatus::Cancelled)
        .await?;
    assert_eq!(job.cancel_reason, Some(CancelReason::AppointmentCancelled));

    // A sentinel due a second after the cancelled reminder: once it fired, the dispatcher
    // has run past the cancelled reminder's due time.
    let other = Appointment::starting_at(in_seconds(3600));
    let sentinel = Uuid::now_v7();
    app.publish(
        other.tenant_id,
        &other.scheduled(vec![plan(
            sentinel,
            v1::Channel::Sms,
            due_at + chrono::Duration::seconds(1),
        )]),
    )
    .await?;
    app.observer.wait_for(sentinel).await?;
    assert!(Utc::now() > due_at);

    app.wait_until_settled().await?;
    let counts = app.observer.counts().await?;
    assert_eq!(
        counts.get(&reminder_id.to_string()),
        None,
        "a cancelled reminder fired"
    );
    assert_eq!(
        app.job(reminder_id).await?.map(|job| job.status),
        Some(JobStatus::Cancelled)
    );
    app.stop().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancellation_that_overtakes_the_schedule_leaves_a_tombstone() -> anyhow::Result<()> {
    let app = TestApp::spawn().await?;
    let appointment = Appointment::starting_at(in_seconds(3600));
    let reminder_id = Uuid::now_v7();
    // Redeliveries reordered the two events: the cancellation comes first.
    app.publish(appointment.tenant_id, &appointment.cancelled())
        .await?;
    let late_schedule = app
        .publish(
            appointment.tenant_id,
            &appointment.scheduled(vec![plan(reminder_id, v1::Channel::Voice, in_seconds(-60))]),
        )
        .await?;
    app.wait_for_inbox(late_schedule).await?;

    assert!(
        app.job(reminder_id).await?.is_none(),
        "a job was stored for a cancelled appointment"
    );
    let sentinel_appointment = Appointment::starting_at(in_seconds(3600));
    let sentinel = Uuid::now_v7();
    app.publish(
        sentinel_appointment.tenant_id,
        &sentinel_appointment.scheduled(vec![plan(sentinel, v1::Channel::Voice, in_seconds(-60))]),
    )
    .await?;
    app.observer.wait_for(sentinel).await?;
    app.wait_until_settled().await?;
    assert_eq!(app.observer.counts().await?.len(), 1);
    app.stop().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rescheduled_appointment_fires_the_new_reminder_and_never_the_old_one()
-> anyhow::Result<()> {
    let app = TestApp::spawn().await?;
    let appointment = Appointment::starting_at(in_seconds(3600));
    let old_reminder = Uuid::now_v7();
    let new_reminder = Uuid::now_v7();
    let old_due = in_seconds(2);
    let new_due = old_due + chrono::Duration::milliseconds(500);
    app.publish(
        appointment.tenant_id,
        &appointment.scheduled(vec![plan(old_reminder, v1::Channel::Voice, old_due)]),
    )
    .await?;
    let (moved, rescheduled) = appointment.rescheduled(
        in_seconds(7200),
        vec![plan(new_reminder, v1::Channel::Voice, new_due)],
    );
    app.publish(appointment.tenant_id, &rescheduled).await?;
    // The same reschedule again under a new event id (a producer retry) changes nothing.
    app.publish(appointment.tenant_id, &rescheduled).await?;

    let observed = app.observer.wait_for(new_reminder).await?;
    assert_eq!(
        from_timestamp(observed.event.appointment_start.as_ref())?,
        moved.start
    );
    let old_job = app
        .wait_for_status(old_reminder, JobStatus::Cancelled)
        .await?;
    assert_eq!(old_job.cancel_reason, Some(CancelReason::Superseded));

    app.wait_until_settled().await?;
    let counts = app.observer.counts().await?;
    assert_eq!(
        counts.get(&old_reminder.to_string()),
        None,
        "the superseded reminder fired"
    );
    assert_eq!(counts.get(&new_reminder.to_string()), Some(&1));
    assert_eq!(
        app.job(new_reminder).await?.map(|job| job.status),
        Some(JobStatus::Dispatched)
    );
    app.stop().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_repeated_schedule_creates_each_job_once() -> anyhow::Result<()> {
    let app = TestApp::spawn().await?;
    let appointment = Appointment::starting_at(in_seconds(3600));
    let voice_reminder = Uuid::now_v7();
    let sms_reminder = Uuid::now_v7();
    let scheduled = appointment.scheduled(vec![
        plan(voice_reminder, v1::Channel::Voice, in_seconds(-120)),
        plan(sms_reminder, v1::Channel::Sms, in_seconds(-60)),
    ]);
    // A redelivery repeats the event id; a producer retry sends the same plans under a new id.
    let event_id = Uuid::now_v7();
    app.publish_with_id(event_id, appointment.tenant_id, &scheduled)
        .await?;
    app.publish_with_id(event_id, appointment.tenant_id, &scheduled)
        .await?;
    let retry_id = app.publish(appointment.tenant_id, &scheduled).await?;

    app.wait_for_inbox(retry_id).await?;
    wait_until(PATIENCE, "the redelivery to be counted as a duplicate", || async {
        let metrics = app.metrics().await.ok()?;
        metrics
            .contains(r#"attend_events_consumed_total{queue="scheduler.appointment-events",result="duplicate"} 1"#)
            .then_some(())
    })
    .await?;
    app.wait_until_settled().await?;

    let observed = app.observer.drain().await?;
    assert_eq!(observed.len(), 2, "{observed:#?}");
    let counts = app.observer.counts().await?;
    assert_eq!(counts.get(&voice_reminder.to_string()), Some(&1));
    assert_eq!(counts.get(&sms_reminder.to_string()), Some(&1));
    let stats: serde_json::Value = app
        .api
        .get(format!("{}/v1/stats", app.address()))
        .send()
        .await?
        .json()
        .await?;
    assert_eq!(stats["jobs_total"], 2, "{stats}");
    app.stop().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_event_of_an_unknown_type_is_dead_lettered() -> anyhow::Result<()> {
    let app = TestApp::spawn().await?;
    let appointment = Appointment::starting_at(in_seconds(3600));
    let body = appointment.scheduled(vec![plan(
        Uuid::now_v7(),
        v1::Channel::Voice,
        in_seconds(-60),
    )]);
    app.publish_raw(OutgoingEvent {
        id: Uuid::now_v7(),
        event_type: "attend.appointment.teleported.v1".to_owned(),
        routing_key: routing_keys::APPOINTMENT_SCHEDULED.to_owned(),
        tenant_id: Some(appointment.tenant_id),
        payload: prost::Message::encode_to_vec(&body),
        traceparent: None,
        occurred_at_millis: Utc::now().timestamp_millis(),
    })
    .await?;
    // An undecodable body of a known type goes the same way.
    app.publish_raw(OutgoingEvent {
        id: Uuid::now_v7(),
        event_type: v1::AppointmentScheduled::TYPE.to_owned(),
        routing_key: routing_keys::APPOINTMENT_SCHEDULED.to_owned(),
        tenant_id: Some(appointment.tenant_id),
        payload: vec![0xff, 0xff, 0xff],
        traceparent: None,
        occurred_at_millis: Utc::now().timestamp_millis(),
    })
    .await?;

    wait_until(PATIENCE, "two dead-lettered events", || async {
        (app.queue_len("scheduler.appointment-events.dlq")
            .await
            .ok()?
            == 2)
            .then_some(())
    })
    .await?;
    let stats: serde_json::Value = app
        .api
        .get(format!("{}/v1/stats", app.address()))
        .send()
        .await?
        .json()
        .await?;
    assert_eq!(stats["jobs_total"], 0, "{stats}");
    app.stop().await
}
