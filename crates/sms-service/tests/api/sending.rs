//! Sending reminders: rendering, the sending window, consent, cancellations, redelivery,
//! carrier faults, both carriers, and texts left `sending` by a crash.

use attend_events::{to_timestamp, v1};
use attend_test_support::wait_until;
use chrono::{Timelike, Utc};
use diesel::prelude::*;
use diesel_async::{RunQueryDsl, SimpleAsyncConnection};
use serde_json::json;
use sms_service::db::schema::{outbound_messages, reminders};
use uuid::Uuid;

use crate::helpers::{Observed, PATIENCE, SENDER, TestApp, number_ending, reminder_to};

use v1::ReminderOutcomeKind as Kind;

#[tokio::test]
async fn a_reminder_goes_out_localised_and_a_yes_confirms_it_once() {
    let app = TestApp::spawn().await.unwrap();
    let phone = number_ending(1);
    let reminder = reminder_to(&phone);
    app.send_reminder(&reminder).await.unwrap();

    let sent = app.expect_outcome(&reminder, Kind::Sent).await.unwrap();
    assert!(
        !sent.provider_ref.is_empty(),
        "the carrier's message id: {sent:?}"
    );
    assert_eq!(sent.attempt, 1);
    app.expect_outcome(&reminder, Kind::Confirmed)
        .await
        .unwrap();
    let texts = app.wait_for_texts(&phone, 2).await.unwrap();
    assert!(
        texts[0].starts_with("[West Side Mechanics]\nYou have an appointment on "),
        "{}",
        texts[0]
    );
    assert!(
        texts[0].ends_with(
            " at 12 Main St with Joe. Please reply 'Yes' to confirm, or 'No' to cancel."
        ),
        "{}",
        texts[0]
    );
    assert_eq!(
        texts[1],
        "[West Side Mechanics]\nThank you! Your appointment has been marked confirmed."
    );

    // A final answer is final: a later "No" neither flips it nor sends anything.
    app.inject("flowroute", &phone, "No", false).await.unwrap();
    app.assert_no_more_events().await.unwrap();
    assert_eq!(app.texts_to(&phone).await.unwrap().len(), 2);
    app.stop().await.unwrap();
}

#[tokio::test]
async fn a_no_cancels_and_the_cancellation_is_answered() {
    let app = TestApp::spawn().await.unwrap();
    let phone = number_ending(2);
    let reminder = reminder_to(&phone);
    app.send_reminder(&reminder).await.unwrap();
    app.expect_outcome(&reminder, Kind::Sent).await.unwrap();
    app.expect_outcome(&reminder, Kind::Cancelled)
        .await
        .unwrap();
    let texts = app.wait_for_texts(&phone, 2).await.unwrap();
    assert_eq!(
        texts[1],
        "[West Side Mechanics]\nThank you! Your appointment has been marked canceled."
    );
    app.stop().await.unwrap();
}

#[tokio::test]
async fn a_redelivered_or_republished_reminder_is_sent_once() {
    let app = TestApp::spawn().await.unwrap();
    let phone = number_ending(0);
    let reminder = reminder_to(&phone);
    let event_id = Uuid::now_v7();
    app.publish_with_id(&reminder, &reminder.tenant_id, event_id)
        .await
        .unwrap();
    app.publish_with_id(&reminder, &reminder.tenant_id, event_id)
        .await
        .unwrap();
    app.publish(&reminder, &reminder.tenant_id).await.unwrap();
    app.expect_outcome(&reminder, Kind::Sent).await.unwrap();
    app.assert_no_more_events().await.unwrap();
    assert_eq!(app.texts_to(&phone).await.unwrap().len(), 1);
    app.stop().await.unwrap();
}

