//! The webhooks trust only signed, fresh requests, and a settled outcome never changes.

use attend_events::v1::ReminderOutcomeKind;
use chrono::Utc;
use diesel_async::AsyncConnection;
use uuid::Uuid;
use voice_gateway::attempts::{self, NewCallAttempt};

use crate::helpers::{AUTH_TOKEN, AttemptView, TestApp, fresh_nonce, number_ending, reminder_for};

/// Records an attempt as if the dialer had placed its call, so webhooks can be sent by hand.
async fn placed_attempt(app: &TestApp) -> anyhow::Result<(Uuid, Uuid)> {
    let reminder_id = Uuid::now_v7();
    let attempt = NewCallAttempt {
        id: Uuid::now_v7(),
        reminder_id: Some(reminder_id),
        appointment_id: Some(Uuid::now_v7()),
        tenant_id: Uuid::now_v7(),
        to_number: number_ending('1'),
        recipient_name: "Ada".to_owned(),
        locale: String::new(),
        time_zone: "Europe/Berlin".to_owned(),
        business_name: "Acme Clinic".to_owned(),
        appointment_start: Some(Utc::now() + chrono::Duration::days(1)),
        location: String::new(),
        attempt: 1,
        spoken_when: String::new(),
        // Recorded before the workflow was chosen: the gateway falls back to the current one.
        workflow_id: None,
        status: "placed".to_owned(),
        // The watchdog's deadline, as the dialer sets it when the carrier accepts a call.
        next_attempt_at: Utc::now() + chrono::Duration::hours(4),
        traceparent: None,
    };
    let mut connection = app.db().await?;
    connection
        .transaction::<_, anyhow::Error, _>(async |connection| {
            attempts::insert(connection, &attempt).await?;
            Ok(())
        })
        .await?;
    Ok((attempt.id, reminder_id))
}

async fn load(app: &TestApp, reminder_id: Uuid) -> anyhow::Result<AttemptView> {
    let mut connection = app.db().await?;
    AttemptView::load(&mut connection, reminder_id)
        .await?
        .ok_or_else(|| anyhow::anyhow!("no attempt"))
}

