//! Carrier outcomes that are not key presses, duplicate and late webhooks, attempts, the
//! calling window and cancellations, all through the carrier sim.

use attend_events::v1::ReminderOutcomeKind;
use attend_events::{to_timestamp, v1};
use attend_test_support::wait_until;
use chrono::{Timelike, Utc};
use serde_json::json;
use uuid::Uuid;

use crate::calls::spoken;
use crate::helpers::{PATIENCE, TestApp, number_ending, reminder_for};

#[tokio::test]
async fn busy_failed_machine_and_mid_prompt_hangups_are_distinct_outcomes() -> anyhow::Result<()> {
    let app = TestApp::spawn().await?;
    let cases = [
        ('1', json!({"line": "busy"}), ReminderOutcomeKind::Busy),
        ('2', json!({"line": "failed"}), ReminderOutcomeKind::Failed),
        (
            '3',
            json!({"line": "machine"}),
            ReminderOutcomeKind::Machine,
        ),
        (
            '4',
            json!({"hangup_after_speaks": 2, "digits": ["1"]}),
            ReminderOutcomeKind::NoAnswer,
        ),
    ];
    for (digit, script, expected) in cases {
        let to = number_ending(digit);
        app.script_callee(&to, script.clone()).await?;
        let reminder = reminder_for(&to);
        app.publish_reminder(&reminder, Uuid::now_v7()).await?;
        let outcome = app.next_outcome(&reminder).await?;
        assert_eq!(outcome.outcome(), expected, "{script}");
        let calls = app.finished_sim_calls_to(&to).await?;
        assert_eq!(calls.len(), 1);
        match expected {
            ReminderOutcomeKind::Busy => {
                assert_eq!(calls[0]["status"], "busy");
                assert!(outcome.detail.contains("USER_BUSY"), "{}", outcome.detail);
            }
            ReminderOutcomeKind::Machine => {
                // The gateway asked for machine detection and left the voicemail.
                assert_eq!(calls[0]["machine_detection"], "true");
                let heard = spoken(&calls[0]);
                assert_eq!(heard.len(), 1, "{heard:?}");
                assert!(
                    heard[0].starts_with("Hello, this is Acme Clinic with a reminder")
                        && heard[0].ends_with("Please call us at +15550100000."),
                    "{heard:?}"
                );
            }
            ReminderOutcomeKind::NoAnswer => {
                // Hung up during the appointment sentence: no gather was reached.
                assert_eq!(calls[0]["hangup_source"], "Callee");
                assert_eq!(calls[0]["gathers"].as_array().map(Vec::len), Some(0));
            }
            _ => {}
        }
        let attempt = app.wait_for_status(&reminder, "completed").await?;
        assert!(attempt.outcome.is_some());
    }
    app.assert_no_more_outcomes().await?;
    app.stop().await
}