#[tokio::test]
async fn stop_opts_out_of_every_channel_with_one_confirmation_and_start_opts_back_in() {
    let app = TestApp::spawn().await.unwrap();
    let phone = number_ending(3);
    let reminder = reminder_to(&phone);
    app.send_reminder(&reminder).await.unwrap();
    app.expect_outcome(&reminder, Kind::Sent).await.unwrap();
    app.expect_outcome(&reminder, Kind::OptedOut).await.unwrap();
    match app.next_event().await.unwrap() {
        Observed::OptedOut(opted_out) => {
            assert_eq!(opted_out.phone_e164, phone);
            assert_eq!(opted_out.tenant_id, reminder.tenant_id);
            assert_eq!(opted_out.source, "sms_keyword");
            assert_eq!(opted_out.keyword, "STOP");
            assert_eq!(
                opted_out.channels,
                vec![i32::from(v1::Channel::Voice), i32::from(v1::Channel::Sms)]
            );
        }
        other => panic!("expected subscriber.opted_out, got {other:?}"),
    }
    let texts = app.wait_for_texts(&phone, 2).await.unwrap();
    assert!(texts[1].contains("You are unsubscribed"), "{}", texts[1]);

    // The next reminder of the tenant to that number is suppressed, not sent.
    let mut next = reminder_to(&phone);
    next.tenant_id = reminder.tenant_id.clone();
    app.send_reminder(&next).await.unwrap();
    app.expect_outcome(&next, Kind::Suppressed).await.unwrap();

    // STOP again: no second confirmation.
    app.inject("flowroute", &phone, "stop", false)
        .await
        .unwrap();
    app.assert_no_more_events().await.unwrap();
    assert_eq!(app.texts_to(&phone).await.unwrap().len(), 2);

    // START: consent is back, on every channel, with one confirmation.
    app.inject("flowroute", &phone, "START", false)
        .await
        .unwrap();
    match app.next_event().await.unwrap() {
        Observed::OptedIn(opted_in) => assert_eq!(opted_in.phone_e164, phone),
        other => panic!("expected subscriber.opted_in, got {other:?}"),
    }
    let texts = app.wait_for_texts(&phone, 3).await.unwrap();
    assert!(
        texts[2].contains("subscribed to appointment reminders again"),
        "{}",
        texts[2]
    );
    let mut third = reminder_to(&phone);
    third.tenant_id = reminder.tenant_id.clone();
    app.send_reminder(&third).await.unwrap();
    app.expect_outcome(&third, Kind::Sent).await.unwrap();
    app.stop().await.unwrap();
}

#[tokio::test]
async fn an_opt_out_heard_on_a_call_suppresses_texts() {
    let app = TestApp::spawn().await.unwrap();
    let phone = number_ending(1);
    let reminder = reminder_to(&phone);
    let opted_out = v1::SubscriberOptedOut {
        tenant_id: reminder.tenant_id.clone(),
        phone_e164: phone.clone(),
        channels: vec![v1::Channel::Voice.into(), v1::Channel::Sms.into()],
        source: "voice_keypress".to_owned(),
        keyword: "8".to_owned(),
        occurred_at: Some(to_timestamp(Utc::now())),
    };
    app.publish(&opted_out, &reminder.tenant_id).await.unwrap();
    // The control queue is applied in order, but on another queue than reminders: wait for
    // the opt-out to land before the reminder is due.
    let tenant_id: Uuid = reminder.tenant_id.parse().unwrap();
    wait_until(PATIENCE, "the opt-out", || async {
        let mut connection = app.db().await.ok()?;
        sms_service::consent::is_opted_out(&mut connection, tenant_id, &phone)
            .await
            .ok()?
            .then_some(())
    })
    .await
    .unwrap();
    // The observer hears the published opt-out itself too.
    assert!(matches!(
        app.next_event().await.unwrap(),
        Observed::OptedOut(_)
    ));
    app.send_reminder(&reminder).await.unwrap();
    app.expect_outcome(&reminder, Kind::Suppressed)
        .await
        .unwrap();
    assert!(app.texts_to(&phone).await.unwrap().is_empty());
    app.stop().await.unwrap();
}

