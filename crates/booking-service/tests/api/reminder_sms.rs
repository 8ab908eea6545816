//! The `/reminder` dialect (reference/carriers.md §3.2) with the seed's example request:
//! shapes, status codes, `{"message"}` errors, the native appointment and SMS reminder
//! behind each reminder, DELETE, outcomes, and tenant isolation.

use std::time::Duration;

use attend_events::{Event, v1};
use attend_runtime::Env;
use chrono::{DateTime, FixedOffset, Timelike, Utc};
use diesel_async::RunQueryDsl;
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::helpers::{Observer, TestApp, decode};
use crate::native_sms::report_sms;

use v1::ReminderOutcomeKind as Kind;

/// A future appointment time as the seed writes it (`-0800`, minutes), and its instant.
fn pacific_time(from_now: chrono::Duration) -> (String, DateTime<Utc>) {
    let pacific = FixedOffset::west_opt(8 * 3600).unwrap();
    let local = (Utc::now() + from_now)
        .with_timezone(&pacific)
        .with_second(0)
        .unwrap()
        .with_nanosecond(0)
        .unwrap();
    (
        local.format("%Y-%m-%dT%H:%M-0800").to_string(),
        local.with_timezone(&Utc),
    )
}

/// The seed's example request, three days ahead.
fn seed_example() -> (Value, DateTime<Utc>) {
    let (text, start) = pacific_time(chrono::Duration::days(3));
    (
        json!({"contact_number":12223334444_u64, "appointment_time": text,
               "notify_window":"1", "location":"West Side Mechanics"}),
        start,
    )
}

async fn create(app: &TestApp, key: &str, body: &Value) -> String {
    let (status, created) = app.post_json(key, "/reminder", body).await;
    assert_eq!(status, 200, "{created}");
    created["reminder_id"].as_str().unwrap().to_owned()
}

/// Returns the native appointment id and SMS reminder id behind a dialect reminder.
async fn native_ids(app: &TestApp, reminder_id: &str) -> (String, String) {
    #[derive(diesel::QueryableByName)]
    struct Ids {
        #[diesel(sql_type = diesel::sql_types::Uuid)]
        appointment_id: Uuid,
        #[diesel(sql_type = diesel::sql_types::Uuid)]
        id: Uuid,
    }
    let mut connection = app.env.connect("booking").await.unwrap();
    let ids: Ids = diesel::sql_query(format!(
        "SELECT s.appointment_id, r.id FROM sms_reminders s
         JOIN appointment_reminders r ON r.appointment_id = s.appointment_id
         WHERE s.reminder_id = '{reminder_id}'"
    ))
    .get_result(&mut connection)
    .await
    .unwrap();
    (ids.appointment_id.to_string(), ids.id.to_string())
}

fn naive(at: DateTime<Utc>) -> String {
    at.format("%Y-%m-%d %H:%M:%S").to_string()
}

async fn post_raw(app: &TestApp, key: &str, content_type: &str, body: &str) -> (u16, Value) {
    let response = app
        .client
        .post(format!("{}/reminder", app.address))
        .bearer_auth(key)
        .header("Content-Type", content_type)
        .body(body.to_owned())
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap())
}

