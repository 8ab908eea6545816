//! Whole calls through the carrier sim: the reminder comes in, the sim acts out the callee,
//! and exactly the right outcome goes out.

use attend_events::v1::{Channel, ReminderOutcomeKind};
use serde_json::json;
use uuid::Uuid;

use crate::helpers::{TestApp, number_ending, reminder_for};

fn spoken(call: &serde_json::Value) -> Vec<String> {
    call["spoken"]
        .as_array()
        .map(|spoken| {
            spoken
                .iter()
                .filter_map(|speak| speak["text"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test]
async fn a_callee_who_presses_1_confirms_the_appointment() -> anyhow::Result<()> {
    let app = TestApp::spawn().await?;
    let to = number_ending('1');
    let reminder = reminder_for(&to);

    app.publish_reminder(&reminder, Uuid::now_v7()).await?;

    let outcome = app.next_outcome(&reminder).await?;
    assert_eq!(outcome.outcome(), ReminderOutcomeKind::Confirmed);
    assert_eq!(outcome.channel(), Channel::Voice);
    assert_eq!(outcome.appointment_id, reminder.appointment_id);
    assert_eq!(outcome.tenant_id, reminder.tenant_id);
    assert!(outcome.occurred_at.is_some());

    let calls = app.finished_sim_calls_to(&to).await?;
    assert_eq!(calls.len(), 1);
    let call = &calls[0];
    assert_eq!(
        outcome.provider_ref,
        call["call_uuid"].as_str().unwrap_or_default()
    );
    assert_eq!(call["from"], "+15550100000");

    let attempt = app.wait_for_status(&reminder, "completed").await?;
    assert_eq!(attempt.outcome.as_deref(), Some("confirmed"));
    assert_eq!(
        attempt.call_uuid.as_deref(),
        Some(outcome.provider_ref.as_str())
    );
    assert_eq!(attempt.tries, 1);

    // The callee heard the menu (the name's markup characters escaped in the XML and read
    // back as text by the carrier), pressed 1, and heard the confirmation.
    let heard = spoken(call);
    assert!(
        heard[0].starts_with(
            "Hello Ada & <Bob>. This is Acme Clinic calling about your appointment on "
        ),
        "{heard:?}"
    );
    assert!(
        heard[0].ends_with(
            "Press 1 to confirm, 2 to reschedule, 3 to cancel, or 9 to hear this again."
        )
    );
    assert_eq!(
        heard.last().map(String::as_str),
        Some("Thank you, your appointment is confirmed. Goodbye.")
    );
    assert_eq!(call["gathers"][0]["digits"], "1");
    assert_eq!(call["gathers"][0]["execution_timeout"], 8);

    app.assert_no_more_outcomes().await?;
    app.stop().await
}

#[tokio::test]
async fn a_callee_who_presses_3_then_1_cancels_the_appointment() -> anyhow::Result<()> {
    let app = TestApp::spawn().await?;
    let to = number_ending('3');
    let reminder = reminder_for(&to);

    app.publish_reminder(&reminder, Uuid::now_v7()).await?;

    let outcome = app.next_outcome(&reminder).await?;
    assert_eq!(outcome.outcome(), ReminderOutcomeKind::Cancelled);
    let calls = app.finished_sim_calls_to(&to).await?;
    let gathers = calls[0]["gathers"].as_array().cloned().unwrap_or_default();
    assert_eq!(gathers.len(), 2, "{gathers:?}");
    assert!(
        gathers[0]["action"]
            .as_str()
            .unwrap_or_default()
            .ends_with("&step=menu")
    );
    assert!(
        gathers[1]["action"]
            .as_str()
            .unwrap_or_default()
            .ends_with("&step=cancel_confirm")
    );
    assert!(
        spoken(&calls[0])
            .contains(&"Press 1 to cancel your appointment, or 2 to keep it.".to_owned())
    );
    let attempt = app.wait_for_status(&reminder, "completed").await?;
    assert_eq!(attempt.outcome.as_deref(), Some("cancelled"));

    app.assert_no_more_outcomes().await?;
    app.stop().await
}

#[tokio::test]
async fn a_callee_who_presses_2_asks_to_reschedule() -> anyhow::Result<()> {
    let app = TestApp::spawn().await?;
    let to = number_ending('2');
    let reminder = reminder_for(&to);

    app.publish_reminder(&reminder, Uuid::now_v7()).await?;

    let outcome = app.next_outcome(&reminder).await?;
    assert_eq!(outcome.outcome(), ReminderOutcomeKind::RescheduleRequested);
    let calls = app.finished_sim_calls_to(&to).await?;
    let heard = spoken(&calls[0]);
    assert!(
        heard
            .last()
            .is_some_and(|last| last.contains("call us at +15550100000 to choose a new time")),
        "{heard:?}"
    );
    app.assert_no_more_outcomes().await?;
    app.stop().await
}

#[tokio::test]
async fn a_callee_who_answers_but_presses_nothing_is_no_answer() -> anyhow::Result<()> {
    let app = TestApp::spawn().await?;
    let to = number_ending('9');
    let reminder = reminder_for(&to);

    app.publish_reminder(&reminder, Uuid::now_v7()).await?;

    let outcome = app.next_outcome(&reminder).await?;
    assert_eq!(outcome.outcome(), ReminderOutcomeKind::NoAnswer);
    let calls = app.finished_sim_calls_to(&to).await?;
    assert_eq!(
        outcome.provider_ref,
        calls[0]["call_uuid"].as_str().unwrap_or_default()
    );
    // The carrier fell through the Gather to the goodbye with the callback number.
    let heard = spoken(&calls[0]);
    assert_eq!(
        heard.last().map(String::as_str),
        Some("We did not receive your answer. Please call us at +15550100000. Goodbye.")
    );
    let attempt = app.wait_for_status(&reminder, "completed").await?;
    assert_eq!(attempt.outcome.as_deref(), Some("no_answer"));

    app.assert_no_more_outcomes().await?;
    app.stop().await
}

#[tokio::test]
async fn a_callee_who_never_answers_is_no_answer() -> anyhow::Result<()> {
    let app = TestApp::spawn().await?;
    let to = number_ending('0');
    let reminder = reminder_for(&to);

    app.publish_reminder(&reminder, Uuid::now_v7()).await?;

    let outcome = app.next_outcome(&reminder).await?;
    assert_eq!(outcome.outcome(), ReminderOutcomeKind::NoAnswer);
    assert!(outcome.detail.contains("no-answer"), "{}", outcome.detail);
    let calls = app.finished_sim_calls_to(&to).await?;
    assert_eq!(calls[0]["status"], "no-answer");
    let attempt = app.wait_for_status(&reminder, "completed").await?;
    assert_eq!(attempt.outcome.as_deref(), Some("no_answer"));

    app.assert_no_more_outcomes().await?;
    app.stop().await
}

#[tokio::test]
async fn nine_replays_the_menu_and_an_empty_input_ends_the_call() -> anyhow::Result<()> {
    let app = TestApp::spawn().await?;
    let to = number_ending('7');
    // 9, then 9 again, then nothing, posted as an empty Digits (the other no-input mode).
    app.script_callee(
        &to,
        json!({ "digits": ["9", "9", ""], "no_input": "post_empty" }),
    )
    .await?;
    let reminder = reminder_for(&to);

    app.publish_reminder(&reminder, Uuid::now_v7()).await?;

    let outcome = app.next_outcome(&reminder).await?;
    assert_eq!(outcome.outcome(), ReminderOutcomeKind::NoAnswer);
    let calls = app.finished_sim_calls_to(&to).await?;
    let gathers = calls[0]["gathers"].as_array().cloned().unwrap_or_default();
    assert_eq!(gathers.len(), 3, "{gathers:?}");
    let menus = spoken(&calls[0])
        .iter()
        .filter(|text| text.starts_with("Hello Ada"))
        .count();
    assert_eq!(menus, 3);

    app.assert_no_more_outcomes().await?;
    app.stop().await
}

#[tokio::test]
async fn an_invalid_key_is_announced_and_the_menu_plays_again() -> anyhow::Result<()> {
    let app = TestApp::spawn().await?;
    let to = number_ending('8');
    app.script_callee(&to, json!({ "digits": ["7", "1"] }))
        .await?;
    let reminder = reminder_for(&to);

    app.publish_reminder(&reminder, Uuid::now_v7()).await?;

    let outcome = app.next_outcome(&reminder).await?;
    assert_eq!(outcome.outcome(), ReminderOutcomeKind::Confirmed);
    let calls = app.finished_sim_calls_to(&to).await?;
    assert!(spoken(&calls[0]).contains(&"Sorry, that is not a valid choice.".to_owned()));

    app.assert_no_more_outcomes().await?;
    app.stop().await
}