#[tokio::test]
async fn the_tenants_template_language_and_sender_are_used() {
    let app = TestApp::spawn().await.unwrap();
    let phone = number_ending(0);
    let mut reminder = reminder_to(&phone);
    if let Some(recipient) = reminder.recipient.as_mut() {
        recipient.locale = "fr-FR".to_owned();
    }
    let own_sender = "+15550100777";
    let settings = v1::TenantSettingsChanged {
        tenant_id: reminder.tenant_id.clone(),
        version: 1,
        calling_window: None,
        voice_retry: None,
        voice: None,
        changed_at: None,
        sms: Some(v1::SmsSettings {
            templates: vec![v1::SmsTemplate {
                name: "reminder".to_owned(),
                language: "fr".to_owned(),
                text: "{business} : RDV le {datetime}{at_location}. OUI ou NON ?".to_owned(),
            }],
            max_segments: 3,
            from_number: own_sender.to_owned(),
            help_contact: String::new(),
        }),
    };
    app.publish(&settings, &reminder.tenant_id).await.unwrap();
    let tenant_id: Uuid = reminder.tenant_id.parse().unwrap();
    wait_until(PATIENCE, "the settings", || async {
        let mut connection = app.db().await.ok()?;
        let loaded = sms_service::settings::load(&mut connection, tenant_id)
            .await
            .ok()?;
        (loaded.from_number == own_sender).then_some(())
    })
    .await
    .unwrap();
    app.send_reminder(&reminder).await.unwrap();
    app.expect_outcome(&reminder, Kind::Sent).await.unwrap();
    let messages = app.sim_messages(&phone).await.unwrap();
    assert_eq!(messages[0]["from"], own_sender);
    let body = messages[0]["body"].as_str().unwrap();
    assert!(body.starts_with("West Side Mechanics : RDV le "), "{body}");
    assert!(body.ends_with(" à 12 Main St. OUI ou NON ?"), "{body}");
    assert!(body.contains(" à "), "French time: {body}");
    app.stop().await.unwrap();
}

/// Returns a fixed-offset zone where it is about 03:00 now: outside every default window.
fn night_zone() -> String {
    let hour = i32::try_from(Utc::now().hour()).unwrap_or(0);
    let mut offset = 3 - hour;
    if offset > 14 {
        offset -= 24;
    }
    if offset < -12 {
        offset += 24;
    }
    match offset {
        0 => "Etc/GMT".to_owned(),
        positive if positive > 0 => format!("Etc/GMT-{positive}"),
        negative => format!("Etc/GMT+{}", -negative),
    }
}

#[tokio::test]
async fn outside_the_sending_window_a_text_waits_or_expires() {
    let app = TestApp::spawn().await.unwrap();
    let waiting_phone = number_ending(0);
    let mut waiting = reminder_to(&waiting_phone);
    let mut expiring = reminder_to(&number_ending(0));
    for reminder in [&mut waiting, &mut expiring] {
        if let Some(recipient) = reminder.recipient.as_mut() {
            recipient.time_zone = night_zone();
        }
    }
    // The window opens at 08:00, about five hours from now: an appointment in two hours is
    // past before it opens.
    expiring.appointment_start = Some(to_timestamp(Utc::now() + chrono::Duration::hours(2)));
    app.send_reminder(&expiring).await.unwrap();
    app.expect_outcome(&expiring, Kind::Expired).await.unwrap();

    app.send_reminder(&waiting).await.unwrap();
    let reminder_id: Uuid = waiting.reminder_id.parse().unwrap();
    let (status, next_try_at) = wait_until(PATIENCE, "the held text", || async {
        let mut connection = app.db().await.ok()?;
        let row: (String, chrono::DateTime<Utc>) = outbound_messages::table
            .inner_join(reminders::table)
            .filter(reminders::reminder_id.eq(reminder_id))
            .select((outbound_messages::status, outbound_messages::next_try_at))
            .first(&mut connection)
            .await
            .ok()?;
        (row.1 > Utc::now()).then_some(row)
    })
    .await
    .unwrap();
    assert_eq!(status, "queued");
    let hours_ahead = (next_try_at - Utc::now()).num_minutes() as f64 / 60.0;
    assert!(
        (3.0..=6.0).contains(&hours_ahead),
        "opens at 08:00 local: {hours_ahead}h"
    );
    app.assert_no_more_events().await.unwrap();
    assert!(app.texts_to(&waiting_phone).await.unwrap().is_empty());
    app.stop().await.unwrap();
}