#[tokio::test]
async fn the_seeds_example_books_a_native_appointment_with_an_sms_reminder() {
    let app = TestApp::spawn().await;
    let mut scheduled = Observer::bind(&app.env, &["appointment.scheduled"]).await;
    let (tenant_id, key) = app.create_tenant("West Side Mechanics Inc").await;
    let (body, start) = seed_example();

    let (status, created) = app.post_json(&key, "/reminder", &body).await;
    assert_eq!(status, 200, "{created}");
    let id = created["reminder_id"].as_str().unwrap().to_owned();
    assert_eq!(id.len(), 32);
    assert!(
        id.bytes()
            .all(|byte| byte.is_ascii_hexdigit() && !byte.is_ascii_uppercase())
    );
    assert_eq!(
        created,
        json!({"reminder_id": id, "message": format!("Successfully created a reminder with id {id}.")})
    );

    // The reminder scheduler is told through appointment.scheduled: one SMS, an hour early.
    let (kind, payload) = scheduled.next(Duration::from_secs(10)).await;
    assert_eq!(kind, v1::AppointmentScheduled::TYPE);
    let event: v1::AppointmentScheduled = decode(&payload);
    let details = event.appointment.clone().unwrap();
    let (appointment_id, sms_reminder_id) = native_ids(&app, &id).await;
    assert_eq!(details.appointment_id, appointment_id);
    assert_eq!(details.tenant_id, tenant_id.to_string());
    assert_eq!(details.business_name, "West Side Mechanics Inc");
    assert_eq!(details.location, "West Side Mechanics");
    assert_eq!(details.participant, "");
    assert_eq!(
        details.business_time_zone, "Etc/GMT+8",
        "the caller's -08:00"
    );
    let recipient = details.recipient.unwrap();
    assert_eq!(recipient.phone_e164, "+12223334444");
    assert_eq!(recipient.time_zone, "Etc/GMT+8");
    assert_eq!(recipient.locale, "en");
    assert_eq!(
        attend_events::from_timestamp(details.start.as_ref()).unwrap(),
        start
    );
    assert_eq!(event.reminders.len(), 1);
    let plan = &event.reminders[0];
    assert_eq!(plan.reminder_id, sms_reminder_id);
    assert_eq!(plan.channel(), v1::Channel::Sms);
    assert_eq!(
        attend_events::from_timestamp(plan.due_at.as_ref()).unwrap(),
        start - chrono::Duration::hours(1)
    );

    // GET answers the original's R, the times as str(datetime).
    let (status, reminder) = app.get_json(&key, &format!("/reminder/{id}")).await;
    assert_eq!(status, 200, "{reminder}");
    let pacific = FixedOffset::west_opt(8 * 3600).unwrap();
    assert_eq!(
        reminder,
        json!({
            "reminder_id": id,
            "contact_number": "12223334444",
            "appt_user_dt": start.with_timezone(&pacific).format("%Y-%m-%d %H:%M:%S").to_string(),
            "appt_sys_dt": naive(start),
            "notify_sys_dt": naive(start - chrono::Duration::hours(1)),
            "will_attend": null,
            "location": "West Side Mechanics",
            "participant": "",
            "reminder_sent": false,
            "confirm_sent": false
        })
    );

    // The native API sees the same appointment.
    let native: Value = app
        .get_appointment(&key, &appointment_id)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(native["status"], "scheduled");
    assert_eq!(native["customer"]["phone"], "+12223334444");
    assert_eq!(native["location"], "West Side Mechanics");
    assert_eq!(native["reminders"][0]["channel"], "sms");
    assert_eq!(native["reminders"][0]["state"], "scheduled");
    app.stop().await;
}

#[tokio::test]
async fn the_scheduler_fires_reminder_due_sms_naming_the_participant() {
    let app = TestApp::spawn().await;
    let scheduler_env = Env::from_pairs(app.env.service_env())
        .with("SCHEDULER_POLL_MS", "100")
        .with("HTTP_PORT", "0");
    let scheduler = reminder_scheduler::Application::build(
        reminder_scheduler::Config::from_env(&scheduler_env).unwrap(),
    )
    .await
    .unwrap();
    let stop_scheduler = CancellationToken::new();
    let scheduler_task =
        tokio::spawn(scheduler.run_until_stopped(stop_scheduler.clone().cancelled_owned()));
    let mut due = Observer::bind(&app.env, &["reminder.due.sms"]).await;
    let (_, key) = app.create_tenant("Garage").await;
    // Round the clock, so the sending window does not defer the SMS when the test runs at
    // night in the recipient's zone.
    let (status, body) = app
        .put_json(
            &key,
            "/v1/settings/reminders",
            &json!({"callingHours": {"start": "00:00", "end": "24:00"}}),
        )
        .await;
    assert_eq!(status, 200, "{body}");

    // An hour and ten seconds ahead with a one-hour window: due in ten seconds, time for
    // the settings above to reach the scheduler first (seconds are accepted).
    let pacific = FixedOffset::west_opt(8 * 3600).unwrap();
    let time = (Utc::now() + chrono::Duration::seconds(3610))
        .with_timezone(&pacific)
        .format("%Y-%m-%dT%H:%M:%S-08:00")
        .to_string();
    let id = create(
        &app,
        &key,
        &json!({"contact_number": "12223334444", "appointment_time": time,
                "notify_window": 1, "location": "West Side Mechanics", "participant": "Joe"}),
    )
    .await;
    let (appointment_id, sms_reminder_id) = native_ids(&app, &id).await;

    let (kind, payload) = due.next(Duration::from_secs(20)).await;
    assert_eq!(kind, v1::ReminderDue::TYPE);
    let fired: v1::ReminderDue = decode(&payload);
    assert_eq!(fired.reminder_id, sms_reminder_id);
    assert_eq!(fired.appointment_id, appointment_id);
    assert_eq!(fired.channel(), v1::Channel::Sms);
    assert_eq!(fired.participant, "Joe");
    assert_eq!(fired.location, "West Side Mechanics");
    assert_eq!(fired.business_time_zone, "Etc/GMT+8");
    assert_eq!(fired.recipient.unwrap().phone_e164, "+12223334444");

    stop_scheduler.cancel();
    scheduler_task.await.unwrap().unwrap();
    app.stop().await;
}

