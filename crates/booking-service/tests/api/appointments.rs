//! Booking appointments with reminders.

use std::time::Duration;

use attend_events::v1;
use serde_json::{Value, json};

use crate::helpers::{Observer, TestApp, appointment_body, decode};

#[tokio::test]
async fn booking_writes_the_appointment_and_publishes_it_through_the_outbox() {
    let app = TestApp::spawn().await;
    let mut observer = Observer::bind(&app.env, &["appointment.*"]).await;
    let (tenant_id, key) = app.create_tenant("Acme Clinic").await;

    let response = app
        .post_appointment(&key, &appointment_body("(201) 555-0101", "PT30M"))
        .await;
    assert_eq!(response.status(), 201);
    let location = response.headers()["location"].to_str().unwrap().to_owned();
    let created: Value = response.json().await.unwrap();
    assert_eq!(created["status"], "scheduled");
    assert_eq!(
        created["customer"]["phone"], "+12015550101",
        "national numbers are normalised to E.164"
    );
    assert_eq!(created["reminders"][0]["state"], "scheduled");
    assert_eq!(
        location,
        format!("/v1/appointments/{}", created["id"].as_str().unwrap())
    );

    let (kind, body) = observer.next(Duration::from_secs(10)).await;
    assert_eq!(kind, "attend.appointment.scheduled.v1");
    let event: v1::AppointmentScheduled = decode(&body);
    let details = event.appointment.unwrap();
    assert_eq!(details.appointment_id, created["id"].as_str().unwrap());
    assert_eq!(details.tenant_id, tenant_id.to_string());
    assert_eq!(details.business_name, "Acme Clinic");
    assert_eq!(details.recipient.unwrap().phone_e164, "+12015550101");
    assert_eq!(event.reminders.len(), 1);
    assert_eq!(
        event.reminders[0].reminder_id,
        created["reminders"][0]["id"].as_str().unwrap()
    );

    let fetched: Value = app
        .get_appointment(&key, created["id"].as_str().unwrap())
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        fetched, created,
        "the answer is built from what was written, not read back: it must be what is stored"
    );
    app.stop().await;
}

#[tokio::test]
async fn invalid_input_is_a_problem_naming_each_field() {
    let app = TestApp::spawn().await;
    let (_, key) = app.create_tenant("Clinic").await;

    let mut bad_phone = appointment_body("not a phone", "PT1H");
    bad_phone["time_zone"] = json!("Nowhere/City");
    let response = app.post_appointment(&key, &bad_phone).await;
    assert_eq!(response.status(), 422);
    assert_eq!(
        response.headers()["content-type"],
        "application/problem+json"
    );
    let problem: Value = response.json().await.unwrap();
    let fields: Vec<&str> = problem["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    assert_eq!(fields, ["customer.phone", "time_zone"]);

    let mut wrong_type = appointment_body("+12015550101", "PT1H");
    wrong_type["reminders"][0]["channel"] = json!("pigeon");
    let problem: Value = app
        .post_appointment(&key, &wrong_type)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(problem["errors"][0]["field"], "reminders[0].channel");

    let mut missing = appointment_body("+12015550101", "PT1H");
    missing.as_object_mut().unwrap().remove("start");
    let problem: Value = app
        .post_appointment(&key, &missing)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(problem["errors"][0]["field"], "start");

    let malformed = app
        .client
        .post(format!("{}/v1/appointments", app.address))
        .bearer_auth(&key)
        .header("content-type", "application/json")
        .body("{oops")
        .send()
        .await
        .unwrap();
    assert_eq!(malformed.status(), 400);

    let not_json = app
        .client
        .post(format!("{}/v1/appointments", app.address))
        .bearer_auth(&key)
        .body("customer=ada")
        .send()
        .await
        .unwrap();
    assert_eq!(not_json.status(), 415);

    let bad_id = app.get_appointment(&key, "not-a-uuid").await;
    assert_eq!(bad_id.status(), 404);
    assert_eq!(bad_id.headers()["content-type"], "application/problem+json");
    app.stop().await;
}

#[tokio::test]
async fn a_tenant_never_sees_another_tenants_appointment() {
    let app = TestApp::spawn().await;
    let (_, first_key) = app.create_tenant("First").await;
    let (_, second_key) = app.create_tenant("Second").await;
    let created: Value = app
        .post_appointment(&first_key, &appointment_body("+12015550101", "PT1H"))
        .await
        .json()
        .await
        .unwrap();
    let id = created["id"].as_str().unwrap();

    assert_eq!(app.get_appointment(&first_key, id).await.status(), 200);
    assert_eq!(app.get_appointment(&second_key, id).await.status(), 404);
    let cancel = app
        .client
        .post(format!("{}/v1/appointments/{id}/cancel", app.address))
        .bearer_auth(&second_key)
        .send()
        .await
        .unwrap();
    assert_eq!(cancel.status(), 404);
    assert_eq!(app.get_appointment("attk_unknown", id).await.status(), 401);
    app.stop().await;
}

#[tokio::test]
async fn cancelling_drops_pending_reminders_and_publishes_the_cancellation() {
    let app = TestApp::spawn().await;
    let (_, key) = app.create_tenant("Clinic").await;
    let created: Value = app
        .post_appointment(&key, &appointment_body("+12015550101", "PT30M"))
        .await
        .json()
        .await
        .unwrap();
    let id = created["id"].as_str().unwrap();
    let mut observer = Observer::bind(&app.env, &["appointment.cancelled"]).await;

    let cancelled: Value = app
        .client
        .post(format!("{}/v1/appointments/{id}/cancel", app.address))
        .bearer_auth(&key)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(cancelled["status"], "cancelled");
    assert_eq!(cancelled["reminders"][0]["state"], "cancelled");
    let (kind, body) = observer.next(Duration::from_secs(10)).await;
    assert_eq!(kind, "attend.appointment.cancelled.v1");
    assert_eq!(decode::<v1::AppointmentCancelled>(&body).appointment_id, id);
    app.stop().await;
}
