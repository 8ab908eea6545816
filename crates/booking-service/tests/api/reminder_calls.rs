//! The `/appointments` dialect (reference/carriers.md §3.1) with the document's example
//! requests: shapes, status codes, FastAPI error bodies, the `reminder.due.voice` it
//! publishes, how outcomes move it, and that tenants never see each other's calls.

use std::time::Duration;

use attend_events::v1;
use attend_test_support::wait_until;
use diesel_async::RunQueryDsl;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::helpers::{Observer, TestApp, decode, outcome};
use crate::seed::{CatalogSpec, seed_catalog};

/// The document's example request.
fn john() -> Value {
    json!({ "phone": "+919876543210", "name": "John", "date": "Apr 5", "time": "3 PM" })
}

fn is_naive_utc(value: &Value) -> bool {
    value.as_str().is_some_and(|text| {
        chrono::NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S%.f").is_ok()
            && !text.ends_with('Z')
            && !text.contains('+')
    })
}

async fn place(app: &TestApp, key: &str, body: &Value) -> Value {
    let (status, created) = app.post_json(key, "/appointments", body).await;
    assert_eq!(status, 201, "{created}");
    created
}

async fn patch(app: &TestApp, key: &str, path: &str) -> (u16, Value) {
    app.send(reqwest::Method::PATCH, key, path, None).await
}

#[derive(diesel::QueryableByName)]
struct ReminderIdRow {
    #[diesel(sql_type = diesel::sql_types::Uuid)]
    reminder_id: Uuid,
}

async fn reminder_id_of(app: &TestApp, id: &str) -> String {
    let mut connection = app.env.connect("booking").await.unwrap();
    let row: ReminderIdRow = diesel::sql_query(format!(
        "SELECT reminder_id FROM reminder_calls WHERE id = '{id}'"
    ))
    .get_result(&mut connection)
    .await
    .unwrap();
    row.reminder_id.to_string()
}

/// Publishes `event` and waits until the consumer has recorded it in its inbox.
async fn publish_and_wait(app: &TestApp, tenant_id: Uuid, event: &v1::ReminderOutcome) {
    let event_id = Uuid::now_v7();
    app.publish(event_id, tenant_id, event).await;
    wait_applied(app, event_id).await;
}