#[tokio::test]
async fn several_reminders_for_one_number_are_listed_oldest_first() {
    let app = TestApp::spawn().await;
    let (_, key) = app.create_tenant("Garage").await;
    let (body, start) = seed_example();
    let first = create(&app, &key, &body).await;
    let (later, later_start) = pacific_time(chrono::Duration::days(4));
    let second = create(
        &app,
        &key,
        &json!({"contact_number": "12223334444", "appointment_time": later.replace("-0800", "-08:00"),
                "notify_window": 24, "participant": "Joe"}),
    )
    .await;
    assert_ne!(first, second);

    let (status, list) = app.get_json(&key, "/reminder").await;
    assert_eq!(status, 200, "{list}");
    let reminders = list["reminders"].as_array().unwrap();
    assert_eq!(reminders.len(), 2);
    assert_eq!(reminders[0]["reminder_id"], first.as_str());
    assert_eq!(reminders[0]["appt_sys_dt"], naive(start));
    assert_eq!(reminders[1]["reminder_id"], second.as_str());
    assert_eq!(reminders[1]["contact_number"], "12223334444");
    assert_eq!(reminders[1]["participant"], "Joe");
    assert_eq!(reminders[1]["location"], Value::Null);
    assert_eq!(
        reminders[1]["notify_sys_dt"],
        naive(later_start - chrono::Duration::hours(24))
    );
    let (_, single) = app.get_json(&key, &format!("/reminder/{second}")).await;
    assert_eq!(&reminders[1], &single, "a list item is the single reminder");

    let (status, page) = app.get_json(&key, "/reminder?limit=1&offset=1").await;
    assert_eq!(status, 200);
    assert_eq!(page["reminders"].as_array().unwrap().len(), 1);
    assert_eq!(page["reminders"][0]["reminder_id"], second.as_str());
    for bad in [
        "/reminder?limit=0",
        "/reminder?limit=x",
        "/reminder?offset=-1",
    ] {
        let (status, body) = app.get_json(&key, bad).await;
        assert_eq!(status, 400, "{bad}: {body}");
        assert!(
            body["message"]
                .as_str()
                .unwrap()
                .starts_with("Unable to read reminders.")
        );
    }
    app.stop().await;
}

