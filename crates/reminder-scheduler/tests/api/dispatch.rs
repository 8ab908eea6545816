//! Firing: at once when already due, not before the due time, exactly once across instances,
//! never for an appointment that already started.

use attend_events::{Event, from_timestamp, v1};
use reminder_scheduler::jobs::JobStatus;
use uuid::Uuid;

use crate::helpers::{Appointment, TestApp, in_seconds, now, plan};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reminder_already_due_fires_at_once_with_recipient_and_appointment() -> anyhow::Result<()>
{
    // A one-minute poll: only the consumer's wake-up can make the reminder fire promptly.
    let app = TestApp::spawn_with(1, &[("SCHEDULER_POLL_MS", "60000")]).await?;
    let appointment = Appointment::starting_at(in_seconds(3600));
    let reminder_id = Uuid::now_v7();
    let due_at = in_seconds(-60);

    let published_at = now();
    app.publish(
        appointment.tenant_id,
        &appointment.scheduled(vec![plan(reminder_id, v1::Channel::Voice, due_at)]),
    )
    .await?;
    let observed = app.observer.wait_for(reminder_id).await?;

    assert!(
        observed.received_at - published_at < chrono::Duration::seconds(10),
        "fired {} after the event, the poll interval is a minute",
        observed.received_at - published_at
    );
    assert_eq!(observed.routing_key, "reminder.due.voice");
    assert_eq!(observed.event_type, v1::ReminderDue::TYPE);
    assert_eq!(observed.tenant_id, Some(appointment.tenant_id.to_string()));
    let event = &observed.event;
    assert_eq!(event.appointment_id, appointment.appointment_id.to_string());
    assert_eq!(event.tenant_id, appointment.tenant_id.to_string());
    assert_eq!(event.channel(), v1::Channel::Voice);
    assert_eq!(event.recipient, appointment.details().recipient);
    assert_eq!(event.business_name, "Sunrise Dental");
    assert_eq!(event.location, "12 Harley Street");
    assert_eq!(
        from_timestamp(event.appointment_start.as_ref())?,
        appointment.start
    );
    assert_eq!(from_timestamp(event.due_at.as_ref())?, due_at);
    assert_eq!(event.attempt, 1);

    let job = app
        .wait_for_status(reminder_id, JobStatus::Dispatched)
        .await?;
    assert!(job.dispatched_at.is_some());
    app.stop().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reminder_fires_after_its_due_time_and_not_before() -> anyhow::Result<()> {
    let app = TestApp::spawn().await?;
    let appointment = Appointment::starting_at(in_seconds(3600));
    let reminder_id = Uuid::now_v7();
    let due_at = in_seconds(3);

    app.publish(
        appointment.tenant_id,
        &appointment.scheduled(vec![plan(reminder_id, v1::Channel::Sms, due_at)]),
    )
    .await?;
    app.wait_for_status(reminder_id, JobStatus::Pending).await?;
    // Stored and still ahead of its due time: nothing has fired.
    assert!(
        now() < due_at,
        "the machine is too slow for this test: the job was stored after its due time"
    );
    assert!(
        app.observer.drain().await?.is_empty(),
        "a reminder fired before its due time"
    );
    assert_eq!(
        app.job(reminder_id).await?.map(|job| job.status),
        Some(JobStatus::Pending)
    );

    let observed = app.observer.wait_for(reminder_id).await?;
    assert_eq!(observed.routing_key, "reminder.due.sms");
    assert!(
        observed.received_at >= due_at,
        "received at {}, due at {due_at}",
        observed.received_at
    );
    let job = app
        .wait_for_status(reminder_id, JobStatus::Dispatched)
        .await?;
    let dispatched_at = job
        .dispatched_at
        .expect("a dispatched job has dispatched_at");
    // The event was written in the transaction that set dispatched_at, so it cannot be older.
    assert!(
        dispatched_at >= due_at,
        "dispatched at {dispatched_at}, due at {due_at}"
    );
    app.stop().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_fire_each_of_200_jobs_exactly_once() -> anyhow::Result<()> {
    // Small batches make the two dispatchers interleave their claims on the same due jobs.
    let app = TestApp::spawn_with(2, &[("SCHEDULER_BATCH_SIZE", "10")]).await?;
    // Due a little ahead, so that both instances have every job stored and wake together.
    let due_at = in_seconds(3);
    let mut expected = std::collections::HashSet::new();
    for _ in 0..20 {
        let appointment = Appointment::starting_at(in_seconds(3600));
        let plans: Vec<_> = (0..10)
            .map(|index| {
                let reminder_id = Uuid::now_v7();
                expected.insert(reminder_id.to_string());
                let channel = if index % 2 == 0 {
                    v1::Channel::Voice
                } else {
                    v1::Channel::Sms
                };
                plan(reminder_id, channel, due_at)
            })
            .collect();
        app.publish(appointment.tenant_id, &appointment.scheduled(plans))
            .await?;
    }
    assert_eq!(expected.len(), 200);

    attend_test_support::wait_until(crate::helpers::PATIENCE, "200 dispatched jobs", || async {
        let mut connection = app.instances[0].pool.get().await.ok()?;
        let counts = reminder_scheduler::jobs::count_by_status(&mut connection)
            .await
            .ok()?;
        counts.contains(&(JobStatus::Dispatched, 200)).then_some(())
    })
    .await?;
    app.wait_until_settled().await?;

    let observed = app.observer.drain().await?;
    let counts = app.observer.counts().await?;
    assert_eq!(observed.len(), 200, "reminder.due messages");
    assert_eq!(counts.len(), 200, "distinct reminder ids");
    assert!(
        counts.values().all(|count| *count == 1),
        "a reminder fired twice: {counts:?}"
    );
    assert!(
        counts.keys().all(|id| expected.contains(id)),
        "an unexpected reminder fired"
    );

    for instance in &app.instances {
        let metrics = app
            .api
            .get(format!("{}/metrics", instance.address))
            .send()
            .await?
            .text()
            .await?;
        let dispatched = metrics
            .lines()
            .find(|line| {
                line.starts_with(r#"attend_domain_events_total{name="reminder_dispatched"}"#)
            })
            .unwrap_or("none");
        eprintln!("instance {}: {dispatched}", instance.address);
    }
    app.stop().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reminder_of_an_appointment_that_already_started_expires_unsent() -> anyhow::Result<()> {
    let app = TestApp::spawn().await?;
    let started = Appointment::starting_at(in_seconds(-600));
    let late_reminder = Uuid::now_v7();
    app.publish(
        started.tenant_id,
        &started.scheduled(vec![plan(
            late_reminder,
            v1::Channel::Voice,
            in_seconds(-3600),
        )]),
    )
    .await?;
    // A sentinel stored after it and due later: once it fired, the late one was looked at.
    let upcoming = Appointment::starting_at(in_seconds(3600));
    let sentinel = Uuid::now_v7();
    app.publish(
        upcoming.tenant_id,
        &upcoming.scheduled(vec![plan(sentinel, v1::Channel::Voice, in_seconds(-60))]),
    )
    .await?;

    app.observer.wait_for(sentinel).await?;
    let job = app
        .wait_for_status(late_reminder, JobStatus::Expired)
        .await?;
    assert_eq!(job.dispatched_at, None);
    app.wait_until_settled().await?;
    let counts = app.observer.counts().await?;
    assert_eq!(
        counts.get(&late_reminder.to_string()),
        None,
        "an expired reminder was sent"
    );
    assert_eq!(counts.len(), 1);
    app.stop().await
}