/// The sender checks a round of claimed texts together (one lock, one cancellation and one
/// consent lookup per round). A cancellation or an opt-out that lands while a text is held
/// by the window is applied by its consumer; this writes them as if they had landed while
/// the round was being claimed, so only the sender's own checks can stop the texts.
#[tokio::test]
async fn a_round_of_claimed_texts_is_checked_once_more_each() {
    let app = TestApp::spawn().await.unwrap();
    let phones = [number_ending(1), number_ending(2), number_ending(3)];
    let mut held: Vec<v1::ReminderDue> = phones.iter().map(|phone| reminder_to(phone)).collect();
    for reminder in &mut held {
        if let Some(recipient) = reminder.recipient.as_mut() {
            recipient.time_zone = night_zone();
        }
        app.send_reminder(reminder).await.unwrap();
    }
    let reminder_ids: Vec<Uuid> = held
        .iter()
        .map(|reminder| reminder.reminder_id.parse().unwrap())
        .collect();
    let next_tries = || async {
        let mut connection = app.db().await.ok()?;
        let rows: Vec<(Uuid, String, chrono::DateTime<Utc>)> = outbound_messages::table
            .inner_join(reminders::table)
            .filter(reminders::reminder_id.eq_any(&reminder_ids))
            .select((
                reminders::reminder_id,
                outbound_messages::status,
                outbound_messages::next_try_at,
            ))
            .load(&mut connection)
            .await
            .ok()?;
        Some(rows)
    };
    wait_until(PATIENCE, "three held texts", || async {
        let rows = next_tries().await?;
        let all_held = rows.len() == 3 && rows.iter().all(|row| row.2 > Utc::now());
        all_held.then_some(())
    })
    .await
    .unwrap();

    let (cancelled, opted_out, waiting) = (&held[0], &held[1], &held[2]);
    let mut connection = app.db().await.unwrap();
    connection
        .batch_execute(&format!(
            "INSERT INTO cancelled_appointments (appointment_id, tenant_id, cancelled_at) \
             VALUES ('{}', '{}', now())",
            cancelled.appointment_id, cancelled.tenant_id
        ))
        .await
        .unwrap();
    sms_service::consent::record_opt_out(
        &mut connection,
        opted_out.tenant_id.parse().unwrap(),
        &phones[1],
        "sms_keyword",
        "STOP",
    )
    .await
    .unwrap();
    // Their time comes, all three in one round.
    diesel::update(
        outbound_messages::table.filter(
            outbound_messages::reminder_row_id.eq_any(
                reminders::table
                    .filter(reminders::reminder_id.eq_any(&reminder_ids))
                    .select(reminders::id.nullable()),
            ),
        ),
    )
    .set(outbound_messages::next_try_at.eq(Utc::now()))
    .execute(&mut connection)
    .await
    .unwrap();

    app.expect_outcome(opted_out, Kind::Suppressed)
        .await
        .unwrap();
    let settled = wait_until(PATIENCE, "the round's checks", || async {
        let rows = next_tries().await?;
        let status_of = |reminder: &v1::ReminderDue| {
            let id: Uuid = reminder.reminder_id.parse().ok()?;
            rows.iter().find(|row| row.0 == id).cloned()
        };
        let (cancelled, waiting) = (status_of(cancelled)?, status_of(waiting)?);
        let done =
            cancelled.1 == "cancelled" && waiting.2 > Utc::now() + chrono::Duration::hours(1);
        done.then_some((cancelled, waiting))
    })
    .await
    .unwrap();
    assert_eq!(
        settled.1.1, "queued",
        "the third waits for its window again"
    );
    let statuses: Vec<String> = reminders::table
        .filter(reminders::reminder_id.eq_any(&reminder_ids))
        .order(reminders::reminder_id)
        .select(reminders::status)
        .load(&mut connection)
        .await
        .unwrap();
    let mut expected = [
        (cancelled.reminder_id.clone(), "cancelled"),
        (opted_out.reminder_id.clone(), "suppressed"),
        (waiting.reminder_id.clone(), "queued"),
    ];
    expected.sort();
    assert_eq!(
        statuses,
        expected
            .iter()
            .map(|(_, status)| *status)
            .collect::<Vec<_>>()
    );
    for phone in &phones {
        assert!(app.texts_to(phone).await.unwrap().is_empty(), "{phone}");
    }
    app.stop().await.unwrap();
}