async fn wait_applied(app: &TestApp, event_id: Uuid) {
    #[derive(diesel::QueryableByName)]
    struct Seen {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        seen: i64,
    }
    wait_until(
        Duration::from_secs(10),
        "the event to be applied",
        || async {
            let mut connection = app.env.connect("booking").await.ok()?;
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

async fn status_of(app: &TestApp, key: &str, id: &str) -> Value {
    let (status, body) = app.get_json(key, &format!("/appointments/{id}")).await;
    assert_eq!(status, 200, "{body}");
    body
}

fn dialect_outcome(
    reminder_id: &str,
    id: &str,
    tenant_id: Uuid,
    kind: v1::ReminderOutcomeKind,
    call_uuid: &str,
    attempt: u32,
) -> v1::ReminderOutcome {
    let mut event = outcome(reminder_id, id, tenant_id, kind);
    event.provider_ref = call_uuid.to_owned();
    event.attempt = attempt;
    event
}

#[tokio::test]
async fn post_places_the_call_now_and_publishes_a_due_with_spoken_when() {
    let app = TestApp::spawn().await;
    let (tenant_id, key) = app.create_tenant("Acme Clinic").await;
    let mut observer = Observer::bind(&app.env, &["reminder.due.voice"]).await;

    let created = place(&app, &key, &john()).await;
    let keys: Vec<&str> = created
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    let mut sorted_keys = keys.clone();
    sorted_keys.sort_unstable();
    assert_eq!(
        sorted_keys,
        [
            "call_uuid",
            "called_at",
            "created_at",
            "date",
            "id",
            "name",
            "outcome_at",
            "phone",
            "status",
            "time"
        ]
    );
    assert_eq!(created["phone"], "+919876543210");
    assert_eq!(created["name"], "John");
    assert_eq!(created["date"], "Apr 5");
    assert_eq!(created["time"], "3 PM");
    assert_eq!(created["status"], "calling");
    assert!(is_naive_utc(&created["created_at"]), "{created}");
    assert_eq!(created["called_at"], created["created_at"]);
    assert_eq!(created["outcome_at"], Value::Null);
    assert_eq!(created["call_uuid"], Value::Null);
    let id = created["id"].as_str().unwrap().to_owned();

    let (kind, body) = observer.next(Duration::from_secs(10)).await;
    assert_eq!(kind, "attend.reminder.due.v1");
    let due: v1::ReminderDue = decode(&body);
    assert_eq!(due.appointment_id, id);
    assert_eq!(due.tenant_id, tenant_id.to_string());
    assert_eq!(due.channel(), v1::Channel::Voice);
    assert_eq!(due.spoken_when, "Apr 5 at 3 PM");
    assert_eq!(due.appointment_start, None);
    assert!(due.due_at.is_some());
    assert_eq!(due.attempt, 1);
    assert_eq!(due.business_name, "Acme Clinic");
    let recipient = due.recipient.unwrap();
    assert_eq!(recipient.name, "John");
    assert_eq!(recipient.phone_e164, "+919876543210");
    assert_eq!(recipient.locale, "en");
    assert_eq!(recipient.time_zone, "UTC");
    assert_eq!(due.reminder_id, reminder_id_of(&app, &id).await);

    // What GET reads is exactly what POST answered.
    assert_eq!(status_of(&app, &key, &id).await, created);
    app.stop().await;
}

#[tokio::test]
async fn the_call_is_spoken_in_the_zone_of_the_tenants_business() {
    let app = TestApp::spawn().await;
    let (tenant_id, key) = app.create_tenant("Acme Clinic").await;
    seed_catalog(
        &app,
        tenant_id,
        CatalogSpec {
            time_zone: "Asia/Kolkata",
            ..CatalogSpec::default()
        },
    )
    .await;
    let mut observer = Observer::bind(&app.env, &["reminder.due.voice"]).await;
    place(
        &app,
        &key,
        &json!({ "phone": "+919876543210", "name": "", "date": "", "time": "" }),
    )
    .await;
    let (_, body) = observer.next(Duration::from_secs(10)).await;
    let due: v1::ReminderDue = decode(&body);
    assert_eq!(due.recipient.unwrap().time_zone, "Asia/Kolkata");
    assert_eq!(due.spoken_when, "your scheduled time");
    app.stop().await;
}

#[tokio::test]
async fn invalid_requests_are_422_in_fastapis_shape_and_place_no_call() {
    let app = TestApp::spawn().await;
    let (_, key) = app.create_tenant("Acme Clinic").await;
    let mut observer = Observer::bind(&app.env, &["reminder.due.voice"]).await;

    let without_name = json!({ "phone": "+919876543210", "date": "Apr 5", "time": "3 PM" });
    let (status, body) = app.post_json(&key, "/appointments", &without_name).await;
    assert_eq!(status, 422);
    assert_eq!(
        body,
        json!({ "detail": [{
            "type": "missing", "loc": ["body", "name"], "msg": "Field required", "input": without_name
        }]})
    );

    // pydantic v2 refuses a JSON number for a str field.
    let numeric_phone =
        json!({ "phone": 919876543210_u64, "name": "John", "date": "Apr 5", "time": "3 PM" });
    let (status, body) = app.post_json(&key, "/appointments", &numeric_phone).await;
    assert_eq!(status, 422);
    assert_eq!(
        body,
        json!({ "detail": [{
            "type": "string_type", "loc": ["body", "phone"],
            "msg": "Input should be a valid string", "input": 919876543210_u64
        }]})
    );

    // A phone that is not a number is a 422, not a call.
    let not_a_number =
        json!({ "phone": "call me maybe", "name": "John", "date": "Apr 5", "time": "3 PM" });
    let (status, body) = app.post_json(&key, "/appointments", &not_a_number).await;
    assert_eq!(status, 422);
    let error = &body["detail"][0];
    assert_eq!(error["type"], "value_error");
    assert_eq!(error["loc"], json!(["body", "phone"]));
    assert_eq!(error["input"], "call me maybe");
    assert!(
        error["msg"]
            .as_str()
            .unwrap()
            .starts_with("Value error, phone")
    );
    assert_eq!(body["detail"].as_array().unwrap().len(), 1);

    // Everything missing: one error per field, in the model's order.
    let (status, body) = app.post_json(&key, "/appointments", &json!({})).await;
    assert_eq!(status, 422);
    let locations: Vec<Value> = body["detail"]
        .as_array()
        .unwrap()
        .iter()
        .map(|error| error["loc"].clone())
        .collect();
    assert_eq!(
        locations,
        [
            json!(["body", "phone"]),
            json!(["body", "name"]),
            json!(["body", "date"]),
            json!(["body", "time"])
        ]
    );

    let response = app
        .client
        .post(format!("{}/appointments", app.address))
        .bearer_auth(&key)
        .header("content-type", "application/json")
        .body("{\"phone\": ")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 422);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["detail"][0]["type"], "json_invalid");
    assert_eq!(body["detail"][0]["loc"][0], "body");

    let response = app
        .client
        .post(format!("{}/appointments", app.address))
        .bearer_auth(&key)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 422);
    let body: Value = response.json().await.unwrap();
    assert_eq!(
        body,
        json!({ "detail": [{ "type": "missing", "loc": ["body"], "msg": "Field required", "input": null }] })
    );

    let (status, list) = app.get_json(&key, "/appointments").await;
    assert_eq!((status, list), (200, json!([])));
    assert!(
        observer
            .try_next(Duration::from_millis(500))
            .await
            .is_none(),
        "no call is placed for an invalid request"
    );
    app.stop().await;
}

