//! Reminder events move the appointment: consumed through the inbox, exactly once.

use std::time::Duration;

use attend_events::v1;
use attend_test_support::wait_until;
use serde_json::Value;
use uuid::Uuid;

use crate::helpers::{Observer, TestApp, appointment_body, decode, outcome};

async fn status_of(app: &TestApp, key: &str, id: &str) -> Value {
    app.get_appointment(key, id).await.json().await.unwrap()
}

#[tokio::test]
async fn a_confirmed_outcome_confirms_the_appointment() {
    let app = TestApp::spawn().await;
    let (tenant_id, key) = app.create_tenant("Clinic").await;
    let created: Value = app
        .post_appointment(&key, &appointment_body("+12015550101", "PT30M"))
        .await
        .json()
        .await
        .unwrap();
    let id = created["id"].as_str().unwrap().to_owned();
    let reminder_id = created["reminders"][0]["id"].as_str().unwrap().to_owned();

    let due = v1::ReminderDue {
        reminder_id: reminder_id.clone(),
        appointment_id: id.clone(),
        tenant_id: tenant_id.to_string(),
        channel: v1::Channel::Voice.into(),
        ..Default::default()
    };
    app.publish(Uuid::now_v7(), tenant_id, &due).await;
    wait_until(
        Duration::from_secs(10),
        "the reminder to be dispatched",
        || async {
            (status_of(&app, &key, &id).await["reminders"][0]["state"] == "dispatched")
                .then_some(())
        },
    )
    .await
    .unwrap();

    app.publish(
        Uuid::now_v7(),
        tenant_id,
        &outcome(
            &reminder_id,
            &id,
            tenant_id,
            v1::ReminderOutcomeKind::Confirmed,
        ),
    )
    .await;
    let confirmed = wait_until(
        Duration::from_secs(10),
        "the appointment to be confirmed",
        || async {
            let body = status_of(&app, &key, &id).await;
            (body["status"] == "confirmed").then_some(body)
        },
    )
    .await
    .unwrap();
    assert_eq!(confirmed["reminders"][0]["state"], "completed");
    assert_eq!(confirmed["reminders"][0]["outcome"], "confirmed");
    app.stop().await;
}

#[tokio::test]
async fn a_redelivered_or_late_outcome_changes_nothing() {
    let app = TestApp::spawn().await;
    let (tenant_id, key) = app.create_tenant("Clinic").await;
    let created: Value = app
        .post_appointment(&key, &appointment_body("+12015550101", "PT30M"))
        .await
        .json()
        .await
        .unwrap();
    let id = created["id"].as_str().unwrap().to_owned();
    let reminder_id = created["reminders"][0]["id"].as_str().unwrap().to_owned();

    let confirmed = outcome(
        &reminder_id,
        &id,
        tenant_id,
        v1::ReminderOutcomeKind::Confirmed,
    );
    let event_id = Uuid::now_v7();
    app.publish(event_id, tenant_id, &confirmed).await;
    app.publish(event_id, tenant_id, &confirmed).await;
    wait_until(
        Duration::from_secs(10),
        "the appointment to be confirmed",
        || async { (status_of(&app, &key, &id).await["status"] == "confirmed").then_some(()) },
    )
    .await
    .unwrap();

    // A later, different outcome for the same reminder is ignored: a terminal outcome is final.
    let mut observer = Observer::bind(&app.env, &["appointment.cancelled"]).await;
    app.publish(
        Uuid::now_v7(),
        tenant_id,
        &outcome(
            &reminder_id,
            &id,
            tenant_id,
            v1::ReminderOutcomeKind::Cancelled,
        ),
    )
    .await;
    let marker = Uuid::now_v7();
    app.publish(
        marker,
        tenant_id,
        &outcome(
            &Uuid::now_v7().to_string(),
            &id,
            tenant_id,
            v1::ReminderOutcomeKind::NoAnswer,
        ),
    )
    .await;
    wait_until(
        Duration::from_secs(10),
        "the marker event to be applied",
        || async {
            use diesel_async::RunQueryDsl;
            let mut connection = app.env.connect("booking").await.ok()?;
            #[derive(diesel::QueryableByName)]
            struct Seen {
                #[diesel(sql_type = diesel::sql_types::BigInt)]
                seen: i64,
            }
            let seen: Seen = diesel::sql_query(format!(
                "SELECT count(*) AS seen FROM inbox WHERE message_id = '{marker}'"
            ))
            .get_result(&mut connection)
            .await
            .ok()?;
            (seen.seen == 1).then_some(())
        },
    )
    .await
    .unwrap();
    let body = status_of(&app, &key, &id).await;
    assert_eq!(body["status"], "confirmed");
    assert_eq!(body["reminders"][0]["outcome"], "confirmed");
    assert!(
        observer
            .try_next(Duration::from_millis(300))
            .await
            .is_none(),
        "no cancellation is published"
    );
    app.stop().await;
}

#[tokio::test]
async fn a_cancelled_outcome_cancels_the_appointment_and_tells_the_scheduler() {
    let app = TestApp::spawn().await;
    let (tenant_id, key) = app.create_tenant("Clinic").await;
    let mut body = appointment_body("+12015550101", "PT30M");
    body["reminders"]
        .as_array_mut()
        .unwrap()
        .push(serde_json::json!({"channel": "voice", "offset": "PT10M"}));
    let created: Value = app
        .post_appointment(&key, &body)
        .await
        .json()
        .await
        .unwrap();
    let id = created["id"].as_str().unwrap().to_owned();
    let first_reminder = created["reminders"][0]["id"].as_str().unwrap().to_owned();
    let mut observer = Observer::bind(&app.env, &["appointment.cancelled"]).await;

    app.publish(
        Uuid::now_v7(),
        tenant_id,
        &outcome(
            &first_reminder,
            &id,
            tenant_id,
            v1::ReminderOutcomeKind::Cancelled,
        ),
    )
    .await;
    let (kind, event) = observer.next(Duration::from_secs(10)).await;
    assert_eq!(kind, "attend.appointment.cancelled.v1");
    assert_eq!(
        decode::<v1::AppointmentCancelled>(&event).reason,
        "reminder_reply"
    );
    let after = status_of(&app, &key, &id).await;
    assert_eq!(after["status"], "cancelled");
    assert_eq!(
        after["reminders"][1]["state"], "cancelled",
        "the other reminder is dropped"
    );
    app.stop().await;
}

#[tokio::test]
async fn an_undecodable_event_goes_to_the_dead_letter_queue() {
    let app = TestApp::spawn().await;
    let (tenant_id, _) = app.create_tenant("Clinic").await;
    // A reminder id that is not a uuid can never be applied: permanent, dead-lettered.
    let poison = outcome(
        "not-a-uuid",
        "also-not",
        tenant_id,
        v1::ReminderOutcomeKind::Confirmed,
    );
    app.publish(Uuid::now_v7(), tenant_id, &poison).await;
    let connection = app.env.amqp().await.unwrap();
    let channel = connection.create_channel().await.unwrap();
    let dead_letter_queue = app.env.name("booking.reminder-events.dlq");
    let message = wait_until(
        Duration::from_secs(10),
        "the poison event in the DLQ",
        || async {
            channel
                .basic_get(
                    dead_letter_queue.as_str().into(),
                    lapin::options::BasicGetOptions { no_ack: true },
                )
                .await
                .ok()
                .flatten()
        },
    )
    .await
    .unwrap();
    let dead: v1::ReminderOutcome = decode(&message.delivery.data);
    assert_eq!(dead.reminder_id, "not-a-uuid");
    drop(channel);
    app.stop().await;
}