#[tokio::test]
async fn nothing_goes_out_for_a_cancelled_or_started_appointment_or_a_bad_number() {
    let app = TestApp::spawn().await.unwrap();
    let cancelled_phone = number_ending(1);
    let cancelled = reminder_to(&cancelled_phone);
    let cancellation = v1::AppointmentCancelled {
        appointment_id: cancelled.appointment_id.clone(),
        tenant_id: cancelled.tenant_id.clone(),
        reason: "api".to_owned(),
        cancelled_at: Some(to_timestamp(Utc::now())),
    };
    app.publish(&cancellation, &cancelled.tenant_id)
        .await
        .unwrap();
    let appointment_id: Uuid = cancelled.appointment_id.parse().unwrap();
    wait_until(PATIENCE, "the cancellation", || async {
        let mut connection = app.db().await.ok()?;
        sms_service::reminders::is_cancelled(&mut connection, appointment_id)
            .await
            .ok()?
            .then_some(())
    })
    .await
    .unwrap();
    app.send_reminder(&cancelled).await.unwrap();

    let mut started = reminder_to(&number_ending(1));
    started.appointment_start = Some(to_timestamp(Utc::now() - chrono::Duration::minutes(5)));
    app.send_reminder(&started).await.unwrap();
    app.expect_outcome(&started, Kind::Expired).await.unwrap();

    let mut unreachable = reminder_to("not a number");
    unreachable.reminder_id = Uuid::now_v7().to_string();
    app.send_reminder(&unreachable).await.unwrap();
    app.expect_outcome(&unreachable, Kind::Failed)
        .await
        .unwrap();

    app.assert_no_more_events().await.unwrap();
    assert!(app.texts_to(&cancelled_phone).await.unwrap().is_empty());
    let reminder_id: Uuid = cancelled.reminder_id.parse().unwrap();
    let mut connection = app.db().await.unwrap();
    let status: String = reminders::table
        .filter(reminders::reminder_id.eq(reminder_id))
        .select(reminders::status)
        .first(&mut connection)
        .await
        .unwrap();
    assert_eq!(status, "cancelled");
    drop(connection);
    app.stop().await.unwrap();
}

#[tokio::test]
async fn carrier_errors_are_retried_and_a_refusal_is_a_failure() {
    let app = TestApp::spawn().await.unwrap();
    app.http
        .put(format!("{}/sim/sms/faults", app.sim_address))
        .json(&json!({"api": "flowroute", "status": 503, "count": 2}))
        .send()
        .await
        .unwrap()
        .error_for_status()
        .unwrap();
    let phone = number_ending(0);
    let reminder = reminder_to(&phone);
    app.send_reminder(&reminder).await.unwrap();
    app.expect_outcome(&reminder, Kind::Sent).await.unwrap();
    let reminder_id: Uuid = reminder.reminder_id.parse().unwrap();
    let mut connection = app.db().await.unwrap();
    let tries: i32 = outbound_messages::table
        .inner_join(reminders::table)
        .filter(reminders::reminder_id.eq(reminder_id))
        .select(outbound_messages::tries)
        .first(&mut connection)
        .await
        .unwrap();
    assert_eq!(tries, 3, "two 503s, then accepted");
    drop(connection);
    assert_eq!(app.texts_to(&phone).await.unwrap().len(), 1);

    app.http
        .put(format!("{}/sim/sms/faults", app.sim_address))
        .json(&json!({"api": "flowroute", "status": 400, "count": 1}))
        .send()
        .await
        .unwrap()
        .error_for_status()
        .unwrap();
    let refused = reminder_to(&number_ending(0));
    app.send_reminder(&refused).await.unwrap();
    let failed = app.expect_outcome(&refused, Kind::Failed).await.unwrap();
    assert!(failed.detail.contains("refused"), "{failed:?}");
    app.stop().await.unwrap();
}

#[tokio::test]
async fn twilio_sends_and_its_signed_replies_are_applied() {
    let app = TestApp::spawn_with(&[("SMS_CARRIER", "twilio")])
        .await
        .unwrap();
    let phone = number_ending(1);
    let reminder = reminder_to(&phone);
    app.send_reminder(&reminder).await.unwrap();
    let sent = app.expect_outcome(&reminder, Kind::Sent).await.unwrap();
    assert!(sent.provider_ref.starts_with("SM"), "{sent:?}");
    app.expect_outcome(&reminder, Kind::Confirmed)
        .await
        .unwrap();
    let messages = app.sim_messages(&phone).await.unwrap();
    assert!(messages.iter().all(|message| message["api"] == "twilio"));
    app.stop().await.unwrap();
}