#[tokio::test]
async fn without_a_valid_key_the_dialect_answers_401_in_its_own_shape() {
    let app = TestApp::spawn().await;
    app.create_tenant("Acme Clinic").await;
    let response = app
        .client
        .post(format!("{}/appointments", app.address))
        .json(&john())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
    assert_eq!(response.headers()["www-authenticate"], "Bearer");
    let body: Value = response.json().await.unwrap();
    assert_eq!(body, json!({ "detail": "Not authenticated" }));

    let (status, body) = app.get_json("attk_not-a-key", "/appointments/stats").await;
    assert_eq!(status, 401);
    assert_eq!(
        body,
        json!({ "detail": "Invalid authentication credentials" })
    );
    app.stop().await;
}

#[tokio::test]
async fn bulk_places_every_item_or_none() {
    let app = TestApp::spawn().await;
    let (_, key) = app.create_tenant("Acme Clinic").await;
    let mut observer = Observer::bind(&app.env, &["reminder.due.voice"]).await;

    let (status, body) = app.post_json(&key, "/appointments/bulk", &json!([])).await;
    assert_eq!((status, body), (201, json!([])));

    let mary =
        json!({ "phone": "+447911123456", "name": "Mary", "date": "Apr 6", "time": "10 AM" });
    let (status, body) = app
        .post_json(&key, "/appointments/bulk", &json!([john(), mary]))
        .await;
    assert_eq!(status, 201, "{body}");
    let items = body.as_array().unwrap();
    assert_eq!(items.len(), 2);
    assert_eq!(items[0]["name"], "John");
    assert_eq!(items[1]["name"], "Mary");
    for item in items {
        assert_eq!(item["call_triggered"], true);
        assert_eq!(item["status"], "calling");
        assert!(is_naive_utc(&item["called_at"]));
    }
    let mut spoken = Vec::new();
    for _ in 0..2 {
        let (_, event) = observer.next(Duration::from_secs(10)).await;
        spoken.push(decode::<v1::ReminderDue>(&event).spoken_when);
    }
    spoken.sort();
    assert_eq!(spoken, ["Apr 5 at 3 PM", "Apr 6 at 10 AM"]);

    // One invalid item refuses the whole body, naming the item's index.
    let bad = json!({ "phone": "12", "name": "Bad", "date": "Apr 7", "time": "9 AM" });
    let (status, body) = app
        .post_json(&key, "/appointments/bulk", &json!([john(), bad]))
        .await;
    assert_eq!(status, 422);
    assert_eq!(body["detail"][0]["loc"], json!(["body", 1, "phone"]));
    assert_eq!(body["detail"].as_array().unwrap().len(), 1);

    let (status, body) = app.post_json(&key, "/appointments/bulk", &john()).await;
    assert_eq!(status, 422);
    assert_eq!(body["detail"][0]["type"], "list_type");
    assert_eq!(body["detail"][0]["loc"], json!(["body"]));

    let too_many = Value::Array(vec![john(); 1001]);
    let (status, body) = app.post_json(&key, "/appointments/bulk", &too_many).await;
    assert_eq!(status, 422);
    assert_eq!(body["detail"][0]["type"], "too_long");
    assert_eq!(body["detail"][0]["ctx"]["max_length"], 1000);

    let (_, stats) = app.get_json(&key, "/appointments/stats").await;
    assert_eq!(stats, json!({ "total": 2, "by_status": { "calling": 2 } }));
    assert!(
        observer
            .try_next(Duration::from_millis(500))
            .await
            .is_none()
    );
    app.stop().await;
}