#[tokio::test]
async fn every_validation_rule_is_a_400_naming_the_field() {
    let app = TestApp::spawn().await;
    let (_, key) = app.create_tenant("Garage").await;
    let (valid, _) = seed_example();
    let with = |field: &str, value: Value| {
        let mut body = valid.clone();
        body[field] = value;
        body
    };
    let without = |field: &str| {
        let mut body = valid.clone();
        body.as_object_mut().unwrap().remove(field);
        body
    };
    let (past, _) = pacific_time(-chrono::Duration::hours(1));
    let time = valid["appointment_time"].as_str().unwrap().to_owned();
    let cases = [
        (without("contact_number"), "contact_number is required"),
        (
            with("contact_number", json!(2223334444_u64)),
            "contact_number must be an 11-digit",
        ),
        (
            with("contact_number", json!("2223334444")),
            "contact_number must be an 11-digit",
        ),
        (
            with(
                "contact_number",
                json!("hello world this is not a phone number"),
            ),
            "contact_number",
        ),
        (
            with("contact_number", json!("10003334444")),
            "contact_number is not a valid",
        ),
        (without("appointment_time"), "appointment_time is required"),
        (
            with("appointment_time", json!(&time[..16])),
            "appointment_time must end with a UTC offset",
        ),
        (
            with("appointment_time", json!(time.replace('T', " "))),
            "appointment_time must be an ISO 8601",
        ),
        (
            with("appointment_time", json!(20_160_706)),
            "appointment_time must be a string",
        ),
        (
            with("appointment_time", json!(past)),
            "appointment_time must be in the future",
        ),
        (without("notify_window"), "notify_window is required"),
        (
            with("notify_window", json!("abc")),
            "notify_window must be a whole number",
        ),
        (
            with("notify_window", json!(1.5)),
            "notify_window must be a whole number",
        ),
        (
            with("notify_window", json!(-1)),
            "notify_window must not be negative",
        ),
        (
            with("notify_window", json!("-1")),
            "notify_window must not be negative",
        ),
        (
            with("location", json!("x".repeat(129))),
            "location must be at most 128 characters",
        ),
        (with("location", json!(12)), "location must be a string"),
        (
            with("participant", json!("x".repeat(257))),
            "participant must be at most 256 characters",
        ),
        (json!([valid.clone()]), "the body must be a JSON object"),
    ];
    for (body, expected) in cases {
        let (status, answer) = app.post_json(&key, "/reminder", &body).await;
        assert_eq!(status, 400, "{body}: {answer}");
        let message = answer["message"].as_str().unwrap();
        assert!(
            message.starts_with("Unable to create a new reminder. ") && message.contains(expected),
            "{body}: {message}"
        );
        assert_eq!(answer.as_object().unwrap().len(), 1, "{answer}");
    }

    // Several failures are all named in one message.
    let (status, answer) = app
        .post_json(
            &key,
            "/reminder",
            &json!({"contact_number": 1, "notify_window": -2}),
        )
        .await;
    assert_eq!(status, 400);
    let message = answer["message"].as_str().unwrap();
    for field in ["contact_number", "appointment_time", "notify_window"] {
        assert!(message.contains(field), "{message}");
    }

    // Not JSON, or empty: a 400, never a 500, whatever the content type says.
    for (content_type, raw) in [
        ("application/json", "{not json"),
        ("text/plain", ""),
        (
            "application/x-www-form-urlencoded",
            "contact_number=12223334444",
        ),
    ] {
        let (status, answer) = post_raw(&app, &key, content_type, raw).await;
        assert_eq!(status, 400, "{raw}: {answer}");
        assert!(
            answer["message"]
                .as_str()
                .unwrap()
                .contains("the body must be a JSON object")
        );
    }
    let (status, list) = app.get_json(&key, "/reminder").await;
    assert_eq!(status, 200);
    assert_eq!(list, json!({"reminders": []}), "nothing was created");

    // Accepted beyond the original's arrow format: seconds, `Z`, `+HH:MM`, numeric strings,
    // a window of 0 (at the start), the longest texts.
    let (seconds, _) = pacific_time(chrono::Duration::days(2));
    let seconds = seconds.replace("-0800", ":30-0800");
    let utc = (Utc::now() + chrono::Duration::days(2))
        .format("%Y-%m-%dT%H:%MZ")
        .to_string();
    let colon = time.replace("-0800", "-08:00");
    for body in [
        with("appointment_time", json!(seconds)),
        with("appointment_time", json!(utc)),
        with("appointment_time", json!(colon)),
        with("notify_window", json!(0)),
        with("contact_number", json!("12223334444")),
        with("location", json!("é".repeat(128))),
        with("participant", json!("x".repeat(256))),
    ] {
        let (status, answer) = app.post_json(&key, "/reminder", &body).await;
        assert_eq!(status, 200, "{body}: {answer}");
    }
    let (_, list) = app.get_json(&key, "/reminder").await;
    let reminders = list["reminders"].as_array().unwrap();
    assert_eq!(reminders.len(), 7);
    assert!(
        reminders[0]["appt_user_dt"]
            .as_str()
            .unwrap()
            .ends_with(":30"),
        "seconds are kept: {}",
        reminders[0]
    );
    assert_eq!(
        reminders[3]["notify_sys_dt"], reminders[3]["appt_sys_dt"],
        "a window of 0 sends at the start"
    );
    app.stop().await;
}

#[tokio::test]
async fn delete_cancels_the_appointment_so_the_sms_never_goes_out() {
    let app = TestApp::spawn().await;
    let (tenant_id, key) = app.create_tenant("Garage").await;
    let mut cancelled = Observer::bind(&app.env, &["appointment.cancelled"]).await;
    let (body, _) = seed_example();
    let id = create(&app, &key, &body).await;
    let (appointment_id, _) = native_ids(&app, &id).await;

    let (status, answer) = app.delete(&key, &format!("/reminder/{id}")).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(
        answer,
        json!({"message": format!("Successfully deleted reminder with id {id}."), "reminder_id": id})
    );
    let (kind, payload) = cancelled.next(Duration::from_secs(10)).await;
    assert_eq!(kind, v1::AppointmentCancelled::TYPE);
    let event: v1::AppointmentCancelled = decode(&payload);
    assert_eq!(event.appointment_id, appointment_id);
    assert_eq!(event.tenant_id, tenant_id.to_string());

    let native: Value = app
        .get_appointment(&key, &appointment_id)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(native["status"], "cancelled");
    assert_eq!(native["reminders"][0]["state"], "cancelled");

    // Deleted as in the original: unknown from now on.
    let unknown = json!({"message": "unknown reminder id"});
    assert_eq!(
        app.get_json(&key, &format!("/reminder/{id}")).await,
        (404, unknown.clone())
    );
    assert_eq!(
        app.delete(&key, &format!("/reminder/{id}")).await,
        (404, unknown.clone())
    );
    assert_eq!(
        app.get_json(&key, "/reminder").await.1,
        json!({"reminders": []})
    );
    let random = Uuid::new_v4().simple().to_string();
    assert_eq!(
        app.delete(&key, &format!("/reminder/{random}")).await,
        (404, unknown.clone())
    );
    assert_eq!(
        app.get_json(&key, "/reminder/not-an-id").await,
        (404, unknown)
    );
    app.stop().await;
}

