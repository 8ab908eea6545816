//! The `/events/reminders` dialect with the seed's sample requests (adapted to a real phone,
//! a type created through the API and a future date): create, duplicate, update, cancel,
//! no-show, defaults, eligibility, and the status codes 200, 400, 401 and 404.

use std::time::Duration;

use attend_events::v1;
use chrono::{DateTime, NaiveDateTime, TimeZone, Utc};
use chrono_tz::America::New_York;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::helpers::{Observer, TestApp, decode, due, next_of};
use crate::reminder_policies::wait_for_opt_out;
use crate::seed::{CatalogSpec, seed_catalog};

/// A local New York date-time `days` from now at 16:50, as the seed writes it.
fn event_date_time(days: i64) -> String {
    let day = (Utc::now().with_timezone(&New_York) + chrono::Duration::days(days)).date_naive();
    format!("{day}T16:50:00")
}

fn instant(local: &str) -> DateTime<Utc> {
    let local = NaiveDateTime::parse_from_str(local, "%Y-%m-%dT%H:%M:%S").unwrap();
    New_York
        .from_local_datetime(&local)
        .earliest()
        .unwrap()
        .with_timezone(&Utc)
}

/// The seed's sample create request.
fn sample(event_type: Uuid, when: &str) -> Value {
    json!({
        "externalEventId": "12345",
        "phone": "2015550123",
        "eventType": {"uuid": event_type},
        "emailAddress": "subscriber@example.com",
        "remindTimeOffset": "PT1H",
        "followUpTimeOffset": "PT2H",
        "eventDateTime": when,
        "subscriberTimeZone": "America/New_York",
        "sendEligibleSubscribersOnly": true,
        "metadata": {"eventLocation": "New York"}
    })
}

#[tokio::test]
async fn the_seeds_samples_create_update_cancel_and_no_show() {
    let app = TestApp::spawn().await;
    let (tenant_id, key) = app.create_tenant("Events Inc").await;
    let catalog = seed_catalog(&app, tenant_id, CatalogSpec::default()).await;
    let mut observer = Observer::bind(
        &app.env,
        &[
            "appointment.scheduled",
            "appointment.rescheduled",
            "appointment.cancelled",
        ],
    )
    .await;

    // Create: the sample answer echoes every field with a new uuid.
    let when = event_date_time(5);
    let (status, created) = app
        .post_json(&key, "/events/reminders", &sample(catalog.massage, &when))
        .await;
    assert_eq!(status, 200, "{created}");
    let uuid = created["uuid"].as_str().unwrap().to_owned();
    assert!(uuid.parse::<Uuid>().is_ok());
    for field in [
        "externalEventId",
        "phone",
        "eventType",
        "emailAddress",
        "remindTimeOffset",
        "followUpTimeOffset",
        "eventDateTime",
        "subscriberTimeZone",
        "sendEligibleSubscribersOnly",
        "metadata",
    ] {
        assert_eq!(
            created[field],
            sample(catalog.massage, &when)[field],
            "{field}"
        );
    }
    let scheduled: v1::AppointmentScheduled =
        decode(&next_of(&mut observer, "attend.appointment.scheduled.v1").await);
    let start = instant(&when);
    let plans = &scheduled.reminders;
    assert_eq!(plans.len(), 2, "{plans:?}");
    assert_eq!(plans[0].channel(), v1::Channel::Sms);
    assert_eq!(due(&plans[0]), start - chrono::Duration::hours(1));
    assert_eq!(plans[1].kind(), v1::ReminderKind::FollowUp);
    // The original's events have no end: the follow-up counts from the event time.
    assert_eq!(due(&plans[1]), start + chrono::Duration::hours(2));
    let details = scheduled.appointment.unwrap();
    assert_eq!(
        details.metadata.get("eventLocation").map(String::as_str),
        Some("New York")
    );
    assert_eq!(details.recipient.unwrap().phone_e164, "+12015550123");

    // The same event sent twice is one reminder.
    let (status, again) = app
        .post_json(&key, "/events/reminders", &sample(catalog.massage, &when))
        .await;
    assert_eq!(status, 200);
    assert_eq!(again["uuid"], uuid.as_str());
    assert!(
        observer
            .try_next(Duration::from_millis(500))
            .await
            .is_none(),
        "a duplicate booked nothing"
    );

    // Update: the sample PUT moves the event a day and the reminder to two hours before.
    let moved = event_date_time(6);
    let (status, updated) = app
        .put_json(
            &key,
            &format!("/events/reminders/{uuid}"),
            &json!({"remindTimeOffset": "PT2H", "eventDateTime": moved}),
        )
        .await;
    assert_eq!(status, 200, "{updated}");
    assert_eq!(updated["remindTimeOffset"], "PT2H");
    assert_eq!(updated["eventDateTime"], moved.as_str());
    assert_eq!(updated["followUpTimeOffset"], "PT2H");
    assert_eq!(updated["subscriberTimeZone"], "America/New_York");
    assert_eq!(updated["metadata"], json!({"eventLocation": "New York"}));
    let rescheduled: v1::AppointmentRescheduled =
        decode(&next_of(&mut observer, "attend.appointment.rescheduled.v1").await);
    let new_start = instant(&moved);
    assert_eq!(
        due(&rescheduled.reminders[0]),
        new_start - chrono::Duration::hours(2)
    );
    assert_eq!(
        due(&rescheduled.reminders[1]),
        new_start + chrono::Duration::hours(2)
    );

    // Cancel: 200 with the reminder; again: 200 unchanged; then no update.
    let cancel_path = format!("/events/reminders/{uuid}/cancel");
    let (status, cancelled) = app.post_json(&key, &cancel_path, &json!({})).await;
    assert_eq!(status, 200, "{cancelled}");
    assert_eq!(cancelled["uuid"], uuid.as_str());
    assert_eq!(cancelled["status"], "cancelled");
    let _ = next_of(&mut observer, "attend.appointment.cancelled.v1").await;
    let (status, _) = app.post_json(&key, &cancel_path, &json!({})).await;
    assert_eq!(status, 200);
    let (status, refused) = app
        .put_json(
            &key,
            &format!("/events/reminders/{uuid}"),
            &json!({"remindTimeOffset": "PT3H"}),
        )
        .await;
    assert_eq!(status, 400, "{refused}");
    assert_eq!(refused["errors"][0]["field"], "uuid");
    app.stop().await;
}