#[tokio::test]
async fn unsigned_forged_and_replayed_webhooks_are_refused_and_change_nothing() -> anyhow::Result<()>
{
    let app = TestApp::spawn().await?;
    let (attempt_id, reminder_id) = placed_attempt(&app).await?;
    let before = load(&app, reminder_id).await?;
    let input = format!("/voice/input?attempt={attempt_id}&node=menu&step=1");
    let answer = format!("/voice/answer?attempt={attempt_id}");
    let confirm = [("CallUUID", "c-1"), ("Digits", "1")];

    // Unsigned.
    let response = app
        .http
        .post(format!("{}{input}", app.address))
        .form(&confirm)
        .send()
        .await?;
    assert_eq!(response.status(), 403);
    assert_eq!(
        response.headers()["content-type"],
        "application/problem+json"
    );
    let problem: serde_json::Value = response.json().await?;
    assert_eq!(problem["code"], "invalid_signature");

    // Signed with another token, or for another URL.
    let response = app
        .signed_webhook(&input, &confirm, "not-the-token", &fresh_nonce())
        .await?;
    assert_eq!(response.status(), 403);
    let nonce = fresh_nonce();
    let url = reqwest::Url::parse(&format!("{}{answer}", app.address))?;
    let for_answer = carrier_sim::signature::sign_with_nonce(AUTH_TOKEN, &url, nonce.clone());
    let mut request = app
        .http
        .post(format!("{}{input}", app.address))
        .form(&confirm);
    for (name, value) in for_answer.pairs() {
        request = request.header(name, value);
    }
    assert_eq!(request.send().await?.status(), 403);

    let after = load(&app, reminder_id).await?;
    assert_eq!(after.status, "placed");
    assert_eq!(after.outcome, None);
    assert_eq!(after.call_uuid, None);
    assert_eq!(after.updated_at, before.updated_at);

    // A valid answer, then the same nonce again (on any route) is a replay.
    let nonce = fresh_nonce();
    let response = app
        .signed_webhook(
            &answer,
            &[("CallUUID", "c-1"), ("Event", "StartApp")],
            AUTH_TOKEN,
            &nonce,
        )
        .await?;
    assert_eq!(response.status(), 200);
    assert!(
        response.headers()["content-type"]
            .to_str()?
            .starts_with("application/xml")
    );
    let menu = response.text().await?;
    assert!(menu.contains("node=menu&amp;step=1"), "{menu}");
    assert!(menu.contains("language=\"en-US\""), "{menu}");
    let answered = load(&app, reminder_id).await?;
    assert_eq!(answered.status, "in_progress");
    assert_eq!(answered.call_uuid.as_deref(), Some("c-1"));

    let replayed = app
        .signed_webhook(&answer, &[("CallUUID", "c-1")], AUTH_TOKEN, &nonce)
        .await?;
    assert_eq!(replayed.status(), 403);
    let replayed = app
        .signed_webhook(&input, &confirm, AUTH_TOKEN, &nonce)
        .await?;
    assert_eq!(replayed.status(), 403);
    let after_replay = load(&app, reminder_id).await?;
    assert_eq!(after_replay.outcome, None);
    assert_eq!(after_replay.updated_at, answered.updated_at);
    app.assert_no_more_outcomes().await?;

    // A fresh, signed key press settles the outcome.
    let response = app
        .signed_webhook(&input, &confirm, AUTH_TOKEN, &fresh_nonce())
        .await?;
    assert_eq!(response.status(), 200);
    assert!(
        response
            .text()
            .await?
            .contains("your appointment is confirmed")
    );
    assert_eq!(
        load(&app, reminder_id).await?.outcome.as_deref(),
        Some("confirmed")
    );
    let outcome = app.next_any_outcome().await?;
    assert_eq!(outcome.reminder_id, reminder_id.to_string());
    assert_eq!(outcome.outcome(), ReminderOutcomeKind::Confirmed);
    assert_eq!(outcome.provider_ref, "c-1");
    app.stop().await
}

#[tokio::test]
async fn webhooks_for_unknown_attempts_still_get_valid_answers() -> anyhow::Result<()> {
    let app = TestApp::spawn().await?;
    let unknown = Uuid::now_v7();

    for path in [
        format!("/voice/answer?attempt={unknown}"),
        format!("/voice/input?attempt={unknown}&step=menu"),
        "/voice/answer?attempt=not-a-uuid".to_owned(),
    ] {
        let response = app
            .signed_webhook(
                &path,
                &[("CallUUID", "c-9"), ("Digits", "1")],
                AUTH_TOKEN,
                &fresh_nonce(),
            )
            .await?;
        assert_eq!(response.status(), 200, "{path}");
        let body = response.text().await?;
        assert!(
            body.contains("<Speak") && body.ends_with("<Hangup/></Response>"),
            "{path}: {body}"
        );
    }
    let response = app
        .signed_webhook(
            &format!("/voice/hangup?attempt={unknown}"),
            &[("CallStatus", "completed")],
            AUTH_TOKEN,
            &fresh_nonce(),
        )
        .await?;
    assert_eq!(response.status(), 200);
    assert_eq!(response.text().await?, "OK");
    app.stop().await
}

