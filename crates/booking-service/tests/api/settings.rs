//! `/v1/settings/reminders`: defaults, validation naming each field (SMS texts linted for
//! their placeholders and segment limit), and a save publishing `tenant.settings_changed`
//! with its version through the outbox.

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
        ]},
        "sms": {"fromNumber": "+12015550111", "helpContact": "help@clinic.example", "maxSegments": 2, "templates": [
            {"name": "reminder", "language": "fr", "text": "[{business}]\nRendez-vous le {datetime}{at_location}. Répondez OUI pour confirmer ou NON pour annuler."},
            {"name": "help", "language": "en", "text": "[{business}] Reminders. Reply {stop_keyword} to opt out. Help: {contact}"}
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
            "voice": {"callbackNumber": null, "templates": []},
            "sms": {"fromNumber": null, "helpContact": null, "maxSegments": 3, "templates": [], "warnings": []}
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
    assert_eq!(saved["sms"]["fromNumber"], "+12015550111");
    assert_eq!(saved["sms"]["helpContact"], "help@clinic.example");
    assert_eq!(saved["sms"]["maxSegments"], 2);
    assert_eq!(saved["sms"]["templates"], example()["sms"]["templates"]);
    // French Augusts ("août") leave GSM-7: saved, with a warning naming the text.
    assert_eq!(
        saved["sms"]["warnings"][0]["field"],
        "sms.templates[0].text"
    );
    assert_eq!(saved["sms"]["warnings"].as_array().map(Vec::len), Some(1));
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
            sms: Some(v1::SmsSettings {
                templates: vec![
                    v1::SmsTemplate {
                        name: "reminder".to_owned(),
                        language: "fr".to_owned(),
                        text: "[{business}]\nRendez-vous le {datetime}{at_location}. Répondez OUI pour confirmer ou NON pour annuler.".to_owned(),
                    },
                    v1::SmsTemplate {
                        name: "help".to_owned(),
                        language: "en".to_owned(),
                        text: "[{business}] Reminders. Reply {stop_keyword} to opt out. Help: {contact}".to_owned(),
                    },
                ],
                max_segments: 2,
                from_number: "+12015550111".to_owned(),
                help_contact: "help@clinic.example".to_owned(),
            }),
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
    // No sms section: the SMS defaults, published as such.
    assert_eq!(
        saved["sms"],
        json!({"fromNumber": null, "helpContact": null, "maxSegments": 3, "templates": [], "warnings": []})
    );
    assert_eq!(
        event.sms,
        Some(v1::SmsSettings {
            templates: vec![],
            max_segments: 3,
            from_number: String::new(),
            help_contact: String::new(),
        })
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
        (with("/sms/fromNumber", json!("12345")), "sms.fromNumber"),
        (with("/sms/fromNumber", json!("")), "sms.fromNumber"),
        (
            with("/sms/fromNumber", json!(12015550111_u64)),
            "sms.fromNumber",
        ),
        (with("/sms/helpContact", json!(" ")), "sms.helpContact"),
        (
            with("/sms/helpContact", json!("x".repeat(65))),
            "sms.helpContact",
        ),
        (
            with("/sms/helpContact", json!("line\nbreak")),
            "sms.helpContact",
        ),
        (with("/sms/maxSegments", json!(0)), "sms.maxSegments"),
        (with("/sms/maxSegments", json!(11)), "sms.maxSegments"),
        (with("/sms/maxSegments", json!(-1)), "sms.maxSegments"),
        (with("/sms/maxSegments", json!("3")), "sms.maxSegments"),
        (
            with("/sms/templates", json!([template("goodbye", "en", "Bye")])),
            "sms.templates[0].name",
        ),
        (
            with("/sms/templates", json!([template("help", "ko", "Help")])),
            "sms.templates[0].language",
        ),
        (
            with("/sms/templates", json!([template("help", "FR", "Aide")])),
            "sms.templates[0].language",
        ),
        (
            with(
                "/sms/templates",
                json!([
                    template("help", "en", "Help: {contact}"),
                    template("no_pending", "en", "Nothing for {name}")
                ]),
            ),
            "sms.templates[1].text",
        ),
        (
            with(
                "/sms/templates",
                json!([template("reminder", "en", "On {datetime")]),
            ),
            "sms.templates[0].text",
        ),
        (
            with("/sms/templates", json!([template("help", "en", " \n ")])),
            "sms.templates[0].text",
        ),
        (
            with(
                "/sms/templates",
                json!([template("help", "en", &"a".repeat(1001))]),
            ),
            "sms.templates[0].text",
        ),
        (
            with(
                "/sms/templates",
                json!([
                    template("help", "de", "Hilfe"),
                    template("help", "de", "Hilfe!")
                ]),
            ),
            "sms.templates[1]",
        ),
        (
            with(
                "/sms/templates",
                json!([{"name": "help", "language": "en", "text": "Help", "encoding": "ucs2"}]),
            ),
            "sms.templates[0]",
        ),
        (with("/sms", json!({"sender": "+12015550111"})), "sms"),
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

#[tokio::test]
async fn an_sms_text_past_the_segment_limit_is_refused_with_the_reason() {
    let app = TestApp::spawn().await;
    let (_, key) = app.create_tenant("Clinic").await;
    let mut observer = Observer::bind(&app.env, &["tenant.settings_changed"]).await;
    // 40-character business, 2 brackets counted twice, a space and 280 letters: 325 septets.
    let text = format!("[{{business}}] {}", "a".repeat(280));
    let body = json!({"sms": {"maxSegments": 2, "templates": [
        {"name": "confirmed", "language": "en", "text": text}
    ]}});
    let (status, problem) = app.put_json(&key, PATH, &body).await;
    assert_eq!(status, 422, "{problem}");
    assert_eq!(
        problem["errors"],
        json!([{
            "field": "sms.templates[0].text",
            "message": "renders to 3 GSM-7 segments (323 characters) with the longest values; the limit is 2"
        }])
    );

    // A character outside GSM-7 in the text itself makes it UCS-2, and the reason says so.
    let text = format!("[{{business}}] Olá {}", "a".repeat(160));
    let body = json!({"sms": {"templates": [{"name": "help", "language": "pt", "text": text}]}});
    let (status, problem) = app.put_json(&key, PATH, &body).await;
    assert_eq!(status, 422, "{problem}");
    assert_eq!(problem["errors"][0]["field"], "sms.templates[0].text");
    assert_eq!(
        problem["errors"][0]["message"],
        "renders to 4 UCS-2 segments (207 characters) with the longest values; the limit is 3; 'á' at character 16 is outside GSM-7, so the message is sent as UCS-2"
    );

    // The same text fits a higher limit and is saved with a warning.
    let body = json!({"sms": {"maxSegments": 4, "templates": [
        {"name": "help", "language": "pt", "text": text}
    ]}});
    let (status, saved) = app.put_json(&key, PATH, &body).await;
    assert_eq!(status, 200, "{saved}");
    assert_eq!(saved["sms"]["maxSegments"], 4);
    assert_eq!(
        saved["sms"]["warnings"][0]["field"],
        "sms.templates[0].text"
    );
    let (_, payload) = observer.next(Duration::from_secs(10)).await;
    let event: v1::TenantSettingsChanged = decode(&payload);
    assert_eq!(event.version, 1, "the refused saves published nothing");
    assert_eq!(event.sms.map(|sms| sms.max_segments), Some(4));
    app.stop().await;
}