#[tokio::test]
async fn duplicate_and_late_webhooks_change_nothing() -> anyhow::Result<()> {
    let app = TestApp::spawn().await?;
    let to = number_ending('5');
    // Every webhook twice (so "9" arrives twice), then the last key press again after the
    // hangup: still one repeat, one outcome.
    app.script_callee(
        &to,
        json!({"digits": ["9", "3", "1"], "duplicate_webhooks": true, "late_action_after_hangup": true}),
    )
    .await?;
    let reminder = reminder_for(&to);
    app.publish_reminder(&reminder, Uuid::now_v7()).await?;
    let outcome = app.next_outcome(&reminder).await?;
    assert_eq!(outcome.outcome(), ReminderOutcomeKind::Cancelled);
    let calls = app.finished_sim_calls_to(&to).await?;
    let heard = spoken(&calls[0]);
    let greetings = heard
        .iter()
        .filter(|text| text.starts_with("Hello Ada"))
        .count();
    assert_eq!(greetings, 2, "{heard:?}");
    let exchanges = calls[0]["exchanges"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let hangups = exchanges
        .iter()
        .filter(|exchange| exchange["event"] == "Hangup")
        .count();
    assert_eq!(hangups, 2);
    // Every duplicate got a 200 with valid XML (or OK).
    assert!(
        exchanges
            .iter()
            .all(|exchange| exchange["response_status"] == 200)
    );
    let attempt = app.wait_for_status(&reminder, "completed").await?;
    assert_eq!(attempt.outcome.as_deref(), Some("cancelled"));
    app.assert_no_more_outcomes().await?;
    app.stop().await
}

#[tokio::test]
async fn attempt_2_is_called_after_attempt_1_ended_busy() -> anyhow::Result<()> {
    let app = TestApp::spawn().await?;
    let to = number_ending('6');
    app.script_callee(&to, json!({"line": "busy"})).await?;
    let first = reminder_for(&to);
    app.publish_reminder(&first, Uuid::now_v7()).await?;
    let outcome = app.next_outcome(&first).await?;
    assert_eq!(outcome.outcome(), ReminderOutcomeKind::Busy);
    assert_eq!(outcome.attempt, 1);

    // The scheduler retries with attempt 2; republishing attempt 1 does not call again.
    app.script_callee(&to, json!({"digits": ["1"]})).await?;
    let second = v1::ReminderDue {
        attempt: 2,
        ..first.clone()
    };
    app.publish_reminder(&first, Uuid::now_v7()).await?;
    app.publish_reminder(&second, Uuid::now_v7()).await?;
    app.publish_reminder(&second, Uuid::now_v7()).await?;
    let outcome = app.next_outcome(&second).await?;
    assert_eq!(outcome.outcome(), ReminderOutcomeKind::Confirmed);
    assert_eq!(outcome.attempt, 2);
    wait_until(PATIENCE, "every due applied", || async {
        (app.inbox_len().await.ok()? == 4).then_some(())
    })
    .await?;
    let calls = app.finished_sim_calls_to(&to).await?;
    assert_eq!(calls.len(), 2);
    app.assert_no_more_outcomes().await?;
    app.stop().await
}

/// Returns a fixed-offset zone where it is about 02:00 now (outside 08:00–21:00).
fn night_zone() -> String {
    let hour = i32::try_from(Utc::now().hour()).unwrap_or(0);
    let mut offset = 2 - hour;
    if offset < -12 {
        offset += 24;
    }
    if offset > 14 {
        offset -= 24;
    }
    match offset {
        0 => "Etc/GMT".to_owned(),
        positive if positive > 0 => format!("Etc/GMT-{positive}"),
        negative => format!("Etc/GMT+{}", -negative),
    }
}

#[tokio::test]
async fn the_calling_window_is_checked_in_each_recipients_zone() -> anyhow::Result<()> {
    let app = TestApp::spawn().await?;
    // The same instant: midday for one recipient, night for the other two.
    let day_to = number_ending('1');
    let night_to = "+15550100011".to_owned();
    let soon_to = "+15550100021".to_owned();
    let day = reminder_for(&day_to);
    let mut night = reminder_for(&night_to);
    let mut soon = reminder_for(&soon_to);
    for (reminder, hours) in [(&mut night, 30), (&mut soon, 3)] {
        if let Some(recipient) = reminder.recipient.as_mut() {
            recipient.time_zone = night_zone();
        }
        reminder.appointment_start =
            Some(to_timestamp(Utc::now() + chrono::Duration::hours(hours)));
    }
    app.publish_reminder(&night, Uuid::now_v7()).await?;
    app.publish_reminder(&soon, Uuid::now_v7()).await?;
    app.publish_reminder(&day, Uuid::now_v7()).await?;

    // The appointment in 3 hours starts before the window opens (about 6 hours away). The
    // day call may end before the other attempts are even recorded (the gateway applies
    // reminders concurrently), so the two outcomes come in either order.
    let mut outcomes = std::collections::HashMap::new();
    for _ in 0..2 {
        let outcome = app.next_any_outcome().await?;
        outcomes.insert(outcome.reminder_id.clone(), outcome.outcome());
    }
    assert_eq!(
        outcomes.get(&soon.reminder_id),
        Some(&ReminderOutcomeKind::Expired)
    );
    assert_eq!(
        outcomes.get(&day.reminder_id),
        Some(&ReminderOutcomeKind::Confirmed)
    );

    // The night recipient waits, uncalled, until 08:00 local. Its attempt may be recorded
    // after the dialer's round that handled the other two (the consumer applies events
    // concurrently), so wait until a round has held it for the window.
    let waiting = app.attempt_of(&night).await?;
    let next: chrono::DateTime<Utc> = wait_until(PATIENCE, "the night call held", || async {
        use diesel::prelude::*;
        use diesel_async::RunQueryDsl;
        use voice_gateway::db::schema::call_attempts;
        let mut connection = app.db().await.ok()?;
        let next: chrono::DateTime<Utc> = call_attempts::table
            .filter(call_attempts::id.eq(waiting.id))
            .select(call_attempts::next_attempt_at)
            .first(&mut connection)
            .await
            .ok()?;
        (next > Utc::now() + chrono::Duration::hours(1)).then_some(next)
    })
    .await?;
    let waiting = app.attempt_of(&night).await?;
    assert_eq!(waiting.status, "queued");
    assert_eq!(waiting.tries, 0);
    let wait = next - Utc::now();
    assert!(
        wait > chrono::Duration::hours(5) && wait < chrono::Duration::hours(7),
        "{wait:?}"
    );
    let zone: chrono_tz::Tz = night_zone().parse()?;
    assert_eq!(
        next.with_timezone(&zone).format("%H:%M").to_string(),
        "08:00"
    );
    assert!(app.sim_calls_to(&night_to).await?.is_empty());
    assert!(app.sim_calls_to(&soon_to).await?.is_empty());

    // Cancelling its appointment drops the waiting attempt, without an event.
    let cancelled = v1::AppointmentCancelled {
        appointment_id: night.appointment_id.clone(),
        tenant_id: night.tenant_id.clone(),
        reason: "customer_request".to_owned(),
        cancelled_at: None,
    };
    app.publish(&cancelled, &night.tenant_id).await?;
    app.wait_for_status(&night, "dropped").await?;
    app.assert_no_more_outcomes().await?;
    app.stop().await
}

#[tokio::test]
async fn a_429_then_a_5xx_that_fired_the_call_are_handled_through_the_sim() -> anyhow::Result<()> {
    let app = TestApp::spawn().await?;
    // 429 twice (no call exists: retried), then a 503 although the call was fired: the
    // request is never sent again, and the call's webhooks settle it.
    let to = number_ending('1');
    app.script_callee(
        &to,
        json!({"digits": ["1"], "api_fault": {"status": 429, "times": 2}}),
    )
    .await?;
    let reminder = reminder_for(&to);
    app.publish_reminder(&reminder, Uuid::now_v7()).await?;
    let outcome = app.next_outcome(&reminder).await?;
    assert_eq!(outcome.outcome(), ReminderOutcomeKind::Confirmed);
    assert_eq!(app.attempt_of(&reminder).await?.tries, 3);
    assert_eq!(app.finished_sim_calls_to(&to).await?.len(), 1);

    let to = number_ending('2');
    app.script_callee(
        &to,
        json!({"digits": ["2"], "api_fault": {"status": 503, "fire_anyway": true, "delay_ms": 50}}),
    )
    .await?;
    let reminder = reminder_for(&to);
    app.publish_reminder(&reminder, Uuid::now_v7()).await?;
    let outcome = app.next_outcome(&reminder).await?;
    assert_eq!(outcome.outcome(), ReminderOutcomeKind::RescheduleRequested);
    let attempt = app.wait_for_status(&reminder, "completed").await?;
    assert_eq!(attempt.tries, 1);
    assert_eq!(app.finished_sim_calls_to(&to).await?.len(), 1);
    app.assert_no_more_outcomes().await?;
    app.stop().await
}

#[tokio::test]
async fn an_attempt_queued_before_an_opt_out_is_not_called() -> anyhow::Result<()> {
    let app = TestApp::spawn().await?;
    let to = number_ending('8');
    // The later appointment's reminder waits for the window (the recipient is asleep in
    // another zone); meanwhile the callee presses 8 on the first call.
    let first = reminder_for(&to);
    let mut waiting = reminder_for(&to);
    waiting.tenant_id = first.tenant_id.clone();
    if let Some(recipient) = waiting.recipient.as_mut() {
        recipient.time_zone = night_zone();
    }
    app.publish_reminder(&waiting, Uuid::now_v7()).await?;
    let queued = app.wait_for_status(&waiting, "queued").await?;
    app.script_callee(&to, json!({"digits": ["8"]})).await?;
    app.publish_reminder(&first, Uuid::now_v7()).await?;
    let outcome = app.next_outcome(&first).await?;
    assert_eq!(outcome.outcome(), ReminderOutcomeKind::OptedOut);

    // Make the waiting attempt due now: the dialer drops it without calling.
    {
        use diesel::prelude::*;
        use diesel_async::RunQueryDsl;
        use voice_gateway::db::schema::call_attempts;
        let mut connection = app.db().await?;
        diesel::update(call_attempts::table.find(queued.id))
            .set(call_attempts::next_attempt_at.eq(Utc::now()))
            .execute(&mut connection)
            .await?;
    }
    let outcome = app.next_outcome(&waiting).await?;
    assert_eq!(outcome.outcome(), ReminderOutcomeKind::OptedOut);
    assert_eq!(app.wait_for_status(&waiting, "dropped").await?.tries, 0);
    assert_eq!(app.finished_sim_calls_to(&to).await?.len(), 1);
    app.assert_no_more_outcomes().await?;
    app.stop().await
}

#[tokio::test]
async fn an_opt_out_texted_stops_calls_and_an_opt_in_texted_resumes_them() -> anyhow::Result<()> {
    let app = TestApp::spawn().await?;
    let to = number_ending('1');
    let first = reminder_for(&to);
    let tenant_id: Uuid = first.tenant_id.parse()?;
    let opted_out = v1::SubscriberOptedOut {
        tenant_id: first.tenant_id.clone(),
        phone_e164: to.clone(),
        channels: vec![v1::Channel::Voice.into(), v1::Channel::Sms.into()],
        source: "sms_keyword".to_owned(),
        keyword: "STOP".to_owned(),
        occurred_at: Some(to_timestamp(Utc::now())),
    };
    app.publish(&opted_out, &first.tenant_id).await?;
    let opted_out_now = |expected: bool| {
        let app = &app;
        let to = to.clone();
        async move {
            let mut connection = app.db().await.ok()?;
            let now = voice_gateway::attempts::is_opted_out(&mut connection, tenant_id, &to)
                .await
                .ok()?;
            (now == expected).then_some(())
        }
    };
    wait_until(PATIENCE, "the texted opt-out", || opted_out_now(true)).await?;
    app.publish_reminder(&first, Uuid::now_v7()).await?;
    let outcome = app.next_outcome(&first).await?;
    assert_eq!(outcome.outcome(), ReminderOutcomeKind::OptedOut);
    assert!(app.sim_calls_to(&to).await?.is_empty());

    let opted_in = v1::SubscriberOptedIn {
        tenant_id: first.tenant_id.clone(),
        phone_e164: to.clone(),
        channels: vec![v1::Channel::Voice.into(), v1::Channel::Sms.into()],
        source: "sms_keyword".to_owned(),
        keyword: "START".to_owned(),
        occurred_at: Some(to_timestamp(Utc::now())),
    };
    app.publish(&opted_in, &first.tenant_id).await?;
    wait_until(PATIENCE, "the texted opt-in", || opted_out_now(false)).await?;
    let mut second = reminder_for(&to);
    second.tenant_id = first.tenant_id.clone();
    app.script_callee(&to, json!({"digits": ["1"]})).await?;
    app.publish_reminder(&second, Uuid::now_v7()).await?;
    let outcome = app.next_outcome(&second).await?;
    assert_eq!(outcome.outcome(), ReminderOutcomeKind::Confirmed);

    // An opt-out that names SMS only leaves calls alone.
    let sms_only = v1::SubscriberOptedOut {
        channels: vec![v1::Channel::Sms.into()],
        ..opted_out
    };
    app.publish(&sms_only, &first.tenant_id).await?;
    let mut third = reminder_for(&to);
    third.tenant_id = first.tenant_id.clone();
    app.script_callee(&to, json!({"digits": ["1"]})).await?;
    app.publish_reminder(&third, Uuid::now_v7()).await?;
    let outcome = app.next_outcome(&third).await?;
    assert_eq!(outcome.outcome(), ReminderOutcomeKind::Confirmed);
    app.assert_no_more_outcomes().await?;
    app.stop().await
}