#[tokio::test]
async fn a_no_show_is_recorded_once_the_event_started_and_sends_the_no_show_message() {
    let app = TestApp::spawn().await;
    let (tenant_id, key) = app.create_tenant("Events Inc").await;
    let catalog = seed_catalog(&app, tenant_id, CatalogSpec::default()).await;
    let mut observer = Observer::bind(&app.env, &["appointment.no_show"]).await;

    let start = (Utc::now() + chrono::Duration::seconds(3)).with_timezone(&New_York);
    let when = start.format("%Y-%m-%dT%H:%M:%S").to_string();
    let mut body = sample(catalog.massage, &when);
    body["externalEventId"] = json!("no-show-1");
    let (status, created) = app.post_json(&key, "/events/reminders", &body).await;
    assert_eq!(status, 200, "{created}");
    let uuid = created["uuid"].as_str().unwrap();
    let path = format!("/events/reminders/{uuid}/no-show");

    let (status, early) = app.post_json(&key, &path, &json!({})).await;
    assert_eq!(status, 400, "{early}");
    assert_eq!(early["errors"][0]["field"], "eventDateTime");

    tokio::time::sleep(Duration::from_millis(3500)).await;
    let (status, marked) = app.post_json(&key, &path, &json!({})).await;
    assert_eq!(status, 200, "{marked}");
    assert_eq!(marked["status"], "no_show");
    let event: v1::AppointmentNoShow =
        decode(&next_of(&mut observer, "attend.appointment.no_show.v1").await);
    let message = event.message.unwrap();
    assert_eq!(message.kind(), v1::ReminderKind::NoShow);
    assert_eq!(message.channel(), v1::Channel::Sms);
    // No policy text: the channel's built-in no-show text applies.
    assert_eq!(message.template, "");

    let (status, again) = app.post_json(&key, &path, &json!({})).await;
    assert_eq!(status, 200);
    assert_eq!(again["status"], "no_show");
    assert!(
        observer
            .try_next(Duration::from_millis(500))
            .await
            .is_none()
    );
    let (status, _) = app
        .post_json(
            &key,
            &format!("/events/reminders/{uuid}/cancel"),
            &json!({}),
        )
        .await;
    assert_eq!(status, 400);
    app.stop().await;
}