#[tokio::test]
async fn twilio_21610_records_an_opt_out_and_suppresses_the_reminder() {
    let app = TestApp::spawn_with(&[("SMS_CARRIER", "twilio")])
        .await
        .unwrap();
    let phone = number_ending(0);
    // The subscriber texted STOP to our number at the carrier before any reminder.
    app.inject("twilio", &phone, "STOP", false).await.unwrap();
    let reminder = reminder_to(&phone);
    app.send_reminder(&reminder).await.unwrap();
    // Both are written in one transaction; their order on the queue is not a contract.
    let (mut suppressed, mut opted_out) = (false, false);
    for _ in 0..2 {
        match app.next_event().await.unwrap() {
            Observed::Outcome(outcome) => {
                assert_eq!(outcome.reminder_id, reminder.reminder_id);
                assert_eq!(outcome.outcome(), Kind::Suppressed);
                suppressed = true;
            }
            Observed::OptedOut(event) => {
                assert_eq!(event.source, "carrier");
                assert_eq!(event.phone_e164, phone);
                opted_out = true;
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    assert!(suppressed && opted_out);
    assert!(app.texts_to(&phone).await.unwrap().is_empty());
    app.stop().await.unwrap();
}

#[tokio::test]
async fn a_text_left_sending_by_a_crash_is_reported_failed_and_never_sent_again() {
    let app = TestApp::spawn().await.unwrap();
    let phone = number_ending(0);
    let tenant_id = Uuid::now_v7();
    let reminder_id = Uuid::now_v7();
    let appointment_id = Uuid::now_v7();
    let mut connection = app.db().await.unwrap();
    let row = sms_service::conversations::NewReminder {
        id: Uuid::now_v7(),
        reminder_id,
        attempt: 1,
        appointment_id,
        tenant_id,
        to_number: phone.clone(),
        from_number: SENDER.to_owned(),
        recipient_name: "Ada".to_owned(),
        locale: "en".to_owned(),
        time_zone: "UTC".to_owned(),
        business_name: "Clinic".to_owned(),
        business_time_zone: "UTC".to_owned(),
        appointment_start: Utc::now() + chrono::Duration::days(1),
        location: String::new(),
        participant: String::new(),
        status: "queued",
        traceparent: None,
        kind: "reminder",
        template: String::new(),
        first_name: String::new(),
        last_name: String::new(),
        metadata: json!({}),
    };
    // One transaction: the running sender must never see the text queued, or it would send
    // it before the update below makes it look abandoned.
    connection.batch_execute("BEGIN").await.unwrap();
    sms_service::conversations::insert(&mut connection, &row)
        .await
        .unwrap();
    let message_id = sms_service::outbound::enqueue(
        &mut connection,
        tenant_id,
        Some(row.id),
        sms_service::outbound::MessageKind::Reminder,
        SENDER,
        &phone,
        "a text whose send request may have gone out",
    )
    .await
    .unwrap();
    // As a sender killed after its claim committed would leave it: sending, lease over.
    diesel::update(outbound_messages::table.find(message_id))
        .set((
            outbound_messages::status.eq("sending"),
            outbound_messages::tries.eq(1),
            outbound_messages::next_try_at.eq(Utc::now() - chrono::Duration::seconds(1)),
        ))
        .execute(&mut connection)
        .await
        .unwrap();
    diesel::update(reminders::table.find(row.id))
        .set(reminders::status.eq("sending"))
        .execute(&mut connection)
        .await
        .unwrap();
    connection.batch_execute("COMMIT").await.unwrap();
    drop(connection);
    let due = v1::ReminderDue {
        reminder_id: reminder_id.to_string(),
        ..reminder_to(&phone)
    };
    app.expect_outcome(&due, Kind::Failed).await.unwrap();
    app.assert_no_more_events().await.unwrap();
    assert!(app.texts_to(&phone).await.unwrap().is_empty());
    app.stop().await.unwrap();
}
