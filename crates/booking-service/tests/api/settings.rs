//! `/v1/settings/reminders`: defaults, validation naming each field, and a save publishing
//! `tenant.settings_changed` with its version through the outbox.

use std::time::Duration;

use attend_events::{Event, v1};
use serde_json::{Value, json};

use crate::helpers::{Observer, TestApp, decode, problem_fields};

const PATH: &str = "/v1/settings/reminders";

fn example() -> Value {
    json!({
        "callingHours": {"start": "08:00", "end": "21:00"},
        "voiceRetry": {"maxRetries": 2, "intervalMinutes": 15, "retryOn": ["busy", "no_answer"]},
        "voice": {"callbackNumber": "+12015550100", "templates": [
            {"name": "greeting", "language": "de", "text": "Hallo {name}, hier ist {business}."}
        ]}
    })
}

#[tokio::test]
async fn get_answers_the_defaults_before_any_save_and_needs_a_key() {
    let app = TestApp::spawn().await;
    let (_, key) = app.create_tenant("Clinic").await;
    let (status, body) = app.get_json(&key, PATH).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body,
        json!({
            "version": 0,
            "updatedAt": null,
            "callingHours": {"start": "08:00", "end": "21:00"},
            "voiceRetry": {"maxRetries": 2, "intervalMinutes": 15, "retryOn": ["busy", "no_answer"]},
            "voice": {"callbackNumber": null, "templates": []}
        })
    );
    let (status, _) = app.get_json("attk_not-a-key", PATH).await;
    assert_eq!(status, 401);
    app.stop().await;
}

#[tokio::test]
async fn a_save_stores_the_settings_and_publishes_them_with_a_growing_version() {
    let app = TestApp::spawn().await;
    let (tenant_id, key) = app.create_tenant("Clinic").await;
    let (other_tenant, other_key) = app.create_tenant("Salon").await;
    let mut observer = Observer::bind(&app.env, &["tenant.settings_changed"]).await;

    let (status, saved) = app.put_json(&key, PATH, &example()).await;
    assert_eq!(status, 200, "{saved}");
    assert_eq!(saved["version"], 1);
    assert_eq!(saved["voice"], example()["voice"]);
    let (kind, payload) = observer.next(Duration::from_secs(10)).await;
    assert_eq!(kind, v1::TenantSettingsChanged::TYPE);
    let event: v1::TenantSettingsChanged = decode(&payload);
    assert_eq!(
        event,
        v1::TenantSettingsChanged {
            tenant_id: tenant_id.to_string(),
            version: 1,
            calling_window: Some(v1::CallingWindow {
                start_minute: 480,
                end_minute: 1260
            }),
            voice_retry: Some(v1::RetryPolicy {
                max_retries: 2,
                interval_seconds: 900,
                retry_on: vec![
                    v1::ReminderOutcomeKind::Busy.into(),
                    v1::ReminderOutcomeKind::NoAnswer.into()
                ],
            }),
            voice: Some(v1::VoiceSettings {
                callback_number: "+12015550100".to_owned(),
                templates: vec![v1::VoiceTemplate {
                    name: "greeting".to_owned(),
                    language: "de".to_owned(),
                    text: "Hallo {name}, hier ist {business}.".to_owned(),
                }],
            }),
            changed_at: event.changed_at,
            sms: event.sms.clone(),
        }
    );
    assert!(event.changed_at.is_some());

    // A second save replaces everything (absent sections take their defaults) and bumps the
    // version; a national callback number takes the tenant's region.
    let second = json!({
        "callingHours": {"start": "09:30", "end": "24:00"},
        "voiceRetry": {"maxRetries": 0, "intervalMinutes": 1440, "retryOn": []},
        "voice": {"callbackNumber": "(201) 555-0199"}
    });
    let (status, saved) = app.put_json(&key, PATH, &second).await;
    assert_eq!(status, 200, "{saved}");
    assert_eq!(saved["version"], 2);
    assert_eq!(saved["voice"]["callbackNumber"], "+12015550199");
    assert_eq!(saved["voice"]["templates"], json!([]));
    let (_, payload) = observer.next(Duration::from_secs(10)).await;
    let event: v1::TenantSettingsChanged = decode(&payload);
    assert_eq!(event.version, 2);
    assert_eq!(
        event.calling_window,
        Some(v1::CallingWindow {
            start_minute: 570,
            end_minute: 1440
        })
    );
    assert_eq!(
        event.voice_retry.map(|retry| retry.interval_seconds),
        Some(86_400)
    );

    let (status, read) = app.get_json(&key, PATH).await;
    assert_eq!(status, 200);
    assert_eq!(read, saved);
    // Scoped by the key: the other tenant still has the defaults.
    let (_, other) = app.get_json(&other_key, PATH).await;
    assert_eq!(other["version"], 0, "{other_tenant}");

    let (status, empty) = app.put_json(&other_key, PATH, &json!({})).await;
    assert_eq!(status, 200, "{empty}");
    assert_eq!(empty["version"], 1);
    assert_eq!(
        empty["callingHours"],
        json!({"start": "08:00", "end": "21:00"})
    );
    app.stop().await;
}

