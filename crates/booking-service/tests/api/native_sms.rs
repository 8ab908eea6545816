//! Native SMS reminders: planned like voice ones, named in events (participant, business
//! zone), and moved by SMS outcomes (sent, unparsable, suppressed, confirmed, cancelled).

use std::time::Duration;

use attend_events::v1;
use attend_test_support::wait_until;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::helpers::{Observer, TestApp, decode, outcome};
use crate::seed::{CatalogSpec, date_in, seed_catalog};

use v1::ReminderOutcomeKind as Kind;

/// Returns a free-form appointment body an hour from now with one SMS reminder.
fn sms_appointment_body(phone: &str, offset: &str) -> Value {
    let start = (chrono::Utc::now() + chrono::Duration::hours(1)).to_rfc3339();
    json!({
        "customer": { "name": "Ada Lovelace", "phone": phone },
        "start": start,
        "time_zone": "America/Chicago",
        "reminders": [ { "channel": "sms", "offset": offset } ]
    })
}

/// Publishes an SMS outcome of `attempt` and waits until booking-service applied (or
/// ignored) it.
pub async fn report_sms(
    app: &TestApp,
    tenant_id: Uuid,
    reminder_id: &str,
    appointment_id: &str,
    kind: Kind,
    attempt: u32,
) {
    let mut event = outcome(reminder_id, appointment_id, tenant_id, kind);
    event.channel = v1::Channel::Sms.into();
    event.provider_ref = "msg-1".into();
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

async fn appointment_of(app: &TestApp, key: &str, id: &str) -> Value {
    app.get_appointment(key, id).await.json().await.unwrap()
}

/// Books a free-form appointment with one SMS reminder; returns its id and reminder id.
async fn book_with_sms(app: &TestApp, key: &str) -> (String, String) {
    let response = app
        .post_appointment(key, &sms_appointment_body("+12015550111", "PT30M"))
        .await;
    assert_eq!(response.status(), 201);
    let created: Value = response.json().await.unwrap();
    (
        created["id"].as_str().unwrap().to_owned(),
        created["reminders"][0]["id"].as_str().unwrap().to_owned(),
    )
}

#[tokio::test]
async fn an_sms_reminder_is_planned_and_published_like_a_voice_one() {
    let app = TestApp::spawn().await;
    let mut observer = Observer::bind(&app.env, &["appointment.scheduled"]).await;
    let (_, key) = app.create_tenant("Acme Clinic").await;

    let response = app
        .post_appointment(&key, &sms_appointment_body("+12015550111", "PT30M"))
        .await;
    assert_eq!(response.status(), 201);
    let created: Value = response.json().await.unwrap();
    assert_eq!(created["reminders"][0]["channel"], "sms");
    assert_eq!(created["reminders"][0]["state"], "scheduled");

    let (_, body) = observer.next(Duration::from_secs(10)).await;
    let event: v1::AppointmentScheduled = decode(&body);
    assert_eq!(event.reminders.len(), 1);
    assert_eq!(event.reminders[0].channel(), v1::Channel::Sms);
    let start =
        attend_events::from_timestamp(event.appointment.as_ref().unwrap().start.as_ref()).unwrap();
    let due = attend_events::from_timestamp(event.reminders[0].due_at.as_ref()).unwrap();
    assert_eq!(start - due, chrono::Duration::minutes(30));
    let details = event.appointment.unwrap();
    assert_eq!(
        details.participant, "",
        "a free-form appointment names no one"
    );
    assert_eq!(
        details.business_time_zone, "America/Chicago",
        "a free-form appointment has no entity: its own zone"
    );
    app.stop().await;
}

#[tokio::test]
async fn a_slot_booking_names_its_agent_and_its_entitys_zone_and_plans_sms_defaults() {
    let app = TestApp::spawn().await;
    let mut observer = Observer::bind(
        &app.env,
        &["appointment.scheduled", "appointment.rescheduled"],
    )
    .await;
    let (tenant_id, key) = app.create_tenant("Praxis").await;
    let catalog = seed_catalog(&app, tenant_id, CatalogSpec::default()).await;
    {
        use diesel_async::RunQueryDsl;
        let mut connection = app.env.connect("booking").await.unwrap();
        diesel::sql_query(format!(
            "UPDATE entity_reminder_defaults SET channel = 'sms' WHERE entity_id = '{}'",
            catalog.entity_id
        ))
        .execute(&mut connection)
        .await
        .unwrap();
    }
    let day = date_in(8, chrono_tz::Europe::Berlin);
    let slots_of = async |agent: Uuid| {
        let (status, slots) = app
            .get_json(
                &key,
                &format!(
                    "/v1/slots?product_id={}&agent_id={agent}&date={day}",
                    catalog.massage_45
                ),
            )
            .await;
        assert_eq!(status, 200, "{slots}");
        slots["items"].as_array().unwrap().clone()
    };

    let max_slots = slots_of(catalog.max).await;
    let (status, booked) = app
        .post_json(
            &key,
            "/v1/bookings",
            &json!({
                "product_id": catalog.massage_45,
                "slot_id": max_slots[0]["slot_id"],
                "booker": {"first_name": "Grace", "last_name": "Hopper", "phone": "+12015550107"}
            }),
        )
        .await;
    assert_eq!(status, 201, "{booked}");
    assert_eq!(booked["reminders"][0]["channel"], "sms");
    let (kind, body) = observer.next(Duration::from_secs(10)).await;
    assert_eq!(kind, "attend.appointment.scheduled.v1");
    let scheduled: v1::AppointmentScheduled = decode(&body);
    assert_eq!(scheduled.reminders[0].channel(), v1::Channel::Sms);
    let details = scheduled.appointment.unwrap();
    assert_eq!(details.participant, "Max Mustermann");
    assert_eq!(details.business_time_zone, "Europe/Berlin");

    // Moved to Hans: the rescheduled event names the new agent.
    let hans_slots = slots_of(catalog.hans).await;
    let (status, moved) = app
        .post_json(
            &key,
            &format!("/v1/appointments/{}/move", booked["id"].as_str().unwrap()),
            &json!({"slot_id": hans_slots[2]["slot_id"]}),
        )
        .await;
    assert_eq!(status, 200, "{moved}");
    let (kind, body) = observer.next(Duration::from_secs(10)).await;
    assert_eq!(kind, "attend.appointment.rescheduled.v1");
    let rescheduled: v1::AppointmentRescheduled = decode(&body);
    let details = rescheduled.appointment.unwrap();
    assert_eq!(details.participant, "Hans Meyer");
    assert_eq!(details.business_time_zone, "Europe/Berlin");
    assert_eq!(rescheduled.reminders[0].channel(), v1::Channel::Sms);
    app.stop().await;
}

#[tokio::test]
async fn sms_outcomes_go_from_sent_through_unparsable_to_an_answer() {
    let app = TestApp::spawn().await;
    let (tenant_id, key) = app.create_tenant("Clinic").await;
    let (id, reminder) = book_with_sms(&app, &key).await;
    let reminder_now = async || appointment_of(&app, &key, &id).await["reminders"][0].clone();

    report_sms(&app, tenant_id, &reminder, &id, Kind::Sent, 1).await;
    let sent = reminder_now().await;
    assert_eq!(sent["outcome"], "sent");
    assert_eq!(sent["state"], "completed");
    assert_eq!(appointment_of(&app, &key, &id).await["status"], "scheduled");

    // A reply that is no answer replaces `sent`; a late `sent` does not undo it.
    report_sms(&app, tenant_id, &reminder, &id, Kind::Unparsable, 1).await;
    assert_eq!(reminder_now().await["outcome"], "unparsable");
    report_sms(&app, tenant_id, &reminder, &id, Kind::Sent, 1).await;
    assert_eq!(reminder_now().await["outcome"], "unparsable");
    report_sms(&app, tenant_id, &reminder, &id, Kind::Failed, 2).await;
    assert_eq!(
        reminder_now().await["outcome"],
        "unparsable",
        "a delivery outcome never replaces a reply"
    );

    // The answer replaces the unparsable reply and confirms the appointment.
    report_sms(&app, tenant_id, &reminder, &id, Kind::Confirmed, 1).await;
    let body = appointment_of(&app, &key, &id).await;
    assert_eq!(body["status"], "confirmed");
    assert_eq!(body["reminders"][0]["outcome"], "confirmed");

    // After the answer, nothing changes it: not an unparsable reply, not another answer.
    let mut cancellations = Observer::bind(&app.env, &["appointment.cancelled"]).await;
    report_sms(&app, tenant_id, &reminder, &id, Kind::Unparsable, 1).await;
    report_sms(&app, tenant_id, &reminder, &id, Kind::Cancelled, 1).await;
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
async fn an_sms_no_cancels_the_appointment_and_tells_the_scheduler() {
    let app = TestApp::spawn().await;
    let (tenant_id, key) = app.create_tenant("Clinic").await;
    let (id, reminder) = book_with_sms(&app, &key).await;
    let mut cancellations = Observer::bind(&app.env, &["appointment.cancelled"]).await;

    report_sms(&app, tenant_id, &reminder, &id, Kind::Sent, 1).await;
    report_sms(&app, tenant_id, &reminder, &id, Kind::Cancelled, 1).await;
    let (kind, body) = cancellations.next(Duration::from_secs(10)).await;
    assert_eq!(kind, "attend.appointment.cancelled.v1");
    let cancelled: v1::AppointmentCancelled = decode(&body);
    assert_eq!(cancelled.appointment_id, id);
    assert_eq!(cancelled.tenant_id, tenant_id.to_string());
    assert_eq!(cancelled.reason, "reminder_reply");
    let body = appointment_of(&app, &key, &id).await;
    assert_eq!(body["status"], "cancelled");
    assert_eq!(body["reminders"][0]["outcome"], "cancelled");
    app.stop().await;
}

#[tokio::test]
async fn a_suppressed_or_failed_sms_is_recorded_and_the_appointment_stands() {
    let app = TestApp::spawn().await;
    let (tenant_id, key) = app.create_tenant("Clinic").await;
    let (id, reminder) = book_with_sms(&app, &key).await;
    let reminder_now = async || appointment_of(&app, &key, &id).await["reminders"][0].clone();

    report_sms(&app, tenant_id, &reminder, &id, Kind::Suppressed, 1).await;
    assert_eq!(reminder_now().await["outcome"], "suppressed");
    // A repeat of the same attempt changes nothing; a later attempt's outcome replaces it.
    report_sms(&app, tenant_id, &reminder, &id, Kind::Sent, 1).await;
    assert_eq!(reminder_now().await["outcome"], "suppressed");
    report_sms(&app, tenant_id, &reminder, &id, Kind::Sent, 2).await;
    assert_eq!(reminder_now().await["outcome"], "sent");
    // `sent` is progress: the same attempt's delivery report follows it.
    report_sms(&app, tenant_id, &reminder, &id, Kind::Failed, 2).await;
    let failed = reminder_now().await;
    assert_eq!(failed["outcome"], "failed");
    assert_eq!(appointment_of(&app, &key, &id).await["status"], "scheduled");
    app.stop().await;
}
