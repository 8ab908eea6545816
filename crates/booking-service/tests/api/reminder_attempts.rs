//! Outcomes by attempt: a delivery outcome gives way to a later attempt's outcome, an older or
//! repeated attempt changes nothing, and an answer is final.

use std::time::Duration;

use attend_events::v1;
use attend_test_support::wait_until;
use serde_json::Value;
use uuid::Uuid;

use crate::helpers::{Observer, TestApp, appointment_body, outcome};

use v1::ReminderOutcomeKind as Kind;

async fn appointment_of(app: &TestApp, key: &str, id: &str) -> Value {
    app.get_appointment(key, id).await.json().await.unwrap()
}

/// Publishes an outcome of `attempt` and waits until booking-service applied (or ignored) it.
async fn report(
    app: &TestApp,
    tenant_id: Uuid,
    reminder_id: &str,
    appointment_id: &str,
    kind: Kind,
    attempt: u32,
) {
    let mut event = outcome(reminder_id, appointment_id, tenant_id, kind);
    event.attempt = attempt;
    let event_id = Uuid::now_v7();
    app.publish(event_id, tenant_id, &event).await;
    wait_until(
        Duration::from_secs(10),
        &format!("outcome {kind:?} of attempt {attempt} applied"),
        || async {
            use diesel_async::RunQueryDsl;
            let mut connection = app.env.connect("booking").await.ok()?;
            #[derive(diesel::QueryableByName)]
            struct Seen {
                #[diesel(sql_type = diesel::sql_types::BigInt)]
                seen: i64,
            }
            let seen: Seen = diesel::sql_query(format!(
                "SELECT count(*) AS seen FROM inbox WHERE message_id = '{event_id}'"
            ))
            .get_result(&mut connection)
            .await
            .ok()?;
            (seen.seen == 1).then_some(())
        },
    )
    .await
    .unwrap();
}

#[tokio::test]
async fn a_later_attempt_replaces_a_delivery_outcome_and_an_answer_is_final() {
    let app = TestApp::spawn().await;
    let (tenant_id, key) = app.create_tenant("Clinic").await;
    let created: Value = app
        .post_appointment(&key, &appointment_body("+12015550101", "PT30M"))
        .await
        .json()
        .await
        .unwrap();
    let id = created["id"].as_str().unwrap().to_owned();
    let reminder = created["reminders"][0]["id"].as_str().unwrap().to_owned();
    let outcome_now =
        async || appointment_of(&app, &key, &id).await["reminders"][0]["outcome"].clone();

    report(&app, tenant_id, &reminder, &id, Kind::Busy, 1).await;
    assert_eq!(outcome_now().await, "busy");
    // The same attempt again (a repeated webhook): the first report stands.
    report(&app, tenant_id, &reminder, &id, Kind::NoAnswer, 1).await;
    assert_eq!(outcome_now().await, "busy");
    report(&app, tenant_id, &reminder, &id, Kind::NoAnswer, 2).await;
    assert_eq!(outcome_now().await, "no_answer");
    // A late webhook of attempt 1 does not undo attempt 2.
    report(&app, tenant_id, &reminder, &id, Kind::Busy, 1).await;
    assert_eq!(outcome_now().await, "no_answer");

    report(&app, tenant_id, &reminder, &id, Kind::Confirmed, 3).await;
    let body = appointment_of(&app, &key, &id).await;
    assert_eq!(body["status"], "confirmed");
    assert_eq!(body["reminders"][0]["outcome"], "confirmed");
    assert_eq!(body["reminders"][0]["state"], "completed");

    // After an answer nothing changes, not even a later attempt's outcome or another answer.
    let mut cancellations = Observer::bind(&app.env, &["appointment.cancelled"]).await;
    report(&app, tenant_id, &reminder, &id, Kind::NoAnswer, 4).await;
    report(&app, tenant_id, &reminder, &id, Kind::Cancelled, 5).await;
    let body = appointment_of(&app, &key, &id).await;
    assert_eq!(body["status"], "confirmed");
    assert_eq!(body["reminders"][0]["outcome"], "confirmed");
    assert!(
        cancellations
            .try_next(Duration::from_millis(300))
            .await
            .is_none(),
        "no cancellation is published"
    );
    app.stop().await;
}

#[tokio::test]
async fn an_expired_reminder_is_recorded_and_an_unset_attempt_counts_as_the_first() {
    let app = TestApp::spawn().await;
    let (tenant_id, key) = app.create_tenant("Clinic").await;
    let created: Value = app
        .post_appointment(&key, &appointment_body("+12015550101", "PT30M"))
        .await
        .json()
        .await
        .unwrap();
    let id = created["id"].as_str().unwrap().to_owned();
    let reminder = created["reminders"][0]["id"].as_str().unwrap().to_owned();

    // attempt 0: a producer that predates the field; it is attempt 1, so a later attempt-1
    // outcome does not replace it but attempt 2's does.
    report(&app, tenant_id, &reminder, &id, Kind::NoAnswer, 0).await;
    report(&app, tenant_id, &reminder, &id, Kind::Busy, 1).await;
    assert_eq!(
        appointment_of(&app, &key, &id).await["reminders"][0]["outcome"],
        "no_answer"
    );
    report(&app, tenant_id, &reminder, &id, Kind::Expired, 2).await;
    let body = appointment_of(&app, &key, &id).await;
    assert_eq!(body["reminders"][0]["outcome"], "expired");
    assert_eq!(
        body["status"], "scheduled",
        "an unsent reminder leaves the appointment"
    );
    app.stop().await;
}