#[tokio::test]
async fn defaults_follow_the_seed_and_then_the_types_policy() {
    let app = TestApp::spawn().await;
    let (tenant_id, key) = app.create_tenant("Events Inc").await;
    let catalog = seed_catalog(&app, tenant_id, CatalogSpec::default()).await;
    let mut observer = Observer::bind(&app.env, &["appointment.scheduled"]).await;
    let when = event_date_time(5);
    let minimal = |external: &str| {
        json!({
            "externalEventId": external,
            "phone": "+12015550124",
            "eventType": {"uuid": catalog.massage},
            "eventDateTime": when,
            "subscriberTimeZone": "America/New_York"
        })
    };

    // No remindTimeOffset and no policy: an SMS three hours before.
    let (status, created) = app
        .post_json(&key, "/events/reminders", &minimal("a"))
        .await;
    assert_eq!(status, 200, "{created}");
    assert_eq!(created["remindTimeOffset"], "PT3H");
    assert_eq!(created["sendEligibleSubscribersOnly"], false);
    assert!(created.get("followUpTimeOffset").is_none());
    let scheduled: v1::AppointmentScheduled =
        decode(&next_of(&mut observer, "attend.appointment.scheduled.v1").await);
    assert_eq!(scheduled.reminders.len(), 1);
    assert_eq!(
        due(&scheduled.reminders[0]),
        instant(&when) - chrono::Duration::hours(3)
    );

    // With a policy: its plan and texts.
    let policy = json!({
        "reminders": [{"channel": "sms", "offset": "P1D"}, {"channel": "sms", "offset": "PT1H"}],
        "follow_up": {"offset": "PT4H"},
        "templates": [{"channel": "sms", "kind": "reminder", "language": "en",
                       "text": "See you {datetime} in {metadata.eventLocation}. Yes or No?"}]
    });
    let (status, _) = app
        .put_json(
            &key,
            &format!("/v1/appointment-types/{}/reminder-policy", catalog.massage),
            &policy,
        )
        .await;
    assert_eq!(status, 200);
    let (status, created) = app
        .post_json(&key, "/events/reminders", &minimal("b"))
        .await;
    assert_eq!(status, 200, "{created}");
    assert_eq!(created["remindTimeOffset"], "P1D");
    let scheduled: v1::AppointmentScheduled =
        decode(&next_of(&mut observer, "attend.appointment.scheduled.v1").await);
    let dues: Vec<DateTime<Utc>> = scheduled.reminders.iter().map(due).collect();
    let start = instant(&when);
    assert_eq!(
        dues,
        [
            instant(&event_date_time(4)),
            start - chrono::Duration::hours(1),
            start + chrono::Duration::hours(4)
        ]
    );
    assert_eq!(
        scheduled.reminders[0].template,
        "See you {datetime} in {metadata.eventLocation}. Yes or No?"
    );
    app.stop().await;
}

#[tokio::test]
async fn concurrent_duplicates_make_one_reminder() {
    let app = TestApp::spawn().await;
    let (tenant_id, key) = app.create_tenant("Events Inc").await;
    let catalog = seed_catalog(&app, tenant_id, CatalogSpec::default()).await;
    let body = sample(catalog.massage, &event_date_time(5));
    let attempts = (0..10).map(|_| app.post_json(&key, "/events/reminders", &body));
    let answers = futures_util::future::join_all(attempts).await;
    let uuids: std::collections::HashSet<String> = answers
        .iter()
        .map(|(status, answer)| {
            assert_eq!(*status, 200, "{answer}");
            answer["uuid"].as_str().unwrap().to_owned()
        })
        .collect();
    assert_eq!(uuids.len(), 1, "{uuids:?}");
    app.stop().await;
}