#[tokio::test]
async fn every_invalid_field_is_named_and_nothing_is_saved() {
    let app = TestApp::spawn().await;
    let (_, key) = app.create_tenant("Clinic").await;
    let mut observer = Observer::bind(&app.env, &["tenant.settings_changed"]).await;
    let with = |pointer: &str, value: Value| {
        let mut body = example();
        *body.pointer_mut(pointer).unwrap() = value;
        body
    };
    let template = |name: &str, language: &str, text: &str| json!({"name": name, "language": language, "text": text});
    let cases: Vec<(Value, &str)> = vec![
        (
            with("/callingHours/start", json!("8am")),
            "callingHours.start",
        ),
        (
            with("/callingHours/start", json!("24:00")),
            "callingHours.start",
        ),
        (
            with("/callingHours/end", json!("21:60")),
            "callingHours.end",
        ),
        (
            with("/callingHours/end", json!("07:59")),
            "callingHours.end",
        ),
        (with("/callingHours/end", json!(21)), "callingHours.end"),
        (
            with("/voiceRetry/maxRetries", json!(6)),
            "voiceRetry.maxRetries",
        ),
        (
            with("/voiceRetry/maxRetries", json!(-1)),
            "voiceRetry.maxRetries",
        ),
        (
            with("/voiceRetry/intervalMinutes", json!(0)),
            "voiceRetry.intervalMinutes",
        ),
        (
            with("/voiceRetry/intervalMinutes", json!(1441)),
            "voiceRetry.intervalMinutes",
        ),
        (
            with("/voiceRetry/retryOn", json!(["busy", "confirmed"])),
            "voiceRetry.retryOn[1]",
        ),
        (
            with("/voiceRetry/retryOn", json!(["busy", "busy"])),
            "voiceRetry.retryOn[1]",
        ),
        (
            with("/voice/callbackNumber", json!("12345")),
            "voice.callbackNumber",
        ),
        (
            with("/voice/callbackNumber", json!("")),
            "voice.callbackNumber",
        ),
        (
            with(
                "/voice/templates",
                json!([template("goodbye", "en", "Bye")]),
            ),
            "voice.templates[0].name",
        ),
        (
            with(
                "/voice/templates",
                json!([template("menu", "EN", "Press 1")]),
            ),
            "voice.templates[0].language",
        ),
        (
            with(
                "/voice/templates",
                json!([template("menu", "english", "Press 1")]),
            ),
            "voice.templates[0].language",
        ),
        (
            with(
                "/voice/templates",
                json!([
                    template("menu", "en", "Press 1"),
                    template("greeting", "en", "Hi {firstname}")
                ]),
            ),
            "voice.templates[1].text",
        ),
        (
            with("/voice/templates", json!([template("menu", "en", "   ")])),
            "voice.templates[0].text",
        ),
        (
            with(
                "/voice/templates",
                json!([template("menu", "en", &"a".repeat(1001))]),
            ),
            "voice.templates[0].text",
        ),
        (
            with(
                "/voice/templates",
                json!([
                    template("menu", "fr", "Tapez 1"),
                    template("menu", "fr", "Tapez 2")
                ]),
            ),
            "voice.templates[1]",
        ),
        (
            with(
                "/voice/templates",
                json!([{"name": "menu", "language": "en", "text": "Press 1", "tone": "warm"}]),
            ),
            "voice.templates[0]",
        ),
    ];
    for (body, field) in cases {
        let response = app
            .client
            .put(format!("{}{PATH}", app.address))
            .bearer_auth(&key)
            .json(&body)
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        let content_type = response.headers()["content-type"]
            .to_str()
            .unwrap()
            .to_owned();
        let problem: Value = response.json().await.unwrap();
        assert!((400..500).contains(&status), "{field}: {status} {problem}");
        assert_eq!(content_type, "application/problem+json", "{field}");
        assert!(
            problem_fields(&problem)
                .iter()
                .any(|named| named.starts_with(field)),
            "{field} not named in {problem}"
        );
    }
    let (_, read) = app.get_json(&key, PATH).await;
    assert_eq!(read["version"], 0);
    assert!(
        observer
            .try_next(Duration::from_millis(500))
            .await
            .is_none(),
        "a rejected save publishes nothing"
    );
    app.stop().await;
}