#[tokio::test]
async fn outcomes_show_as_reminder_sent_will_attend_and_confirm_sent() {
    let app = TestApp::spawn().await;
    let (tenant_id, key) = app.create_tenant("Garage").await;
    let (body, _) = seed_example();
    let fields = async |id: &str| {
        let (status, reminder) = app.get_json(&key, &format!("/reminder/{id}")).await;
        assert_eq!(status, 200, "{reminder}");
        (
            reminder["reminder_sent"].clone(),
            reminder["will_attend"].clone(),
            reminder["confirm_sent"].clone(),
        )
    };

    let yes = create(&app, &key, &body).await;
    let (appointment, sms) = native_ids(&app, &yes).await;
    report_sms(&app, tenant_id, &sms, &appointment, Kind::Sent, 1).await;
    assert_eq!(fields(&yes).await, (json!(true), json!(null), json!(false)));
    report_sms(&app, tenant_id, &sms, &appointment, Kind::Unparsable, 1).await;
    assert_eq!(fields(&yes).await, (json!(true), json!(null), json!(false)));
    report_sms(&app, tenant_id, &sms, &appointment, Kind::Confirmed, 1).await;
    assert_eq!(fields(&yes).await, (json!(true), json!(true), json!(true)));
    let native: Value = app
        .get_appointment(&key, &appointment)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(native["status"], "confirmed");

    let no = create(&app, &key, &body).await;
    let (appointment, sms) = native_ids(&app, &no).await;
    report_sms(&app, tenant_id, &sms, &appointment, Kind::Sent, 1).await;
    report_sms(&app, tenant_id, &sms, &appointment, Kind::Cancelled, 1).await;
    assert_eq!(fields(&no).await, (json!(true), json!(false), json!(true)));
    let native: Value = app
        .get_appointment(&key, &appointment)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(native["status"], "cancelled");

    let opted_out = create(&app, &key, &body).await;
    let (appointment, sms) = native_ids(&app, &opted_out).await;
    report_sms(&app, tenant_id, &sms, &appointment, Kind::Suppressed, 1).await;
    assert_eq!(
        fields(&opted_out).await,
        (json!(false), json!(null), json!(false)),
        "a suppressed SMS was never sent"
    );
    app.stop().await;
}

#[tokio::test]
async fn tenants_never_see_each_others_reminders_and_a_key_is_required() {
    let app = TestApp::spawn().await;
    let (_, key_a) = app.create_tenant("Garage A").await;
    let (_, key_b) = app.create_tenant("Garage B").await;
    let (body, _) = seed_example();
    let id = create(&app, &key_a, &body).await;

    let unknown = json!({"message": "unknown reminder id"});
    assert_eq!(
        app.get_json(&key_b, &format!("/reminder/{id}")).await,
        (404, unknown.clone())
    );
    assert_eq!(
        app.delete(&key_b, &format!("/reminder/{id}")).await,
        (404, unknown)
    );
    assert_eq!(
        app.get_json(&key_b, "/reminder").await.1,
        json!({"reminders": []})
    );
    assert_eq!(
        app.get_json(&key_a, &format!("/reminder/{id}")).await.0,
        200,
        "B's DELETE did nothing"
    );

    let response = app
        .client
        .post(format!("{}/reminder", app.address))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
    assert_eq!(response.headers()["www-authenticate"], "Bearer");
    let answer: Value = response.json().await.unwrap();
    assert!(
        answer["message"]
            .as_str()
            .unwrap()
            .starts_with("Not authenticated")
    );
    let (status, answer) = app.get_json("attk_unknown", "/reminder").await;
    assert_eq!(status, 401);
    assert_eq!(
        answer,
        json!({"message": "The API key is unknown or revoked."})
    );

    let (status, answer) = app
        .send(reqwest::Method::PUT, &key_a, "/reminder", Some(&body))
        .await;
    assert_eq!(
        (status, answer),
        (405, json!({"message": "method not allowed"}))
    );
    app.stop().await;
}
