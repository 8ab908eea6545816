//! Reminder policies of appointment types: saved and linted, planned into bookings with
//! their texts, follow-ups and fallbacks, calendar-day offsets across DST, no-shows, and
//! eligibility from the channels' opt-outs.

use std::time::Duration;

use attend_events::v1;
use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::helpers::{Observer, TestApp, decode, due, next_of, problem_fields};
use crate::seed::{CatalogSpec, date_in, seed_catalog};

const SCHEDULED: &str = "attend.appointment.scheduled.v1";
const NO_SHOW: &str = "attend.appointment.no_show.v1";

fn full_policy() -> Value {
    json!({
        "reminders": [
            {"channel": "voice", "offset": "P1D", "fallback": "sms"},
            {"channel": "sms", "offset": "PT3H"}
        ],
        "follow_up": {"offset": "PT2H"},
        "templates": [
            {"channel": "sms", "kind": "reminder", "language": "en",
             "text": "[{business}] Hi {first_name}, see you {datetime} at {metadata.room}. Reply Yes or No."},
            {"channel": "sms", "kind": "reminder", "language": "de",
             "text": "[{business}] Hallo {first_name}, bis {datetime}. JA oder NEIN?"},
            {"channel": "voice", "kind": "reminder", "language": "en",
             "text": "Your visit to {business} is on {date} at {time}."},
            {"channel": "sms", "kind": "follow_up", "language": "en",
             "text": "[{business}] Thanks for coming, {first_name}!"},
            {"channel": "sms", "kind": "no_show", "language": "en",
             "text": "[{business}] We missed you, {first_name}. Call us to rebook."}
        ]
    })
}

#[tokio::test]
async fn a_policy_is_saved_read_replaced_and_deleted_and_every_bad_field_is_named() {
    let app = TestApp::spawn().await;
    let (tenant_id, key) = app.create_tenant("Praxis").await;
    let catalog = seed_catalog(&app, tenant_id, CatalogSpec::default()).await;
    let path = format!("/v1/appointment-types/{}/reminder-policy", catalog.massage);

    let (status, missing) = app.get_json(&key, &path).await;
    assert_eq!(status, 404, "{missing}");

    let (status, saved) = app.put_json(&key, &path, &full_policy()).await;
    assert_eq!(status, 200, "{saved}");
    assert_eq!(saved["appointment_type_id"], catalog.massage.to_string());
    assert_eq!(saved["no_show_message"], true);
    assert_eq!(saved["reminders"][0]["fallback"], "sms");
    let (status, read) = app.get_json(&key, &path).await;
    assert_eq!(status, 200);
    assert_eq!(read["templates"], saved["templates"]);
    assert_eq!(
        read["follow_up"],
        json!({"channel": "sms", "offset": "PT2H"})
    );

    let (status, problem) = app
        .put_json(
            &key,
            &path,
            &json!({
                "reminders": [{"channel": "sms", "offset": "P1M"}],
                "follow_up": {"channel": "voice", "offset": "PT2H"},
                "templates": [
                    {"channel": "sms", "kind": "reminder", "language": "en", "text": "Hi {nickname}"},
                    {"channel": "sms", "kind": "follow_up", "language": "en", "text": "x".repeat(600)},
                    {"channel": "voice", "kind": "no_show", "language": "en", "text": "Missed"}
                ]
            }),
        )
        .await;
    assert_eq!(status, 422, "{problem}");
    assert_eq!(
        problem_fields(&problem),
        [
            "reminders[0].offset",
            "follow_up.channel",
            "templates[0].text",
            "templates[1].text",
            "templates[2].kind"
        ],
        "{problem}"
    );
    // The bad save changed nothing.
    let (_, unchanged) = app.get_json(&key, &path).await;
    assert_eq!(unchanged["templates"], saved["templates"]);

    // Another tenant sees no such type.
    let (_, other_key) = app.create_tenant("Other").await;
    let (status, _) = app.get_json(&other_key, &path).await;
    assert_eq!(status, 404);
    let (status, _) = app.put_json(&other_key, &path, &full_policy()).await;
    assert_eq!(status, 404);

    let (status, _) = app.delete(&key, &path).await;
    assert_eq!(status, 204);
    let (status, _) = app.get_json(&key, &path).await;
    assert_eq!(status, 404);
    app.stop().await;
}