#[tokio::test]
async fn list_is_newest_first_filters_by_status_and_stats_count_by_status() {
    let app = TestApp::spawn().await;
    let (tenant_id, key) = app.create_tenant("Acme Clinic").await;
    let mut ids = Vec::new();
    for name in ["First", "Second", "Third"] {
        let body =
            json!({ "phone": "+919876543210", "name": name, "date": "Apr 5", "time": "3 PM" });
        ids.push(
            place(&app, &key, &body).await["id"]
                .as_str()
                .unwrap()
                .to_owned(),
        );
    }
    let reminder_id = reminder_id_of(&app, &ids[1]).await;
    publish_and_wait(
        &app,
        tenant_id,
        &dialect_outcome(
            &reminder_id,
            &ids[1],
            tenant_id,
            v1::ReminderOutcomeKind::Confirmed,
            "call-2",
            1,
        ),
    )
    .await;

    let (status, list) = app.get_json(&key, "/appointments").await;
    assert_eq!(status, 200);
    let names: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|item| item["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["Third", "Second", "First"]);

    let (_, confirmed) = app.get_json(&key, "/appointments?status=confirmed").await;
    assert_eq!(confirmed.as_array().unwrap().len(), 1);
    assert_eq!(confirmed[0]["id"], ids[1].as_str());
    let (_, calling) = app.get_json(&key, "/appointments?status=calling").await;
    assert_eq!(calling.as_array().unwrap().len(), 2);
    let (status, unknown) = app.get_json(&key, "/appointments?status=bogus").await;
    assert_eq!((status, unknown), (200, json!([])));

    let (status, stats) = app.get_json(&key, "/appointments/stats").await;
    assert_eq!(status, 200);
    assert_eq!(
        stats,
        json!({ "total": 3, "by_status": { "calling": 2, "confirmed": 1 } })
    );
    app.stop().await;
}

#[tokio::test]
async fn an_unknown_appointment_is_404_and_cannot_be_cancelled() {
    let app = TestApp::spawn().await;
    let (_, key) = app.create_tenant("Acme Clinic").await;
    for id in [Uuid::now_v7().to_string(), "not-a-uuid".to_owned()] {
        let (status, body) = app.get_json(&key, &format!("/appointments/{id}")).await;
        assert_eq!(status, 404);
        assert_eq!(body, json!({ "detail": "Appointment not found" }));
        let (status, body) = patch(&app, &key, &format!("/appointments/{id}/cancel")).await;
        assert_eq!(status, 400);
        assert_eq!(
            body,
            json!({ "detail": "Cannot cancel — appointment not in pending state" })
        );
    }
    app.stop().await;
}

#[tokio::test]
async fn outcomes_move_the_call_and_a_final_status_never_changes() {
    let app = TestApp::spawn().await;
    let (tenant_id, key) = app.create_tenant("Acme Clinic").await;
    let id = place(&app, &key, &john()).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let reminder_id = reminder_id_of(&app, &id).await;
    let event = |kind, call_uuid: &str, attempt| {
        dialect_outcome(&reminder_id, &id, tenant_id, kind, call_uuid, attempt)
    };

    // A first attempt nobody answers, then a second one the callee confirms.
    publish_and_wait(
        &app,
        tenant_id,
        &event(v1::ReminderOutcomeKind::NoAnswer, "call-a", 1),
    )
    .await;
    let body = status_of(&app, &key, &id).await;
    assert_eq!(body["status"], "no_answer");
    assert_eq!(body["call_uuid"], "call-a");
    assert!(is_naive_utc(&body["outcome_at"]));

    let confirmed = event(v1::ReminderOutcomeKind::Confirmed, "call-b", 2);
    let confirmed_id = Uuid::now_v7();
    app.publish(confirmed_id, tenant_id, &confirmed).await;
    app.publish(confirmed_id, tenant_id, &confirmed).await;
    wait_applied(&app, confirmed_id).await;
    let body = status_of(&app, &key, &id).await;
    assert_eq!(body["status"], "confirmed");
    assert_eq!(body["call_uuid"], "call-b");

    // Late or contradicting outcomes change nothing once the callee answered.
    for kind in [
        v1::ReminderOutcomeKind::Cancelled,
        v1::ReminderOutcomeKind::NoAnswer,
        v1::ReminderOutcomeKind::Failed,
    ] {
        publish_and_wait(&app, tenant_id, &event(kind, "call-c", 3)).await;
    }
    let after = status_of(&app, &key, &id).await;
    assert_eq!(after, body);
    // The native appointments are untouched: the outcome was the dialect's.
    let mut connection = app.env.connect("booking").await.unwrap();
    #[derive(diesel::QueryableByName)]
    struct Count {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        count: i64,
    }
    let native: Count = diesel::sql_query("SELECT count(*) AS count FROM appointment_reminders")
        .get_result(&mut connection)
        .await
        .unwrap();
    assert_eq!(native.count, 0);
    app.stop().await;
}

#[tokio::test]
async fn each_answer_maps_to_its_dialect_status() {
    let app = TestApp::spawn().await;
    let (tenant_id, key) = app.create_tenant("Acme Clinic").await;
    let cases = [
        (
            v1::ReminderOutcomeKind::RescheduleRequested,
            "reschedule_requested",
        ),
        (v1::ReminderOutcomeKind::Cancelled, "cancelled"),
        (v1::ReminderOutcomeKind::Busy, "no_answer"),
        (v1::ReminderOutcomeKind::Machine, "no_answer"),
        (v1::ReminderOutcomeKind::Expired, "no_answer"),
        (v1::ReminderOutcomeKind::OptedOut, "no_answer"),
        (v1::ReminderOutcomeKind::Failed, "pending"),
    ];
    for (kind, expected) in cases {
        let id = place(&app, &key, &john()).await["id"]
            .as_str()
            .unwrap()
            .to_owned();
        let reminder_id = reminder_id_of(&app, &id).await;
        publish_and_wait(
            &app,
            tenant_id,
            &dialect_outcome(&reminder_id, &id, tenant_id, kind, "call-x", 1),
        )
        .await;
        assert_eq!(
            status_of(&app, &key, &id).await["status"],
            expected,
            "{kind:?}"
        );
    }
    app.stop().await;
}

#[tokio::test]
async fn only_a_call_that_failed_to_go_out_can_be_cancelled() {
    let app = TestApp::spawn().await;
    let (tenant_id, key) = app.create_tenant("Acme Clinic").await;
    let id = place(&app, &key, &john()).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let cancel_path = format!("/appointments/{id}/cancel");

    // Calling: too late to cancel, as in the original.
    let (status, body) = patch(&app, &key, &cancel_path).await;
    assert_eq!(status, 400);
    assert_eq!(
        body,
        json!({ "detail": "Cannot cancel — appointment not in pending state" })
    );

    let reminder_id = reminder_id_of(&app, &id).await;
    publish_and_wait(
        &app,
        tenant_id,
        &dialect_outcome(
            &reminder_id,
            &id,
            tenant_id,
            v1::ReminderOutcomeKind::Failed,
            "",
            1,
        ),
    )
    .await;
    assert_eq!(status_of(&app, &key, &id).await["status"], "pending");

    let (status, body) = patch(&app, &key, &cancel_path).await;
    assert_eq!(status, 200);
    assert_eq!(body, json!({ "status": "cancelled", "id": id }));
    let aborted = status_of(&app, &key, &id).await;
    assert_eq!(aborted["status"], "aborted");

    let (status, _) = patch(&app, &key, &cancel_path).await;
    assert_eq!(status, 400);
    // An outcome arriving after the abort changes nothing.
    publish_and_wait(
        &app,
        tenant_id,
        &dialect_outcome(
            &reminder_id,
            &id,
            tenant_id,
            v1::ReminderOutcomeKind::Confirmed,
            "call-late",
            2,
        ),
    )
    .await;
    assert_eq!(status_of(&app, &key, &id).await, aborted);
    let (_, stats) = app.get_json(&key, "/appointments/stats").await;
    assert_eq!(stats, json!({ "total": 1, "by_status": { "aborted": 1 } }));
    app.stop().await;
}

#[tokio::test]
async fn a_tenant_never_sees_another_tenants_calls() {
    let app = TestApp::spawn().await;
    let (tenant_a, key_a) = app.create_tenant("Clinic A").await;
    let (_, key_b) = app.create_tenant("Clinic B").await;
    let id = place(&app, &key_a, &john()).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    // Pending, so only the tenant check stands between B and an abort.
    let reminder_id = reminder_id_of(&app, &id).await;
    publish_and_wait(
        &app,
        tenant_a,
        &dialect_outcome(
            &reminder_id,
            &id,
            tenant_a,
            v1::ReminderOutcomeKind::Failed,
            "",
            1,
        ),
    )
    .await;

    let (status, _) = app.get_json(&key_b, &format!("/appointments/{id}")).await;
    assert_eq!(status, 404);
    let (_, list) = app.get_json(&key_b, "/appointments").await;
    assert_eq!(list, json!([]));
    let (_, stats) = app.get_json(&key_b, "/appointments/stats").await;
    assert_eq!(stats, json!({ "total": 0, "by_status": {} }));
    let (status, _) = patch(&app, &key_b, &format!("/appointments/{id}/cancel")).await;
    assert_eq!(status, 400);

    assert_eq!(status_of(&app, &key_a, &id).await["status"], "pending");
    let (_, list) = app.get_json(&key_a, "/appointments").await;
    assert_eq!(list.as_array().unwrap().len(), 1);
    app.stop().await;
}