#[tokio::test]
async fn bad_requests_name_their_fields_and_unknown_ids_and_keys_are_refused() {
    let app = TestApp::spawn().await;
    let (tenant_id, key) = app.create_tenant("Events Inc").await;
    let catalog = seed_catalog(&app, tenant_id, CatalogSpec::default()).await;

    let (status, problem) = app
        .post_json(
            &key,
            "/events/reminders",
            &json!({
                "phone": "12",
                "eventType": {"uuid": "not-a-uuid"},
                "remindTimeOffset": "P1M",
                "followUpTimeOffset": "two hours",
                "eventDateTime": "06/01/2021 16:50",
                "subscriberTimeZone": "Mars/Olympus",
                "emailAddress": "nobody",
                "metadata": {"bad key": "x"}
            }),
        )
        .await;
    assert_eq!(status, 400, "{problem}");
    let fields: Vec<&str> = problem["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|error| error["field"].as_str().unwrap())
        .collect();
    for field in [
        "phone",
        "eventType.uuid",
        "remindTimeOffset",
        "followUpTimeOffset",
        "subscriberTimeZone",
        "emailAddress",
        "metadata.bad key",
    ] {
        assert!(fields.contains(&field), "{field} in {problem}");
    }
    let (status, problem) = app.post_json(&key, "/events/reminders", &json!({})).await;
    assert_eq!(status, 400);
    for field in ["phone", "eventType", "eventDateTime", "subscriberTimeZone"] {
        assert!(problem.to_string().contains(field), "{field} in {problem}");
    }
    // A type of another tenant, a local time the clocks skip, a past event.
    let mut body = sample(Uuid::now_v7(), &event_date_time(5));
    let (status, problem) = app.post_json(&key, "/events/reminders", &body).await;
    assert_eq!(status, 400);
    assert_eq!(problem["errors"][0]["field"], "eventType.uuid");
    body = sample(catalog.massage, "2027-03-14T02:30:00");
    let (status, problem) = app.post_json(&key, "/events/reminders", &body).await;
    assert_eq!(status, 400);
    assert_eq!(problem["errors"][0]["field"], "eventDateTime");
    body = sample(catalog.massage, "2021-01-06T16:50:00");
    let (status, problem) = app.post_json(&key, "/events/reminders", &body).await;
    assert_eq!(status, 400, "{problem}");

    // 404 for ids that name nothing (also another tenant's), 401 without a good key.
    let (_, other_key) = app.create_tenant("Other").await;
    let (_, created) = app
        .post_json(
            &key,
            "/events/reminders",
            &sample(catalog.massage, &event_date_time(5)),
        )
        .await;
    let uuid = created["uuid"].as_str().unwrap();
    for path in [
        format!("/events/reminders/{}/cancel", Uuid::now_v7()),
        "/events/reminders/1a2b3c4d5e6f7g8h9i0j/no-show".to_owned(),
    ] {
        let (status, _) = app.post_json(&key, &path, &json!({})).await;
        assert_eq!(status, 404, "{path}");
    }
    let (status, _) = app
        .post_json(
            &other_key,
            &format!("/events/reminders/{uuid}/cancel"),
            &json!({}),
        )
        .await;
    assert_eq!(status, 404);
    let (status, _) = app
        .put_json(
            &key,
            &format!("/events/reminders/{}", Uuid::now_v7()),
            &json!({}),
        )
        .await;
    assert_eq!(status, 404);
    let (status, unauthorized) = app
        .post_json("attk_wrong", "/events/reminders", &json!({}))
        .await;
    assert_eq!(status, 401, "{unauthorized}");
    assert!(
        unauthorized["message"]
            .as_str()
            .unwrap()
            .contains("Authorization")
    );
    app.stop().await;
}

#[tokio::test]
async fn send_eligible_subscribers_only_refuses_an_opted_out_subscriber() {
    let app = TestApp::spawn().await;
    let (tenant_id, key) = app.create_tenant("Events Inc").await;
    let catalog = seed_catalog(&app, tenant_id, CatalogSpec::default()).await;
    app.publish(
        Uuid::now_v7(),
        tenant_id,
        &v1::SubscriberOptedOut {
            tenant_id: tenant_id.to_string(),
            phone_e164: "+12015550123".into(),
            channels: vec![v1::Channel::Sms.into(), v1::Channel::Voice.into()],
            source: "sms_keyword".into(),
            keyword: "STOP".into(),
            occurred_at: Some(attend_events::to_timestamp(Utc::now())),
        },
    )
    .await;
    wait_for_opt_out(&app, tenant_id, "+12015550123", true).await;
    let body = sample(catalog.massage, &event_date_time(5));
    let (status, refused) = app.post_json(&key, "/events/reminders", &body).await;
    assert_eq!(status, 400, "{refused}");
    assert_eq!(refused["errors"][0]["field"], "sendEligibleSubscribersOnly");
    assert!(
        refused.to_string().contains("opted out of sms"),
        "{refused}"
    );

    // Without the flag the reminder is created (the SMS channel will suppress the text).
    let mut lenient = body.clone();
    lenient["sendEligibleSubscribersOnly"] = json!(false);
    let (status, created) = app.post_json(&key, "/events/reminders", &lenient).await;
    assert_eq!(status, 200, "{created}");
    app.stop().await;
}