#[tokio::test]
async fn a_late_duplicate_hangup_after_a_confirmation_emits_nothing() -> anyhow::Result<()> {
    let app = TestApp::spawn().await?;
    let to = number_ending('1');
    let reminder = reminder_for(&to);
    app.publish_reminder(&reminder, Uuid::now_v7()).await?;
    let outcome = app.next_outcome(&reminder).await?;
    assert_eq!(outcome.outcome(), ReminderOutcomeKind::Confirmed);
    app.finished_sim_calls_to(&to).await?;
    let settled = app.wait_for_status(&reminder, "completed").await?;
    app.assert_no_more_outcomes().await?;

    // The carrier sends the hangup again, late and different, then a stray key press.
    let hangup = format!("/voice/hangup?attempt={}", settled.id);
    let late = [
        ("CallUUID", outcome.provider_ref.as_str()),
        ("CallStatus", "no-answer"),
        ("HangupCause", "NO_ANSWER"),
        ("Event", "Hangup"),
    ];
    let response = app
        .signed_webhook(&hangup, &late, AUTH_TOKEN, &fresh_nonce())
        .await?;
    assert_eq!(response.status(), 200);
    assert_eq!(response.text().await?, "OK");
    let input = format!("/voice/input?attempt={}&step=menu", settled.id);
    let response = app
        .signed_webhook(&input, &[("Digits", "3")], AUTH_TOKEN, &fresh_nonce())
        .await?;
    assert_eq!(response.status(), 200);
    assert!(response.text().await?.contains("Thank you. Goodbye."));

    let after = app.attempt_of(&reminder).await?;
    assert_eq!(after.outcome.as_deref(), Some("confirmed"));
    assert_eq!(after.status, "completed");
    assert_eq!(after.updated_at, settled.updated_at);
    app.assert_no_more_outcomes().await?;
    app.stop().await
}

#[tokio::test]
async fn a_nonce_is_refused_within_the_replay_window_and_taken_over_after_it() -> anyhow::Result<()>
{
    let app = TestApp::spawn().await?;
    let mut connection = app.db().await?;
    let window = std::time::Duration::from_secs(300);
    let nonce = fresh_nonce();

    assert!(attempts::record_nonce(&connection, &nonce, window).await?);
    assert!(!attempts::record_nonce(&connection, &nonce, window).await?);

    // Seen before the window: a carrier may reuse it, and it is recorded afresh.
    {
        use diesel::prelude::*;
        use diesel_async::RunQueryDsl;
        use voice_gateway::db::schema::webhook_nonces;
        diesel::update(webhook_nonces::table.find(&nonce))
            .set(webhook_nonces::seen_at.eq(Utc::now() - chrono::Duration::seconds(301)))
            .execute(&mut connection)
            .await?;
    }
    assert!(attempts::record_nonce(&connection, &nonce, window).await?);
    assert!(!attempts::record_nonce(&connection, &nonce, window).await?);
    drop(connection);
    app.stop().await
}

#[tokio::test]
async fn the_carriers_late_make_call_answer_keeps_what_a_webhook_recorded() -> anyhow::Result<()> {
    let app = TestApp::spawn().await?;
    let (attempt_id, reminder_id) = placed_attempt(&app).await?;
    let mut connection = app.db().await?;
    let watchdog = Utc::now() + chrono::Duration::hours(1);
    let set_status = async |connection: &mut diesel_async::AsyncPgConnection, status: &str| {
        use diesel::prelude::*;
        use diesel_async::RunQueryDsl;
        use voice_gateway::db::schema::call_attempts;
        diesel::update(call_attempts::table.find(attempt_id))
            .set(call_attempts::status.eq(status))
            .execute(connection)
            .await
    };

    // Still placing: the answer makes it placed, with the carrier's id.
    set_status(&mut connection, "placing").await?;
    assert!(attempts::record_placed(&mut connection, attempt_id, Some("c-1"), watchdog).await?);
    let placed = load(&app, reminder_id).await?;
    assert_eq!(placed.status, "placed");
    assert_eq!(placed.call_uuid.as_deref(), Some("c-1"));

    // A webhook moved it on first: its state and the first id stay.
    set_status(&mut connection, "in_progress").await?;
    assert!(attempts::record_placed(&mut connection, attempt_id, Some("c-2"), watchdog).await?);
    let after = load(&app, reminder_id).await?;
    assert_eq!(after.status, "in_progress");
    assert_eq!(after.call_uuid.as_deref(), Some("c-1"));

    // An unknown attempt is reported as such.
    assert!(!attempts::record_placed(&mut connection, Uuid::now_v7(), None, watchdog).await?);
    drop(connection);
    app.stop().await
}