#[tokio::test]
async fn a_slot_booking_follows_its_types_policy_with_texts_in_the_customers_language() {
    let app = TestApp::spawn().await;
    let (tenant_id, key) = app.create_tenant("Praxis").await;
    let catalog = seed_catalog(&app, tenant_id, CatalogSpec::default()).await;
    let path = format!("/v1/appointment-types/{}/reminder-policy", catalog.massage);
    let (status, _) = app.put_json(&key, &path, &full_policy()).await;
    assert_eq!(status, 200);
    let mut observer = Observer::bind(&app.env, &["appointment.scheduled"]).await;

    let day = date_in(3, chrono_tz::Europe::Berlin);
    let (status, slots) = app
        .get_json(
            &key,
            &format!(
                "/v1/slots?product_id={}&date={day}&time_zone=Europe/Berlin",
                catalog.massage_30
            ),
        )
        .await;
    assert_eq!(status, 200, "{slots}");
    let (status, booked) = app
        .post_json(
            &key,
            "/v1/bookings",
            &json!({
                "product_id": catalog.massage_30,
                "slot_id": slots["items"][0]["slot_id"],
                "booker": {"first_name": "Greta", "last_name": "Maier", "phone": "+4915112345678",
                           "email": "greta@example.com", "date_of_birth": "1980-02-03"}
            }),
        )
        .await;
    assert_eq!(status, 201, "{booked}");
    let scheduled: v1::AppointmentScheduled = decode(&next_of(&mut observer, SCHEDULED).await);
    let start: DateTime<Utc> = booked["start"].as_str().unwrap().parse().unwrap();
    let end: DateTime<Utc> = booked["end"].as_str().unwrap().parse().unwrap();
    let plans = &scheduled.reminders;
    assert_eq!(plans.len(), 3, "{plans:?}");

    // The entity's default (a day before, elapsed) is replaced by the policy.
    assert_eq!(plans[0].channel(), v1::Channel::Voice);
    assert_eq!(plans[0].kind(), v1::ReminderKind::Reminder);
    assert_eq!(
        plans[0].template,
        "Your visit to {business} is on {date} at {time}."
    );
    assert_eq!(plans[0].fallback_channel(), v1::Channel::Sms);
    // The entity speaks German, so the booker does: the German SMS text is the fallback's.
    assert_eq!(
        plans[0].fallback_template,
        "[{business}] Hallo {first_name}, bis {datetime}. JA oder NEIN?"
    );
    assert_eq!(plans[1].channel(), v1::Channel::Sms);
    assert_eq!(due(&plans[1]), start - chrono::Duration::hours(3));
    assert_eq!(plans[2].kind(), v1::ReminderKind::FollowUp);
    assert_eq!(due(&plans[2]), end + chrono::Duration::hours(2));
    assert_eq!(
        plans[2].template,
        "[{business}] Thanks for coming, {first_name}!"
    );
    let details = scheduled.appointment.unwrap();
    let recipient = details.recipient.unwrap();
    assert_eq!(
        (recipient.first_name.as_str(), recipient.last_name.as_str()),
        ("Greta", "Maier")
    );

    let (_, appointment) = app
        .get_json(
            &key,
            &format!("/v1/appointments/{}", booked["id"].as_str().unwrap()),
        )
        .await;
    let kinds: Vec<&str> = appointment["reminders"]
        .as_array()
        .unwrap()
        .iter()
        .map(|reminder| reminder["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["reminder", "reminder", "follow_up"]);
    app.stop().await;
}

/// Books a free-form appointment of `type_id` at `start` in New York, with `extra` merged in.
async fn book_free_form(
    app: &TestApp,
    key: &str,
    type_id: Uuid,
    start: &str,
    extra: Value,
) -> (u16, Value) {
    let mut body = json!({
        "customer": {"name": "Ana Ruiz", "phone": "+12015550142"},
        "start": start,
        "time_zone": "America/New_York",
        "appointment_type_id": type_id,
        "metadata": {"room": "3B", "floor": 2}
    });
    if let (Some(body), Some(extra)) = (body.as_object_mut(), extra.as_object()) {
        body.extend(extra.clone());
    }
    app.post_json(key, "/v1/appointments", &body).await
}

/// Free-form bookings read their type and its policy through a cache; an edit through this
/// process shows in the very next booking.
#[tokio::test]
async fn a_free_form_booking_plans_with_the_policy_edited_just_before() {
    let app = TestApp::spawn().await;
    let (tenant_id, key) = app.create_tenant("Clinic").await;
    let catalog = seed_catalog(&app, tenant_id, CatalogSpec::default()).await;
    let path = format!("/v1/appointment-types/{}/reminder-policy", catalog.massage);
    let start = (Utc::now() + chrono::Duration::days(3)).to_rfc3339();
    let planned = |booked: &Value| -> Vec<String> {
        booked["reminders"]
            .as_array()
            .unwrap_or_else(|| panic!("no reminders in {booked}"))
            .iter()
            .map(|reminder| reminder["channel"].as_str().unwrap_or_default().to_owned())
            .collect()
    };

    let one_sms = json!({"reminders": [{"channel": "sms", "offset": "PT3H"}]});
    let (status, saved) = app.put_json(&key, &path, &one_sms).await;
    assert_eq!(status, 200, "{saved}");
    let (status, booked) = book_free_form(&app, &key, catalog.massage, &start, json!({})).await;
    assert_eq!(status, 201, "{booked}");
    assert_eq!(planned(&booked), ["sms"]);

    let (status, _) = app.delete(&key, &path).await;
    assert_eq!(status, 204);
    let (status, booked) = book_free_form(&app, &key, catalog.massage, &start, json!({})).await;
    assert_eq!(status, 201, "{booked}");
    assert_eq!(planned(&booked), Vec::<String>::new());

    let voice_then_sms = json!({"reminders": [
        {"channel": "voice", "offset": "P1D"},
        {"channel": "sms", "offset": "PT3H"}
    ]});
    let (status, saved) = app.put_json(&key, &path, &voice_then_sms).await;
    assert_eq!(status, 200, "{saved}");
    let (status, booked) = book_free_form(&app, &key, catalog.massage, &start, json!({})).await;
    assert_eq!(status, 201, "{booked}");
    assert_eq!(planned(&booked), ["voice", "sms"]);
    app.stop().await;
}

#[tokio::test]
async fn a_day_before_keeps_the_wall_clock_time_across_the_dst_change_and_24_hours_does_not() {
    let app = TestApp::spawn().await;
    let (tenant_id, key) = app.create_tenant("Clinic").await;
    let catalog = seed_catalog(&app, tenant_id, CatalogSpec::default()).await;
    let path = format!("/v1/appointment-types/{}/reminder-policy", catalog.massage);
    let mut observer = Observer::bind(&app.env, &["appointment.scheduled"]).await;

    // New York springs forward on 2027-03-14 at 02:00; the appointment is at 10:00 that day.
    let start = "2027-03-14T10:00:00-04:00";
    for (offset, expected) in [
        ("P1D", "2027-03-13T15:00:00Z"),   // 10:00 EST, 23 hours before
        ("PT24H", "2027-03-13T14:00:00Z"), // 09:00 EST, 24 hours before
    ] {
        let policy = json!({"reminders": [{"channel": "sms", "offset": offset}]});
        let (status, saved) = app.put_json(&key, &path, &policy).await;
        assert_eq!(status, 200, "{saved}");
        let (status, booked) = book_free_form(&app, &key, catalog.massage, start, json!({})).await;
        assert_eq!(status, 201, "{booked}");
        assert_eq!(booked["reminders"][0]["due_at"], expected, "{offset}");
        let scheduled: v1::AppointmentScheduled = decode(&next_of(&mut observer, SCHEDULED).await);
        assert_eq!(
            due(&scheduled.reminders[0]),
            expected.parse::<DateTime<Utc>>().unwrap(),
            "{offset}"
        );
    }
    // The same rule for reminders the request names itself.
    let (status, booked) = book_free_form(
        &app,
        &key,
        catalog.massage,
        start,
        json!({"reminders": [{"channel": "sms", "offset": "P1D"}]}),
    )
    .await;
    assert_eq!(status, 201, "{booked}");
    assert_eq!(booked["reminders"][0]["due_at"], "2027-03-13T15:00:00Z");
    app.stop().await;
}

#[tokio::test]
async fn a_free_form_appointment_of_a_type_carries_its_metadata_business_and_plan() {
    let app = TestApp::spawn().await;
    let (tenant_id, key) = app.create_tenant("Clinic Group").await;
    let catalog = seed_catalog(&app, tenant_id, CatalogSpec::default()).await;
    let path = format!("/v1/appointment-types/{}/reminder-policy", catalog.massage);
    let (status, _) = app.put_json(&key, &path, &full_policy()).await;
    assert_eq!(status, 200);
    let mut observer = Observer::bind(&app.env, &["appointment.scheduled"]).await;

    let start = (Utc::now() + chrono::Duration::days(3)).to_rfc3339();
    let (status, booked) = book_free_form(
        &app,
        &key,
        catalog.massage,
        &start,
        json!({"follow_up": {"offset": "P1D"}}),
    )
    .await;
    assert_eq!(status, 201, "{booked}");
    assert_eq!(booked["metadata"], json!({"room": "3B", "floor": "2"}));
    let scheduled: v1::AppointmentScheduled = decode(&next_of(&mut observer, SCHEDULED).await);
    let details = scheduled.appointment.unwrap();
    assert_eq!(details.metadata.get("room").map(String::as_str), Some("3B"));
    // The type's entity is the business, not the tenant.
    assert_ne!(details.business_name, "Clinic Group");
    assert_eq!(details.business_time_zone, "Europe/Berlin");
    let kinds: Vec<_> = scheduled
        .reminders
        .iter()
        .map(v1::ReminderPlan::kind)
        .collect();
    assert_eq!(
        kinds,
        [
            v1::ReminderKind::Reminder,
            v1::ReminderKind::Reminder,
            v1::ReminderKind::FollowUp
        ]
    );
    // The request's follow-up replaced the policy's: a day after the end.
    let end: DateTime<Utc> = booked["end"].as_str().unwrap().parse().unwrap();
    assert_eq!(
        due(&scheduled.reminders[2]),
        end + chrono::Duration::days(1)
    );
    assert_eq!(
        scheduled.reminders[1].template,
        "[{business}] Hi {first_name}, see you {datetime} at {metadata.room}. Reply Yes or No."
    );

    // Bad metadata and an unknown type are named.
    let (status, problem) = book_free_form(
        &app,
        &key,
        Uuid::now_v7(),
        &start,
        json!({"metadata": {"bad-key": "x", "nested": {"a": 1}}}),
    )
    .await;
    assert_eq!(status, 422, "{problem}");
    assert_eq!(
        problem_fields(&problem),
        ["metadata.bad-key", "metadata.nested"]
    );
    let (status, problem) = book_free_form(&app, &key, Uuid::now_v7(), &start, json!({})).await;
    assert_eq!(status, 422, "{problem}");
    assert_eq!(problem_fields(&problem), ["appointment_type_id"]);
    app.stop().await;
}

/// Waits until booking-service's copy of the opt-outs says whether `phone` opted out.
pub async fn wait_for_opt_out(app: &TestApp, tenant_id: Uuid, phone: &str, opted_out: bool) {
    attend_test_support::wait_until(Duration::from_secs(10), "the opt-out copy", || async {
        use diesel_async::RunQueryDsl;
        #[derive(diesel::QueryableByName)]
        struct Count {
            #[diesel(sql_type = diesel::sql_types::BigInt)]
            count: i64,
        }
        let mut connection = app.env.connect("booking").await.ok()?;
        let found: Count = diesel::sql_query(format!(
            "SELECT count(*) AS count FROM subscriber_opt_outs \
             WHERE tenant_id = '{tenant_id}' AND phone_e164 = '{phone}'"
        ))
        .get_result(&mut connection)
        .await
        .ok()?;
        ((found.count > 0) == opted_out).then_some(())
    })
    .await
    .unwrap();
}

#[tokio::test]
async fn eligible_only_refuses_a_customer_who_opted_out_of_a_planned_channel() {
    let app = TestApp::spawn().await;
    let (tenant_id, key) = app.create_tenant("Clinic").await;
    let catalog = seed_catalog(&app, tenant_id, CatalogSpec::default()).await;
    let phone = "+12015550142";
    let start = (Utc::now() + chrono::Duration::days(3)).to_rfc3339();
    let sms_only =
        json!({"reminders": [{"channel": "sms", "offset": "PT3H"}], "eligible_only": true});

    app.publish(
        Uuid::now_v7(),
        tenant_id,
        &v1::SubscriberOptedOut {
            tenant_id: tenant_id.to_string(),
            phone_e164: phone.into(),
            channels: vec![v1::Channel::Sms.into()],
            source: "sms_keyword".into(),
            keyword: "STOP".into(),
            occurred_at: Some(attend_events::to_timestamp(Utc::now())),
        },
    )
    .await;
    wait_for_opt_out(&app, tenant_id, phone, true).await;

    let (status, problem) =
        book_free_form(&app, &key, catalog.massage, &start, sms_only.clone()).await;
    assert_eq!(status, 422, "{problem}");
    assert_eq!(problem_fields(&problem), ["customer.phone"]);
    assert!(
        problem.to_string().contains("opted out of sms"),
        "{problem}"
    );
    // A voice-only plan does not need SMS consent; without eligible_only it books anyway
    // (the SMS channel then suppresses the text).
    let voice_only =
        json!({"reminders": [{"channel": "voice", "offset": "PT3H"}], "eligible_only": true});
    let (status, _) = book_free_form(&app, &key, catalog.massage, &start, voice_only).await;
    assert_eq!(status, 201);
    let lenient = json!({"reminders": [{"channel": "sms", "offset": "PT3H"}]});
    let (status, _) = book_free_form(&app, &key, catalog.massage, &start, lenient).await;
    assert_eq!(status, 201);

    app.publish(
        Uuid::now_v7(),
        tenant_id,
        &v1::SubscriberOptedIn {
            tenant_id: tenant_id.to_string(),
            phone_e164: phone.into(),
            channels: vec![v1::Channel::Sms.into(), v1::Channel::Voice.into()],
            source: "sms_keyword".into(),
            keyword: "START".into(),
            occurred_at: Some(attend_events::to_timestamp(Utc::now())),
        },
    )
    .await;
    wait_for_opt_out(&app, tenant_id, phone, false).await;
    let (status, booked) = book_free_form(&app, &key, catalog.massage, &start, sms_only).await;
    assert_eq!(status, 201, "{booked}");
    app.stop().await;
}

#[tokio::test]
async fn a_no_show_drops_the_follow_up_and_sends_the_no_show_message_once() {
    let app = TestApp::spawn().await;
    let (tenant_id, key) = app.create_tenant("Clinic").await;
    let catalog = seed_catalog(&app, tenant_id, CatalogSpec::default()).await;
    let path = format!("/v1/appointment-types/{}/reminder-policy", catalog.massage);
    let (status, _) = app.put_json(&key, &path, &full_policy()).await;
    assert_eq!(status, 200);
    let mut observer = Observer::bind(&app.env, &["appointment.no_show"]).await;

    let start = Utc::now() + chrono::Duration::seconds(2);
    let (status, booked) = book_free_form(
        &app,
        &key,
        catalog.massage,
        &start.to_rfc3339(),
        json!({"reminders": []}),
    )
    .await;
    assert_eq!(status, 201, "{booked}");
    let id = booked["id"].as_str().unwrap().to_owned();
    assert_eq!(booked["reminders"][0]["kind"], "follow_up");
    let no_show_path = format!("/v1/appointments/{id}/no-show");

    let (status, problem) = app.post_json(&key, &no_show_path, &json!({})).await;
    assert_eq!(status, 409, "{problem}");
    assert_eq!(problem["code"], "appointment_not_started");

    tokio::time::sleep_until(tokio::time::Instant::now() + Duration::from_millis(2100)).await;
    let (status, marked) = app.post_json(&key, &no_show_path, &json!({})).await;
    assert_eq!(status, 200, "{marked}");
    assert_eq!(marked["status"], "no_show");
    let reminders = marked["reminders"].as_array().unwrap();
    let states: Vec<(&str, &str)> = reminders
        .iter()
        .map(|reminder| {
            (
                reminder["kind"].as_str().unwrap(),
                reminder["state"].as_str().unwrap(),
            )
        })
        .collect();
    // Earliest due first: the no-show message (now), then the dropped follow-up.
    assert_eq!(
        states,
        [("no_show", "scheduled"), ("follow_up", "cancelled")]
    );

    let event: v1::AppointmentNoShow = decode(&next_of(&mut observer, NO_SHOW).await);
    let message = event.message.unwrap();
    assert_eq!(message.kind(), v1::ReminderKind::NoShow);
    assert_eq!(message.channel(), v1::Channel::Sms);
    assert_eq!(
        message.template,
        "[{business}] We missed you, {first_name}. Call us to rebook."
    );
    assert_eq!(event.appointment.unwrap().appointment_id, id);

    // Recording it again changes nothing and publishes nothing.
    let (status, again) = app.post_json(&key, &no_show_path, &json!({})).await;
    assert_eq!(status, 200);
    assert_eq!(again["reminders"].as_array().unwrap().len(), 2);
    assert!(observer.try_next(Duration::from_secs(1)).await.is_none());
    // A no-show is final: it can be neither cancelled nor confirmed away.
    let (status, _) = app
        .post_json(&key, &format!("/v1/appointments/{id}/cancel"), &json!({}))
        .await;
    assert_eq!(status, 409);
    app.stop().await;
}
